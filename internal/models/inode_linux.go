//go:build linux

package models

import (
	"io/fs"
	"syscall"
)

// fileIdentity returns the inode and change time (ns) of a stat result.
func fileIdentity(fi fs.FileInfo) (inode uint64, ctime int64) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0
	}
	sec, nsec := st.Ctim.Unix()
	return uint64(st.Ino), sec*1e9 + nsec
}
