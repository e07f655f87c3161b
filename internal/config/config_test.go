package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func load(t *testing.T, args, environ []string) (*Serve, error) {
	t.Helper()
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	ServeFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return LoadServe(fs, append([]string{"HOME=" + t.TempDir(), "XDG_CONFIG_HOME=" + t.TempDir()}, environ...))
}

// TestPrecedence: flags beat SILO_* environment, which beats the file,
// which beats the defaults.
func TestPrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "silo.yaml")
	os.WriteFile(file, []byte("addr: 127.0.0.1:1001\nmax-queue: 7\nmax-concurrent: 3\nlog-level: warn\nupstreams:\n  - name: gpu\n    url: http://10.0.0.5:8000\n    models:\n      llama: meta-llama/Llama-3.1-8B\n"), 0o600)

	c, err := load(t, []string{"--config", file, "--addr", "127.0.0.1:1003"},
		[]string{"SILO_ADDR=127.0.0.1:1002", "SILO_MAX_QUEUE=9", "SILO_WRITE_TIMEOUT=3m"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:1003" {
		t.Errorf("addr %q: the flag should win", c.Addr)
	}
	if c.MaxQueue != 9 {
		t.Errorf("max-queue %d: the environment should beat the file", c.MaxQueue)
	}
	if c.MaxConcurrent != 3 || c.LogLevel != "warn" {
		t.Errorf("file values lost: %+v", c)
	}
	if c.WriteTimeout != 3*time.Minute {
		t.Errorf("write-timeout %v from the environment", c.WriteTimeout)
	}
	if c.ReadTimeout != time.Minute {
		t.Errorf("read-timeout %v: want the default", c.ReadTimeout)
	}
	if len(c.Upstreams) != 1 || c.Upstreams[0].Models["llama"] != "meta-llama/Llama-3.1-8B" {
		t.Errorf("upstreams from the file: %+v", c.Upstreams)
	}
}

func TestDefaults(t *testing.T) {
	c, err := load(t, nil, []string{"XDG_DATA_HOME=/srv/data"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:8443" {
		t.Errorf("default addr %q: silo must listen on loopback by default", c.Addr)
	}
	if c.PlainHTTP {
		t.Error("TLS must be on by default")
	}
	if c.ModelsDir != filepath.Join(c.DataDir, "models") {
		t.Errorf("models dir %q", c.ModelsDir)
	}
}

func TestUpstreamFlags(t *testing.T) {
	c, err := load(t, []string{"--upstream", "a=http://127.0.0.1:9000", "--upstream", "b=https://gpu:8000/v1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Upstreams) != 2 || c.Upstreams[1].Name != "b" {
		t.Errorf("upstreams %+v", c.Upstreams)
	}
}

func TestRejects(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  []string
		want string
	}{
		{[]string{"--addr", "nonsense"}, nil, "addr"},
		{[]string{"--tls-cert", "c.pem"}, nil, "go together"},
		{[]string{"--upstream", "nourl"}, nil, "NAME=URL"},
		{[]string{"--upstream", "a=ftp://x"}, nil, "not an http"},
		{[]string{"--upstream", "a=http://x", "--upstream", "a=http://y"}, nil, "twice"},
		{nil, []string{"SILO_LOG_LEVEL=loud"}, "log-level"},
		{[]string{"--max-concurrent", "0"}, nil, "max-concurrent"},
		{[]string{"--config", "/nonexistent/silo.yaml"}, nil, "read"},
	} {
		_, err := load(t, tc.args, tc.env)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v %v: error %v, want one mentioning %q", tc.args, tc.env, err, tc.want)
		}
	}
}
