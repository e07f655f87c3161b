package layout

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

type pkg struct {
	ImportPath string
	Doc        string
	Imports    []string
	Deps       []string
	Standard   bool
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	out, err := exec.Command("go", "list", "-json", "github.com/silo-ai/silo/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

const module = "github.com/silo-ai/silo/"

// TestPackageDocs: every package says what it provides.
func TestPackageDocs(t *testing.T) {
	for _, p := range listPackages(t) {
		if strings.TrimSpace(p.Doc) == "" {
			t.Errorf("%s has no package doc comment", p.ImportPath)
		}
	}
}

// TestLeafPackages: crypto, formats and protocols stay leaves, with no
// HTTP server, database or CLI inside; the CLI framework lives only in
// internal/cli.
func TestLeafPackages(t *testing.T) {
	leaves := []string{
		"internal/seal", "internal/tlog", "internal/provenance",
		"internal/engine/gguf", "internal/engine/ggml", "internal/engine/kernels",
		"internal/engine/tokenize", "internal/engine/chat", "internal/engine/sample",
		"internal/engine/llama",
	}
	forbidden := []string{"database/sql/", "github.com/jackc/pgx", "modernc.org/sqlite", "github.com/spf13/cobra",
		module + "internal/server", module + "internal/store/"}
	httpFree := map[string]bool{"internal/seal": true, "internal/engine/gguf": true, "internal/engine/kernels": true,
		"internal/engine/tokenize": true, "internal/engine/chat": true, "internal/engine/llama": true, "internal/provenance": true}
	byPath := map[string]pkg{}
	for _, p := range listPackages(t) {
		byPath[strings.TrimPrefix(p.ImportPath, module)] = p
		if !strings.HasSuffix(p.ImportPath, "internal/cli") {
			for _, imp := range p.Imports {
				if strings.HasPrefix(imp, "github.com/spf13/cobra") {
					t.Errorf("%s imports cobra; the CLI framework belongs in internal/cli only", p.ImportPath)
				}
			}
		}
	}
	for _, l := range leaves {
		p, ok := byPath[l]
		if !ok {
			t.Errorf("leaf package %s is missing", l)
			continue
		}
		for _, d := range p.Deps {
			for _, f := range forbidden {
				if strings.HasPrefix(d+"/", f) && d != "database/sql/driver" {
					t.Errorf("leaf %s depends on %s", l, d)
				}
			}
			if httpFree[l] && d == "net/http" {
				t.Errorf("leaf %s depends on net/http", l)
			}
		}
	}
}

// TestNoCgo: the server builds with CGO_ENABLED=0.
func TestNoCgo(t *testing.T) {
	cmd := exec.Command("go", "build", "-o", t.TempDir()+"/silo", module+"cmd/silo")
	cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("CGO_ENABLED=0 go build: %v\n%s", err, out)
	}
}
