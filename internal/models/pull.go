package models

import (
	"context"
	"crypto/sha256"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"
	"time"
)

// ResolveURL turns a pull source into an HTTP(S) URL: hf://ORG/REPO/FILE
// (optionally hf://ORG/REPO@REVISION/FILE) becomes the Hugging Face download
// URL https://huggingface.co/ORG/REPO/resolve/REVISION/FILE (REVISION
// defaults to main); http and https URLs are returned as they are.
func ResolveURL(src string) (string, error) {
	if rest, ok := strings.CutPrefix(src, "hf://"); ok {
		parts := strings.SplitN(rest, "/", 3)
		if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
			return "", fmt.Errorf("models: %q: want hf://org/repo/file.gguf", src)
		}
		repo, rev, _ := strings.Cut(parts[1], "@")
		if rev == "" {
			rev = "main"
		}
		for _, p := range append([]string{parts[0], repo, rev}, strings.Split(parts[2], "/")...) {
			if p == "" || p == "." || p == ".." {
				return "", fmt.Errorf("models: %q: bad path element", src)
			}
		}
		u := url.URL{Scheme: "https", Host: "huggingface.co",
			Path: path.Join("/", parts[0], repo, "resolve", rev, parts[2])}
		return u.String(), nil
	}
	u, err := url.Parse(src)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("models: %q: want an http(s) URL or hf://org/repo/file.gguf", src)
	}
	return src, nil
}

// Progress reports a download.
type Progress struct {
	Done  int64 // bytes of the file held so far (resumed bytes included)
	Total int64 // file size, or -1 if the server did not say
	// Rate is the download rate of this attempt in bytes per second, and ETA
	// the time left at that rate (0 if unknown).
	Rate float64
	ETA  time.Duration
}

// PullOptions modifies Pull.
type PullOptions struct {
	// Name is the model name (default: the URL's file name without .gguf).
	Name string
	// SHA256, when set, is the digest the file must have.
	SHA256 string
	// Certificate, when set, is the certificate (DSSE envelope JSON) to
	// install beside the model.
	Certificate []byte
	// Force replaces an existing model of the same name.
	Force bool
	// Progress, when set, is called as bytes arrive (at most every
	// ProgressEvery, and once at the end).
	Progress      func(Progress)
	ProgressEvery time.Duration // default 200ms
	// Client is the HTTP client (default http.DefaultClient).
	Client *http.Client
}

// partialState is kept beside a partial download: where it came from and
// the validator the server gave, so a resume asks only for the same file.
type partialState struct {
	URL          string `json:"url"`
	ETag         string `json:"etag,omitempty"`
	LastModified string `json:"last_modified,omitempty"`
	// Hash is the SHA-256 state over the partial file's bytes.
	Hash []byte `json:"sha256_state"`
	Size int64  `json:"size"`
}

// Pull downloads src (see ResolveURL) into the store. An interrupted pull
// leaves a hidden partial file; the next Pull of the same URL and name
// resumes it with a Range request when the server confirms the file is
// unchanged, else starts over. The file is hashed while downloading and
// installed only if it is GGUF and matches SHA256 (when given).
func (s *Store) Pull(ctx context.Context, src string, o PullOptions) (*Model, error) {
	u, err := ResolveURL(src)
	if err != nil {
		return nil, err
	}
	if o.Name == "" {
		pu, _ := url.Parse(u)
		o.Name = NameOf(pu.Path)
	}
	dst, err := s.Path(o.Name)
	if err != nil {
		return nil, err
	}
	if !o.Force {
		if _, err := os.Stat(dst); err == nil {
			return nil, fmt.Errorf("models: pull %q: %w", o.Name, ErrExists)
		}
	}
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return nil, fmt.Errorf("models: pull: %w", err)
	}
	partial := partialPath(s.dir, o.Name)
	sum, err := s.download(ctx, u, partial, o)
	if err != nil {
		return nil, fmt.Errorf("models: pull %q: %w", o.Name, err)
	}
	if err := s.install(partial, dst, sum, o.SHA256, o.Certificate, nil); err != nil {
		// A complete file that fails its checks is useless for a resume.
		os.Remove(partial)
		os.Remove(partial + ".json")
		return nil, fmt.Errorf("models: pull %q: %w", o.Name, err)
	}
	os.Remove(partial + ".json")
	return s.Info(o.Name)
}

func partialPath(dir, name string) string {
	return dir + string(os.PathSeparator) + "." + name + Extension + ".partial"
}

// resumeFrom opens the partial file for appending and returns its size and
// the hash over its bytes, or size 0 and a fresh hash when there is nothing
// usable to resume.
func resumeFrom(partial, u string) (*os.File, partialState, hash.Hash, error) {
	h := sha256.New()
	var st partialState
	b, err := os.ReadFile(partial + ".json")
	f, ferr := os.OpenFile(partial, os.O_RDWR|os.O_CREATE, 0o600)
	if ferr != nil {
		return nil, st, nil, ferr
	}
	fi, ferr := f.Stat()
	if err == nil && json.Unmarshal(b, &st) == nil && st.URL == u && (st.ETag != "" || st.LastModified != "") &&
		ferr == nil && fi.Size() >= st.Size && st.Size > 0 &&
		h.(encoding.BinaryUnmarshaler).UnmarshalBinary(st.Hash) == nil {
		// Bytes past the last saved hash state are dropped: they may be torn.
		if err := f.Truncate(st.Size); err == nil {
			if _, err := f.Seek(st.Size, io.SeekStart); err == nil {
				return f, st, h, nil
			}
		}
	}
	if err := f.Truncate(0); err != nil {
		f.Close()
		return nil, st, nil, err
	}
	return f, partialState{URL: u}, sha256.New(), nil
}

