package models

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// DigestCacheFile is the digest cache's file name in the data directory.
const DigestCacheFile = "digests.json"

// DigestCache remembers the SHA-256 of files, keyed by absolute path and
// valid only while size, modification time, inode and change time are the
// same as when the file was hashed; a file changed in the last two seconds
// is not cached (see racyWindow). It is safe for concurrent use.
type DigestCache struct {
	path string // "" : in memory only

	mu      sync.Mutex
	entries map[string]digestEntry
}

type digestEntry struct {
	Size    int64  `json:"size"`
	ModTime int64  `json:"mtime_ns"`
	Inode   uint64 `json:"inode"`
	CTime   int64  `json:"ctime_ns"`
	SHA256  string `json:"sha256"`
}

// OpenDigestCache loads the cache kept in file (created on first save).
// An empty file name keeps the cache in memory. A corrupt cache file is not
// an error: the cache starts empty and every file is hashed again.
func OpenDigestCache(file string) (*DigestCache, error) {
	c := &DigestCache{path: file, entries: map[string]digestEntry{}}
	if file == "" {
		return c, nil
	}
	b, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, fmt.Errorf("models: read digest cache: %w", err)
	}
	var m map[string]digestEntry
	if json.Unmarshal(b, &m) == nil && m != nil {
		c.entries = m
	}
	return c, nil
}

// racyWindow is how recently changed a file may be and still be cached.
// File timestamps come from a coarse clock (a few milliseconds on Linux): a
// file rewritten within the same tick, at the same size, would look
// unchanged. As git does for "racily clean" index entries, a file changed
// less than racyWindow ago is hashed every time until it settles.
var racyWindow = 2 * time.Second

// racy reports whether a file's last change is too recent to cache it (or
// in the future).
func racy(k digestEntry) bool {
	t := k.CTime
	if t == 0 {
		t = k.ModTime
	}
	return time.Since(time.Unix(0, t)) < racyWindow
}

func keyOf(fi os.FileInfo) digestEntry {
	ino, ct := fileIdentity(fi)
	return digestEntry{Size: fi.Size(), ModTime: fi.ModTime().UnixNano(), Inode: ino, CTime: ct}
}

// Cached returns the digest of the file at path if the cache holds it for
// the file as it is now, without reading the file.
func (c *DigestCache) Cached(path string) (string, bool) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", false
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return "", false
	}
	k := keyOf(fi)
	c.mu.Lock()
	e, ok := c.entries[abs]
	c.mu.Unlock()
	if !ok || e.SHA256 == "" || e.Size != k.Size || e.ModTime != k.ModTime || e.Inode != k.Inode || e.CTime != k.CTime {
		return "", false
	}
	return e.SHA256, true
}

// Digest returns the lowercase hex SHA-256 of the file at path, from the
// cache when the file is unchanged, else by reading it (and remembering it).
func (c *DigestCache) Digest(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("models: digest %s: %w", path, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return "", fmt.Errorf("models: digest: %w", err)
	}
	k := keyOf(fi)
	if sum, ok := c.Cached(abs); ok {
		return sum, nil
	}
	f, err := os.Open(abs)
	if err != nil {
		return "", fmt.Errorf("models: digest: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("models: digest %s: %w", path, err)
	}
	// Stat the open file again: if it changed while we read, do not cache.
	fi2, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("models: digest: %w", err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if keyOf(fi2) == k && !racy(k) {
		k.SHA256 = sum
		if err := c.put(abs, k); err != nil {
			return "", err
		}
	}
	return sum, nil
}

// Record remembers sum as the digest of the file at path as it is now
// (used after writing a file whose bytes were hashed on the way).
func (c *DigestCache) Record(path, sum string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("models: digest %s: %w", path, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return fmt.Errorf("models: digest: %w", err)
	}
	k := keyOf(fi)
	if racy(k) {
		return nil // hashed again on first use, once the file has settled
	}
	k.SHA256 = sum
	return c.put(abs, k)
}

// Forget drops the entry of path.
func (c *DigestCache) Forget(path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("models: digest %s: %w", path, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[abs]; !ok {
		return nil
	}
	delete(c.entries, abs)
	return c.saveLocked()
}

func (c *DigestCache) put(abs string, e digestEntry) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries[abs] = e
	return c.saveLocked()
}

// saveLocked writes the cache through a temporary file and a rename.
func (c *DigestCache) saveLocked() error {
	if c.path == "" {
		return nil
	}
	b, err := json.MarshalIndent(c.entries, "", " ")
	if err != nil {
		return fmt.Errorf("models: save digest cache: %w", err)
	}
	if err := writeFileAtomic(c.path, b, 0o600); err != nil {
		return fmt.Errorf("models: save digest cache: %w", err)
	}
	return nil
}

// writeFileAtomic writes data to a temporary file beside name, syncs it and
// renames it over name.
func writeFileAtomic(name string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(name)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, name)
}
