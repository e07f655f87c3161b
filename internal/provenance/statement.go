package provenance

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/dirhash"
)

// Type URIs and media types of the formats this package speaks.
const (
	// StatementType is the in-toto Statement v1 _type.
	StatementType = "https://in-toto.io/Statement/v1"
	// SLSAProvenanceV1 is the SLSA Provenance v1 predicateType.
	SLSAProvenanceV1 = "https://slsa.dev/provenance/v1"
	// PayloadType is the DSSE payloadType of in-toto statements.
	PayloadType = "application/vnd.in-toto+json"
	// TrainingBuildType is the SLSA buildType of silo model certificates:
	// the build is a training (or fine-tuning, quantization) run.
	TrainingBuildType = "https://silo.dev/model-training/v1"
)

// Digest algorithm names (in-toto DigestSet keys).
const (
	DigestSHA256    = "sha256"
	DigestDirHash1  = "dirHash1"
	DigestGitCommit = "gitCommit"
)

// maxStatementLen bounds a statement (and an envelope's payload).
const maxStatementLen = 16 << 20

// ResourceDescriptor is an in-toto ResourceDescriptor v1.
type ResourceDescriptor struct {
	Name             string            `json:"name,omitempty"`
	URI              string            `json:"uri,omitempty"`
	Digest           map[string]string `json:"digest,omitempty"`
	Content          []byte            `json:"content,omitempty"`
	DownloadLocation string            `json:"downloadLocation,omitempty"`
	MediaType        string            `json:"mediaType,omitempty"`
	Annotations      map[string]any    `json:"annotations,omitempty"`
}

// Statement is an in-toto Statement v1. Predicate is kept as raw JSON so a
// statement re-serializes the fields it does not know; use Provenance to
// decode a SLSA Provenance v1 predicate.
type Statement struct {
	Type          string               `json:"_type"`
	Subject       []ResourceDescriptor `json:"subject"`
	PredicateType string               `json:"predicateType"`
	Predicate     json.RawMessage      `json:"predicate,omitempty"`
}

// Provenance is a SLSA Provenance v1 predicate.
type Provenance struct {
	BuildDefinition BuildDefinition `json:"buildDefinition"`
	RunDetails      RunDetails      `json:"runDetails"`
}

// BuildDefinition is the SLSA buildDefinition.
type BuildDefinition struct {
	BuildType            string               `json:"buildType"`
	ExternalParameters   map[string]any       `json:"externalParameters"`
	InternalParameters   map[string]any       `json:"internalParameters,omitempty"`
	ResolvedDependencies []ResourceDescriptor `json:"resolvedDependencies,omitempty"`
}

// RunDetails is the SLSA runDetails.
type RunDetails struct {
	Builder    Builder              `json:"builder"`
	Metadata   *BuildMetadata       `json:"metadata,omitempty"`
	Byproducts []ResourceDescriptor `json:"byproducts,omitempty"`
}

// Builder is the SLSA builder.
type Builder struct {
	ID                  string               `json:"id"`
	Version             map[string]string    `json:"version,omitempty"`
	BuilderDependencies []ResourceDescriptor `json:"builderDependencies,omitempty"`
}

// BuildMetadata is the SLSA runDetails.metadata.
type BuildMetadata struct {
	InvocationID string     `json:"invocationId,omitempty"`
	StartedOn    *time.Time `json:"startedOn,omitempty"`
	FinishedOn   *time.Time `json:"finishedOn,omitempty"`
}

// Provenance decodes the statement's predicate as SLSA Provenance v1.
func (s *Statement) Provenance() (*Provenance, error) {
	if s.PredicateType != SLSAProvenanceV1 {
		return nil, fmt.Errorf("provenance: predicate type %q is not SLSA Provenance v1: %w", s.PredicateType, ErrMalformed)
	}
	var p Provenance
	if err := json.Unmarshal(s.Predicate, &p); err != nil {
		return nil, fmt.Errorf("provenance: decode predicate: %w: %w", ErrMalformed, err)
	}
	return &p, nil
}

