//go:build !linux

package models

import "io/fs"

// fileIdentity has no inode or change time to offer on this system; the
// digest cache then relies on path, size and modification time.
func fileIdentity(fs.FileInfo) (inode uint64, ctime int64) { return 0, 0 }
