//go:build unix

package gguf

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Open maps the named file read-only and parses it. The caller must Close
// the File to release the mapping.
func Open(path string) (*File, error) {
	fd, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("gguf: open: %w", err)
	}
	defer fd.Close()
	st, err := fd.Stat()
	if err != nil {
		return nil, fmt.Errorf("gguf: open: %w", err)
	}
	size := st.Size()
	if size < 4 {
		return nil, fmt.Errorf("gguf: open %s: file of %d bytes is too short", path, size)
	}
	if int64(int(size)) != size {
		return nil, fmt.Errorf("gguf: open %s: file too large to map", path)
	}
	data, err := unix.Mmap(int(fd.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("gguf: open %s: mmap: %w", path, err)
	}
	f, err := parse(data)
	if err != nil {
		unix.Munmap(data)
		return nil, fmt.Errorf("gguf: open %s: %w", path, err)
	}
	f.unmap = func() error { return unix.Munmap(data) }
	return f, nil
}
