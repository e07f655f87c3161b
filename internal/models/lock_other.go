//go:build !linux

package models

import "os"

// lockFile is a no-op where flock is not used: run one writer of a log.
func lockFile(*os.File) error { return nil }
