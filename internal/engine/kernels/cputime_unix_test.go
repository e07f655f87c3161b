//go:build unix

package kernels

import "syscall"

// cpuTime returns the CPU time this process has used, in nanoseconds
// (user and system, all threads).
func cpuTime() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