// errRestart: the server cannot serve the range asked for (the partial
// file is complete or longer than the remote one); start over.
var errRestart = errors.New("range not satisfiable")

func (s *Store) download(ctx context.Context, u, partial string, o PullOptions) (string, error) {
	sum, err := s.downloadOnce(ctx, u, partial, o)
	if errors.Is(err, errRestart) {
		if err := os.Remove(partial + ".json"); err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		sum, err = s.downloadOnce(ctx, u, partial, o)
	}
	return sum, err
}

func (s *Store) downloadOnce(ctx context.Context, u, partial string, o PullOptions) (string, error) {
	f, st, h, err := resumeFrom(partial, u)
	if err != nil {
		return "", err
	}
	defer f.Close()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", err
	}
	if st.Size > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", st.Size))
		if st.ETag != "" {
			req.Header.Set("If-Range", st.ETag)
		} else {
			req.Header.Set("If-Range", st.LastModified)
		}
	}
	cl := o.Client
	if cl == nil {
		cl = http.DefaultClient
	}
	resp, err := cl.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	total := int64(-1)
	switch {
	case resp.StatusCode == http.StatusPartialContent && st.Size > 0:
		start, size, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok || start != st.Size {
			return "", fmt.Errorf("server answered range %q to a request from byte %d", resp.Header.Get("Content-Range"), st.Size)
		}
		total = size
	case resp.StatusCode == http.StatusOK:
		// A fresh download, or the server declined to resume.
		if st.Size > 0 {
			if err := f.Truncate(0); err != nil {
				return "", err
			}
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				return "", err
			}
		}
		st = partialState{URL: u, ETag: resp.Header.Get("ETag"), LastModified: resp.Header.Get("Last-Modified")}
		h = sha256.New()
		total = resp.ContentLength
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && st.Size > 0:
		return "", errRestart
	default:
		return "", fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	every := o.ProgressEvery
	if every <= 0 {
		every = 200 * time.Millisecond
	}
	start, last := time.Now(), time.Time{}
	startSize := st.Size
	report := func(force bool) {
		if o.Progress == nil {
			return
		}
		now := time.Now()
		if !force && now.Sub(last) < every {
			return
		}
		last = now
		p := Progress{Done: st.Size, Total: total}
		if dt := now.Sub(start).Seconds(); dt > 0 {
			p.Rate = float64(st.Size-startSize) / dt
		}
		if p.Rate > 0 && total > 0 {
			p.ETA = time.Duration(float64(total-st.Size) / p.Rate * float64(time.Second))
		}
		o.Progress(p)
	}
	report(true)
	buf := make([]byte, 256<<10)
	lastSave := time.Now()
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			if _, err := f.Write(buf[:n]); err != nil {
				return "", err
			}
			h.Write(buf[:n])
			st.Size += int64(n)
			report(false)
			if time.Since(lastSave) > time.Second {
				saveState(partial, &st, h)
				lastSave = time.Now()
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			// Keep what arrived for the next attempt.
			saveState(partial, &st, h)
			return "", fmt.Errorf("download interrupted at byte %d (run pull again to resume): %w", st.Size, rerr)
		}
	}
	if total >= 0 && st.Size != total {
		saveState(partial, &st, h)
		return "", fmt.Errorf("download ended at byte %d of %d (run pull again to resume)", st.Size, total)
	}
	if err := f.Sync(); err != nil {
		return "", err
	}
	report(true)
	return fmt.Sprintf("%x", h.Sum(nil)), nil
}

// saveState records how far the partial file is hashed. The bytes are
// synced first, so the state never claims more than the disk holds.
func saveState(partial string, st *partialState, h hash.Hash) {
	if st.ETag == "" && st.LastModified == "" {
		return // the server gave no validator: a resume could mix two files
	}
	m, ok := h.(encoding.BinaryMarshaler)
	if !ok {
		return
	}
	b, err := m.MarshalBinary()
	if err != nil {
		return
	}
	if f, err := os.OpenFile(partial, os.O_WRONLY, 0); err == nil {
		f.Sync()
		f.Close()
	}
	st.Hash = b
	if j, err := json.Marshal(st); err == nil {
		writeFileAtomic(partial+".json", j, 0o600)
	}
}

// parseContentRange parses "bytes START-END/SIZE".
func parseContentRange(v string) (start, size int64, ok bool) {
	rest, ok := strings.CutPrefix(v, "bytes ")
	if !ok {
		return 0, 0, false
	}
	rng, sz, ok := strings.Cut(rest, "/")
	if !ok {
		return 0, 0, false
	}
	a, _, ok := strings.Cut(rng, "-")
	if !ok {
		return 0, 0, false
	}
	start, err1 := strconv.ParseInt(a, 10, 64)
	size, err2 := strconv.ParseInt(sz, 10, 64)
	if err1 != nil || err2 != nil || start < 0 || size <= start {
		return 0, 0, false
	}
	return start, size, true
}
