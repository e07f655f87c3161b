package e2e

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/silo-ai/silo/internal/engine/enginetest"
)

// siloBin is the binary built once for this test process.
var siloBin string

// raceEnabled is set when the tests run with -race; the binary is built
// with it too.
var raceEnabled bool

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "silo-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if siloBin, err = Build(context.Background(), dir, raceEnabled); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// fixture is a bootstrapped `silo serve` in front of a fresh double.
type fixture struct {
	srv    *Server
	double *enginetest.Upstream
	key    string // the admin's API key
}

// start runs silo serve with one upstream, the double, and bootstraps it.
func start(t *testing.T, flags ...string) *fixture {
	t.Helper()
	d := enginetest.NewUpstream(t)
	env := NewEnv(t, siloBin)
	s := env.Serve(t, append([]string{"--upstream", "double=" + d.URL}, flags...)...)
	return &fixture{srv: s, double: d, key: s.Bootstrap(t)}
}
