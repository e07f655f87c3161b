//go:build !unix

package gguf

import (
	"fmt"
	"os"
)

// Open reads and parses the named file. (Where memory mapping is not
// available the file is read into memory.)
func Open(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("gguf: open: %w", err)
	}
	f, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("gguf: open %s: %w", path, err)
	}
	return f, nil
}
