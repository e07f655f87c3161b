package models

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/silo-ai/silo/internal/engine/ggml"
	"github.com/silo-ai/silo/internal/engine/gguf"
)

// Extension is the file extension of model files; CertExtension is appended
// to a model file's name to name its certificate.
const (
	Extension     = ".gguf"
	CertExtension = ".dsse.json"
)

// Errors (wrapped) of this package.
var (
	ErrNotFound       = errors.New("model not found")
	ErrExists         = errors.New("model exists already")
	ErrInvalidName    = errors.New("invalid model name")
	ErrDigestMismatch = errors.New("digest mismatch")
	ErrNotGGUF        = errors.New("not a GGUF file")
)

// Store is the models directory.
type Store struct {
	dir     string
	digests *DigestCache
}

// Open returns the store over the models directory dir, with the digest
// cache kept in dataDir (empty: in memory).
func Open(dir, dataDir string) (*Store, error) {
	if dir == "" {
		return nil, errors.New("models: open: no models directory")
	}
	file := ""
	if dataDir != "" {
		file = filepath.Join(dataDir, DigestCacheFile)
	}
	c, err := OpenDigestCache(file)
	if err != nil {
		return nil, err
	}
	return &Store{dir: dir, digests: c}, nil
}

// Dir returns the models directory.
func (s *Store) Dir() string { return s.dir }

// Digests returns the store's digest cache.
func (s *Store) Digests() *DigestCache { return s.digests }

// ValidName reports whether name can name a model: 1 to 128 letters,
// digits and "._+-", starting with a letter or digit (so never a path, a
// hidden file or an option).
func ValidName(name string) bool {
	if name == "" || len(name) > 128 || !isAlnum(rune(name[0])) {
		return false
	}
	for _, r := range name {
		if !isAlnum(r) && !strings.ContainsRune("._+-", r) {
			return false
		}
	}
	return true
}

func isAlnum(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
}

// Path returns the file of model name.
func (s *Store) Path(name string) (string, error) {
	if !ValidName(name) {
		return "", fmt.Errorf("models: %q: %w", name, ErrInvalidName)
	}
	return filepath.Join(s.dir, name+Extension), nil
}

// CertPath returns the certificate file that belongs beside a model file.
func CertPath(modelPath string) string { return modelPath + CertExtension }

