// Package attesttest runs a software TPM (Debian's swtpm) for tests.
package attesttest

import (
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// SWTPM starts swtpm with its state in a temporary directory and returns
// the path of its Unix socket; it is stopped when the test ends. Without
// swtpm the test is skipped, but fails when CI is set (as the test script
// sets it), so that CI cannot pass without the real thing.
func SWTPM(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("swtpm")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("swtpm not found (Debian package swtpm; CI is set, so this fails instead of skipping): %v", err)
		}
		t.Skip("swtpm not installed (Debian package swtpm)")
	}
	dir := t.TempDir()
	sock := filepath.Join(dir, "tpm.sock")
	cmd := exec.Command(bin, "socket", "--tpm2",
		"--tpmstate", "dir="+dir,
		"--server", "type=unixio,path="+sock,
		"--ctrl", "type=unixio,path="+filepath.Join(dir, "ctrl.sock"),
		"--flags", "not-need-init,startup-clear")
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatalf("start swtpm: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	// The socket file appears before swtpm listens on it: wait until it
	// takes a connection.
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			return sock
		}
		if time.Now().After(deadline) {
			t.Fatal("swtpm did not listen on its socket within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
