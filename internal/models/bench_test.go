package models

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkDigest1GB measures verifying a 1 GiB model file's digest the first
// time (reading and hashing every byte) and from the digest cache (a stat).
// The file is sparse, so the first-time figure is SHA-256 speed over the
// page cache, a lower bound for a cold disk.
func BenchmarkDigest1GB(b *testing.B) {
	dir := b.TempDir()
	path := filepath.Join(dir, "big.gguf")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := f.Truncate(1 << 30); err != nil {
		b.Fatal(err)
	}
	f.Close()
	b.Run("first", func(b *testing.B) {
		b.SetBytes(1 << 30)
		for b.Loop() {
			c, _ := OpenDigestCache("")
			if _, err := c.Digest(path); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cached", func(b *testing.B) {
		defer func(w time.Duration) { racyWindow = w }(racyWindow)
		racyWindow = 0 // the file was just made
		c, err := OpenDigestCache(filepath.Join(dir, DigestCacheFile))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Digest(path); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(1 << 30)
		for b.Loop() {
			if _, err := c.Digest(path); err != nil {
				b.Fatal(err)
			}
		}
	})
}