// ParseStatement parses and validates an in-toto Statement v1: the _type,
// at least one subject, each with a digest set of lowercase hex values, a
// predicateType, and (for SLSA Provenance v1) a well-formed predicate with a
// buildType and builder id. Unknown fields are ignored, as the in-toto
// parsing rules require; duplicate object keys are refused, since two
// parsers could otherwise read different values.
func ParseStatement(b []byte) (*Statement, error) {
	if len(b) > maxStatementLen {
		return nil, fmt.Errorf("provenance: parse statement: %w: too long", ErrMalformed)
	}
	if err := checkNoDuplicateKeys(b); err != nil {
		return nil, fmt.Errorf("provenance: parse statement: %w: %w", ErrMalformed, err)
	}
	var s Statement
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("provenance: parse statement: %w: %w", ErrMalformed, err)
	}
	if s.Type != StatementType {
		return nil, fmt.Errorf("provenance: parse statement: %w: _type %q", ErrMalformed, s.Type)
	}
	if len(s.Subject) == 0 {
		return nil, fmt.Errorf("provenance: parse statement: %w: no subject", ErrMalformed)
	}
	for i, sub := range s.Subject {
		if err := checkDigestSet(sub.Digest); err != nil {
			return nil, fmt.Errorf("provenance: parse statement: subject %d: %w", i, err)
		}
	}
	if s.PredicateType == "" {
		return nil, fmt.Errorf("provenance: parse statement: %w: no predicateType", ErrMalformed)
	}
	if s.PredicateType == SLSAProvenanceV1 {
		p, err := s.Provenance()
		if err != nil {
			return nil, err
		}
		if p.BuildDefinition.BuildType == "" || p.RunDetails.Builder.ID == "" {
			return nil, fmt.Errorf("provenance: parse statement: %w: buildType and builder id are required", ErrMalformed)
		}
		for i, d := range p.BuildDefinition.ResolvedDependencies {
			if len(d.Digest) > 0 {
				if err := checkDigestSet(d.Digest); err != nil {
					return nil, fmt.Errorf("provenance: parse statement: dependency %d: %w", i, err)
				}
			}
		}
	}
	return &s, nil
}

func checkDigestSet(d map[string]string) error {
	if len(d) == 0 {
		return fmt.Errorf("%w: empty digest set", ErrMalformed)
	}
	for alg, v := range d {
		if alg == "" || v == "" || strings.ToLower(v) != v {
			return fmt.Errorf("%w: bad digest %q: %q", ErrMalformed, alg, v)
		}
		if alg == DigestSHA256 || alg == DigestDirHash1 {
			if b, err := hex.DecodeString(v); err != nil || len(b) != sha256.Size {
				return fmt.Errorf("%w: bad %s digest %q", ErrMalformed, alg, v)
			}
		}
	}
	return nil
}

// checkNoDuplicateKeys walks a JSON document and fails on an object with a
// repeated key (encoding/json silently keeps the last one).
func checkNoDuplicateKeys(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var walk func(depth int) error
	walk = func(depth int) error {
		if depth > 64 {
			return fmt.Errorf("nested too deeply")
		}
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		d, ok := tok.(json.Delim)
		if !ok {
			return nil
		}
		switch d {
		case '{':
			seen := map[string]bool{}
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return err
				}
				key, _ := k.(string)
				if seen[key] {
					return fmt.Errorf("duplicate key %q", key)
				}
				seen[key] = true
				if err := walk(depth + 1); err != nil {
					return err
				}
			}
		case '[':
			for dec.More() {
				if err := walk(depth + 1); err != nil {
					return err
				}
			}
		}
		_, err = dec.Token() // closing delimiter
		return err
	}
	if err := walk(0); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("data after the top-level value")
	}
	return nil
}

// Dependency is an input of a training run: a dataset, a base model or the
// training code.
type Dependency struct {
	Name   string            // e.g. "dataset:wiki-2024", "base-model", "training-code"
	URI    string            // e.g. "https://...", "hf://org/repo", "git+https://host/repo@refs/heads/main"
	Digest map[string]string // e.g. {"sha256": ...}, {"dirHash1": ...}, {"gitCommit": ...}
}