// NameOf derives a model name from a file name or URL path: its base name
// without the .gguf extension.
func NameOf(file string) string {
	base := file
	if i := strings.LastIndexAny(base, `/\`); i >= 0 {
		base = base[i+1:]
	}
	return strings.TrimSuffix(base, Extension)
}

// Model describes one model of the store.
type Model struct {
	Name    string    `json:"name"`
	Path    string    `json:"path"`
	Size    int64     `json:"size"`
	ModTime time.Time `json:"modified"`
	// Arch is general.architecture; Type the tensor type holding most of
	// the weight bytes (e.g. "Q8_0"); Params the number of weights.
	Arch   string `json:"architecture,omitempty"`
	Type   string `json:"type,omitempty"`
	Params uint64 `json:"parameters,omitempty"`
	// Certificate is the certificate file, if the model has one.
	Certificate string `json:"certificate,omitempty"`
	// Bundle is the OpenSSF Model Signing bundle (NAME.gguf.sig), if any.
	Bundle string `json:"bundle,omitempty"`
	// Err says why the file's metadata could not be read.
	Err string `json:"error,omitempty"`
}

// Info describes the file of model name (without hashing it).
func (s *Store) Info(name string) (*Model, error) {
	p, err := s.Path(name)
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("models: %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("models: stat %q: %w", name, err)
	}
	m := &Model{Name: name, Path: p, Size: fi.Size(), ModTime: fi.ModTime().UTC()}
	if _, err := os.Stat(CertPath(p)); err == nil {
		m.Certificate = CertPath(p)
	}
	if _, err := os.Stat(SigPath(p)); err == nil {
		m.Bundle = SigPath(p)
	}
	f, err := gguf.Open(p)
	if err != nil {
		m.Err = err.Error()
		return m, nil
	}
	defer f.Close()
	m.Arch, _ = f.String("general.architecture")
	bytesByType := map[ggml.Type]uint64{}
	for i := range f.Tensors {
		t := &f.Tensors[i]
		m.Params += t.Elements()
		if len(t.Dims) >= 2 {
			bytesByType[t.Type] += t.Size
		}
	}
	var best uint64
	for t, n := range bytesByType {
		if n > best || (n == best && t.String() < m.Type) {
			best, m.Type = n, t.String()
		}
	}
	return m, nil
}

// List describes every model of the store, sorted by name.
func (s *Store) List() ([]Model, error) {
	ents, err := os.ReadDir(s.dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("models: list: %w", err)
	}
	var out []Model
	for _, de := range ents {
		name, ok := strings.CutSuffix(de.Name(), Extension)
		if !ok || !ValidName(name) || de.IsDir() {
			continue
		}
		// A symbolic link to a model file is listed, as the engine serves it.
		if fi, err := os.Stat(filepath.Join(s.dir, de.Name())); err != nil || !fi.Mode().IsRegular() {
			continue
		}
		m, err := s.Info(name)
		if err != nil {
			if errors.Is(err, ErrNotFound) {
				continue // removed meanwhile
			}
			return nil, err
		}
		out = append(out, *m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Metadata returns the GGUF metadata of model name: scalars as they are,
// arrays summarised by their length (a vocabulary is tens of thousands of
// entries).
func (s *Store) Metadata(name string) (map[string]any, error) {
	p, err := s.Path(name)
	if err != nil {
		return nil, err
	}
	f, err := gguf.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("models: %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("models: metadata %q: %w", name, err)
	}
	defer f.Close()
	out := make(map[string]any, len(f.KV))
	for _, kv := range f.KV {
		v, _ := f.Value(kv.Key)
		switch v.(type) {
		case string, bool, uint8, int8, uint16, int16, uint32, int32, uint64, int64, float32, float64:
			out[kv.Key] = v
		default:
			if rv := reflect.ValueOf(v); rv.Kind() == reflect.Slice {
				out[kv.Key] = fmt.Sprintf("[%d items]", rv.Len())
			}
		}
	}
	return out, nil
}

// CachedDigest returns the SHA-256 of model name's file if silo has hashed
// the file as it is now (on import, pull, a provenance check or Digest),
// without reading it.
func (s *Store) CachedDigest(name string) (string, bool) {
	p, err := s.Path(name)
	if err != nil {
		return "", false
	}
	return s.digests.Cached(p)
}

// Digest returns the SHA-256 of model name's file (from the cache when the
// file is unchanged).
func (s *Store) Digest(name string) (string, error) {
	p, err := s.Path(name)
	if err != nil {
		return "", err
	}
	return s.digests.Digest(p)
}

// ImportOptions modifies Import.
type ImportOptions struct {
	// Name is the model name (default: the file's name without .gguf).
	Name string
	// Certificate is a certificate file to import with the model (default:
	// FILE.dsse.json if it exists).
	Certificate string
	// SHA256, when set, is the digest the file must have.
	SHA256 string
	// Force replaces an existing model of the same name.
	Force bool
}

// Import copies a GGUF file into the store, with its certificate and its
// OpenSSF Model Signing bundle (FILE.sig) when they are beside it. The copy is hashed on the way,
// checked as GGUF, synced and renamed into place.
func (s *Store) Import(ctx context.Context, file string, o ImportOptions) (*Model, error) {
	if o.Name == "" {
		o.Name = NameOf(file)
	}
	dst, err := s.Path(o.Name)
	if err != nil {
		return nil, err
	}
	if !o.Force {
		if _, err := os.Stat(dst); err == nil {
			return nil, fmt.Errorf("models: import %q: %w", o.Name, ErrExists)
		}
	}
	cert := o.Certificate
	if cert == "" {
		if _, err := os.Stat(CertPath(file)); err == nil {
			cert = CertPath(file)
		}
	}
	var certBytes, bundle []byte
	if cert != "" {
		if certBytes, err = os.ReadFile(cert); err != nil {
			return nil, fmt.Errorf("models: import %q: certificate: %w", o.Name, err)
		}
	}
	if bundle, err = os.ReadFile(SigPath(file)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("models: import %q: signing bundle: %w", o.Name, err)
	}
	src, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("models: import: %w", err)
	}
	defer src.Close()
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return nil, fmt.Errorf("models: import: %w", err)
	}
	tmp, err := os.CreateTemp(s.dir, "."+o.Name+Extension+".import-*")
	if err != nil {
		return nil, fmt.Errorf("models: import: %w", err)
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(tmp, h), ctxReader{ctx, src})
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("models: import %q: %w", o.Name, err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if err := s.install(tmp.Name(), dst, sum, o.SHA256, certBytes, bundle); err != nil {
		return nil, fmt.Errorf("models: import %q: %w", o.Name, err)
	}
	return s.Info(o.Name)
}

// install checks a complete temporary file (GGUF, digest) and renames it to
// dst, writing the certificate and the signing bundle beside it first when
// given; a replaced model's old ones are removed, never kept with another
// file.
func (s *Store) install(tmp, dst, sum, want string, cert, bundle []byte) error {
	if want != "" && !strings.EqualFold(want, sum) {
		return fmt.Errorf("%w: got sha256 %s, want %s", ErrDigestMismatch, sum, strings.ToLower(want))
	}
	f, err := gguf.Open(tmp)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNotGGUF, err)
	}
	f.Close()
	for _, c := range []struct {
		path, what string
		data       []byte
	}{{CertPath(dst), "certificate", cert}, {SigPath(dst), "signing bundle", bundle}} {
		if c.data != nil {
			if err := writeFileAtomic(c.path, c.data, 0o644); err != nil {
				return fmt.Errorf("write %s: %w", c.what, err)
			}
		} else if err := os.Remove(c.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove old %s: %w", c.what, err)
		}
	}
	if err := os.Chmod(tmp, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		return err
	}
	syncDir(filepath.Dir(dst))
	return s.digests.Record(dst, sum)
}

// syncDir makes a rename durable where the system allows it.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// Remove deletes model name, its certificate and its signing bundle.
func (s *Store) Remove(name string) error {
	p, err := s.Path(name)
	if err != nil {
		return err
	}
	if err := os.Remove(p); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("models: rm %q: %w", name, ErrNotFound)
	} else if err != nil {
		return fmt.Errorf("models: rm %q: %w", name, err)
	}
	for _, c := range []string{CertPath(p), SigPath(p)} {
		if err := os.Remove(c); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("models: rm %q: %w", name, err)
		}
	}
	return s.digests.Forget(p)
}

// ctxReader stops a copy when ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