// ModelInfo describes a training run for NewModelStatement.
type ModelInfo struct {
	// Files are the weight files: subject name -> lowercase hex SHA-256.
	Files        map[string]string
	Datasets     []Dependency
	BaseModel    *Dependency
	TrainingCode *Dependency
	// Config is the training configuration (externalParameters.config).
	Config map[string]any
	// BuilderID identifies who or what ran the training.
	BuilderID string
	// Environment holds measurements of the training environment (runDetails
	// builder version entries, e.g. "tpm.pcr7" -> hex).
	Environment  map[string]string
	InvocationID string
	StartedOn    time.Time
	FinishedOn   time.Time
}

// NewModelStatement builds an in-toto Statement v1 with a SLSA Provenance v1
// predicate for a model: subjects are the weight files by sha256 (sorted by
// name), resolvedDependencies the datasets, base model and training code,
// externalParameters.config the training configuration, and runDetails the
// builder and its environment measurements.
func NewModelStatement(m ModelInfo) (*Statement, error) {
	if len(m.Files) == 0 {
		return nil, fmt.Errorf("provenance: new statement: no weight files")
	}
	if m.BuilderID == "" {
		return nil, fmt.Errorf("provenance: new statement: no builder id")
	}
	s := &Statement{Type: StatementType, PredicateType: SLSAProvenanceV1}
	names := make([]string, 0, len(m.Files))
	for n := range m.Files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		s.Subject = append(s.Subject, ResourceDescriptor{Name: n, Digest: map[string]string{DigestSHA256: m.Files[n]}})
	}
	var deps []ResourceDescriptor
	add := func(d Dependency) {
		deps = append(deps, ResourceDescriptor{Name: d.Name, URI: d.URI, Digest: d.Digest})
	}
	for _, d := range m.Datasets {
		add(d)
	}
	if m.BaseModel != nil {
		add(*m.BaseModel)
	}
	if m.TrainingCode != nil {
		add(*m.TrainingCode)
	}
	ext := map[string]any{}
	if m.Config != nil {
		ext["config"] = m.Config
	}
	p := Provenance{
		BuildDefinition: BuildDefinition{BuildType: TrainingBuildType, ExternalParameters: ext, ResolvedDependencies: deps},
		RunDetails:      RunDetails{Builder: Builder{ID: m.BuilderID, Version: m.Environment}},
	}
	if m.InvocationID != "" || !m.StartedOn.IsZero() || !m.FinishedOn.IsZero() {
		md := &BuildMetadata{InvocationID: m.InvocationID}
		if !m.StartedOn.IsZero() {
			t := m.StartedOn.UTC()
			md.StartedOn = &t
		}
		if !m.FinishedOn.IsZero() {
			t := m.FinishedOn.UTC()
			md.FinishedOn = &t
		}
		p.RunDetails.Metadata = md
	}
	raw, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("provenance: new statement: %w", err)
	}
	s.Predicate = raw
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("provenance: new statement: %w", err)
	}
	if _, err := ParseStatement(b); err != nil {
		return nil, fmt.Errorf("provenance: new statement: %w", err)
	}
	return s, nil
}

// FileDigest returns the lowercase hex SHA-256 of a file's content.
func FileDigest(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("provenance: digest %s: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("provenance: digest %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// DirDigest returns the in-toto "dirHash1" digest of a directory tree: the
// Go module dirhash Hash1 (golang.org/x/mod/sumdb/dirhash) of its regular
// files, named by slash-separated paths relative to dir, in lowercase hex.
// Equivalently: SHA-256 of the lines "<hex sha256 of file>  <path>\n" for
// every file, sorted by path in byte order. Directories themselves, empty or
// not, contribute nothing; symbolic links and other non-regular files are
// refused, so the digest never depends on what lies outside the tree.
func DirDigest(dir string) (string, error) {
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s is not a regular file", p)
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		files = append(files, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("provenance: dir digest %s: %w", dir, err)
	}
	slices.Sort(files)
	h1, err := dirhash.Hash1(files, func(name string) (io.ReadCloser, error) {
		return os.Open(filepath.Join(dir, filepath.FromSlash(name)))
	})
	if err != nil {
		return "", fmt.Errorf("provenance: dir digest %s: %w", dir, err)
	}
	raw, err := decodeH1(h1)
	if err != nil {
		return "", fmt.Errorf("provenance: dir digest %s: %w", dir, err)
	}
	return hex.EncodeToString(raw), nil
}
