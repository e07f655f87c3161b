package cli_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/silo-ai/silo/internal/cli"
	"github.com/silo-ai/silo/internal/conversation"
	"github.com/silo-ai/silo/internal/engine"
	"github.com/silo-ai/silo/internal/engine/enginetest"
	"github.com/silo-ai/silo/internal/engine/upstream"
	"github.com/silo-ai/silo/internal/identity"
	"github.com/silo-ai/silo/internal/seal"
	"github.com/silo-ai/silo/internal/server"
	"github.com/silo-ai/silo/internal/store"
	"github.com/silo-ai/silo/internal/store/postgres"
	"github.com/silo-ai/silo/internal/store/sqlite"
)

// secrets are the distinctive strings of the scripted conversation; the
// echo model repeats each in its answer. None may reach the database.
var secrets = []string{"quokka7f3a", "wombat91c2", "numbat55de", "bilby0d4e"}

// world is a silo server in front of the echo upstream, on a data dir laid
// out as `silo serve` lays it (TLS pair, transit key, database).
type world struct {
	t       *testing.T
	url     string
	dataDir string
	keysDir string // the admin's machine: admin and backup private keys
	// chats counts chat requests by how their body came: sealed in
	// transit (HPKE) or plain.
	sealedChats, plainChats atomic.Int64
}

func newWorld(t *testing.T, st store.Store, dataDir string) *world {
	t.Helper()
	if _, err := server.LoadTLS(filepath.Join(dataDir, "tls"), "", "", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := seal.LoadOrCreateServerKey(filepath.Join(dataDir, "transit.pem")); err != nil {
		t.Fatal(err)
	}
	up := enginetest.NewUpstream(t)
	pool, err := upstream.New(upstream.Config{Backends: []upstream.Backend{{Name: "double", URL: up.URL}}})
	if err != nil {
		t.Fatal(err)
	}
	sched := engine.NewScheduler(engine.NewRouter(pool), engine.SchedulerConfig{})
	t.Cleanup(func() { sched.Close() })
	srv, err := server.New(server.Options{Store: st, Engine: sched, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, dataDir: dataDir, keysDir: t.TempDir()}
	ts := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/chat/completions" {
			if r.Header.Get("Content-Type") == "application/silo-sealed+hpke" {
				w.sealedChats.Add(1)
			} else {
				w.plainChats.Add(1)
			}
		}
		srv.ServeHTTP(rw, r)
	}))
	t.Cleanup(ts.Close)
	w.url = ts.URL
	return w
}

// actor is one person's CLI: their own config dir (and so device key).
type actor struct {
	w       *world
	environ []string
}

func (w *world) actor(apiKey string) *actor {
	cfg := w.t.TempDir()
	env := []string{"XDG_CONFIG_HOME=" + cfg, "HOME=" + cfg, "SILO_SERVER=" + w.url}
	if apiKey != "" {
		env = append(env, "SILO_API_KEY="+apiKey)
	}
	return &actor{w: w, environ: env}
}

func (a *actor) configDir() string {
	v, _ := strings.CutPrefix(a.environ[0], "XDG_CONFIG_HOME=")
	return filepath.Join(v, "silo")
}

// run runs one silo command line and returns its stdout and stderr.
func (a *actor) run(stdin string, args ...string) (string, string) {
	a.w.t.Helper()
	var out, errb bytes.Buffer
	err := cli.Run(context.Background(), args, strings.NewReader(stdin), &out, &errb, a.environ)
	if err != nil {
		a.w.t.Fatalf("silo %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String(), errb.String()
}

var uuidRE = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

func readIdentity(t *testing.T, path string) seal.Identity {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ids, err := seal.ParseIdentities(f)
	if err != nil {
		t.Fatal(err)
	}
	return ids[0]
}

func checkMode0600(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", path, fi.Mode().Perm())
	}
}

// exported is one exported message.
type exported struct {
	path string
	seq  int
	role string
	conv uuid.UUID
}

// script runs the scripted sealed conversation through the CLI and checks
// who can open what. It returns the exported files and the private keys.
func (w *world) script(st store.Store) ([]exported, map[string]seal.Identity, *actor) {
	t := w.t
	token, err := identity.EnsureBootstrapToken(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	root := w.actor("")
	root.run("", "bootstrap", "--token", token, "--name", "root")

	// The admin's keys are made on the admin's machine; only public halves go up.
	adminKey := filepath.Join(w.keysDir, "admin.key")
	root.run("", "admin", "init", "--identity", adminKey)
	checkMode0600(t, adminKey)
	root.run("", "admin", "init", "--identity", adminKey) // re-running is harmless
	vaultKey := filepath.Join(w.keysDir, "vault.key")
	printed, stderr := root.run("", "keys", "backup", "create", "vault", "--out", vaultKey)
	checkMode0600(t, vaultKey)
	if file, _ := os.ReadFile(vaultKey); !strings.Contains(printed, "AGE-SECRET-KEY-PQ-1") || !bytes.Contains(file, []byte(strings.TrimSpace(printed[strings.Index(printed, "AGE-SECRET-KEY-PQ-1"):]))) {
		t.Errorf("backup create did not print the key it wrote:\n%s", printed)
	}
	backupID := uuidRE.FindString(stderr)

	root.run("", "users", "create", "alice")
	secret, _ := root.run("", "keys", "create", "laptop", "--user", "alice")
	alice := w.actor(strings.TrimSpace(secret))

	// A stored chat; the device key is made and registered on first use.
	_, stderr = alice.run("hello "+secrets[0]+"\nsecond "+secrets[1]+"\n/exit\n", "chat", "--save", "-m", enginetest.DefaultModel)
	conv := uuidRE.FindString(stderr)
	if conv == "" {
		t.Fatalf("chat --save named no conversation:\n%s", stderr)
	}
	deviceKey := filepath.Join(alice.configDir(), "device.key")
	checkMode0600(t, deviceKey)
	devs, _ := alice.run("", "devices", "ls")
	if !strings.Contains(devs, readIdentity(t, deviceKey).Recipient().Fingerprint()) {
		t.Errorf("devices ls does not list this device's key:\n%s", devs)
	}

	// Resuming opens the history here, with the device key.
	out, _ := alice.run("third "+secrets[2]+"\n", "chat", "--resume", conv, "-m", enginetest.DefaultModel)
	for _, want := range []string{"user: hello " + secrets[0], "assistant: hello " + secrets[0], "user: second " + secrets[1], "assistant: second " + secrets[1], "third " + secrets[2]} {
		if !strings.Contains(out, want) {
			t.Errorf("chat --resume output lacks %q:\n%s", want, out)
		}
	}

	// Revoke the backup key; the next turn is not sealed to it.
	root.run("", "keys", "backup", "revoke", backupID)
	alice.run("after "+secrets[3]+"\n", "chat", "--resume", conv, "-m", enginetest.DefaultModel)

	// Every turn went sealed in transit, the CLI's default; --plain opts out.
	if s, p := w.sealedChats.Load(), w.plainChats.Load(); s != 4 || p != 0 {
		t.Errorf("chat requests: %d sealed, %d plain; want 4 sealed", s, p)
	}
	if out, _ := alice.run("plain "+secrets[0]+"\n", "chat", "--plain", "-m", enginetest.DefaultModel); !strings.Contains(out, "plain "+secrets[0]) || w.plainChats.Load() != 1 {
		t.Errorf("chat --plain: %q, %d plain requests", out, w.plainChats.Load())
	}

	// The admin exports everything.
	files := w.export(root)
	return files, map[string]seal.Identity{
		"admin":  readIdentity(t, adminKey),
		"backup": readIdentity(t, vaultKey),
		"device": readIdentity(t, deviceKey),
	}, root
}

// export exports everything as root and returns the files in order.
func (w *world) export(root *actor) []exported {
	t := w.t
	dir := t.TempDir()
	root.run("", "export", dir, "--all")
	var files []exported
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		checkMode0600(t, p)
		var e exported
		e.path, e.conv = p, uuid.MustParse(filepath.Base(filepath.Dir(p)))
		name := strings.TrimSuffix(filepath.Base(p), ".age")
		seq, role, _ := strings.Cut(name, "-")
		e.role = role
		for _, c := range seq {
			e.seq = e.seq*10 + int(c-'0')
		}
		files = append(files, e)
		return nil
	})
	slices.SortFunc(files, func(a, b exported) int { return a.seq - b.seq })
	if len(files) != 8 {
		t.Fatalf("exported %d messages, want 8 (4 turns)", len(files))
	}
	return files
}

// checkRewrap runs `silo keys rewrap`, stopped after 3 messages and then
// resumed: at every point each message opens with every live key (admin,
// device); at the end the revoked backup key opens nothing at all.
func (w *world) checkRewrap(root *actor, ids map[string]seal.Identity) {
	t := w.t
	admin := filepath.Join(w.keysDir, "admin.key")
	out, _ := root.run("", "keys", "rewrap", "--identity", admin, "--max", "3")
	if !strings.Contains(out, "stopped after 3") {
		t.Errorf("rewrap --max 3: %s", out)
	}
	check := func(stage string, backupOpens func(i int) bool) {
		for i, f := range w.export(root) {
			blob, _ := os.ReadFile(f.path)
			for _, name := range []string{"admin", "device"} {
				if m, err := conversation.Open(blob, f.conv, f.role, ids[name]); err != nil || m.Content != turnText(i) {
					t.Errorf("%s: message %d with the live %s key: %v", stage, f.seq, name, err)
				}
			}
			_, err := conversation.Open(blob, f.conv, f.role, ids["backup"])
			if got := err == nil; got != backupOpens(i) {
				t.Errorf("%s: message %d opens with the revoked backup key: %v, want %v", stage, f.seq, got, backupOpens(i))
			}
		}
	}
	// The first 3 stale messages (seq 1-3) are resealed; 4-6 still carry
	// the backup key; 7-8 never did.
	check("after a stopped rewrap", func(i int) bool { return i >= 3 && i < 6 })
	out, _ = root.run("", "keys", "rewrap", "--identity", admin)
	if !strings.Contains(out, "rewrapped 3 messages") {
		t.Errorf("resumed rewrap: %s", out)
	}
	check("after the resumed rewrap", func(int) bool { return false })
	out, _ = root.run("", "keys", "rewrap", "--identity", admin)
	if !strings.Contains(out, "rewrapped 0 messages") {
		t.Errorf("a third rewrap: %s", out)
	}
}

// checkReplaceAdmin replaces the admin key (`admin init --replace`): the
// old key keeps opening what was stored before until a rewrap with
// --old-identity moves every message to the new key, after which only the
// new key (and the device) open them.
func (w *world) checkReplaceAdmin(root *actor, ids map[string]seal.Identity) {
	t := w.t
	oldPath, newPath := filepath.Join(w.keysDir, "admin.key"), filepath.Join(w.keysDir, "admin2.key")
	out, _ := root.run("", "admin", "init", "--identity", newPath, "--replace")
	if !strings.Contains(out, "is revoked; move stored chats") {
		t.Errorf("admin init --replace: %s", out)
	}
	b, err := os.ReadFile(newPath)
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := seal.ParseIdentities(bytes.NewReader(b))
	if err != nil || len(fresh) != 1 {
		t.Fatalf("the new admin key file: %v", err)
	}
	opens := func(stage, name string, id seal.Identity, want bool) {
		t.Helper()
		for _, f := range w.export(root) {
			blob, _ := os.ReadFile(f.path)
			if _, err := conversation.Open(blob, f.conv, f.role, id); (err == nil) != want {
				t.Errorf("%s: message %d opens with the %s key: %v, want %v", stage, f.seq, name, err == nil, want)
			}
		}
	}
	opens("replaced, before the rewrap", "old admin", ids["admin"], true)
	opens("replaced, before the rewrap", "new admin", fresh[0], false)
	// Without the old identity nothing stored before can be moved.
	var errb bytes.Buffer
	if err := cli.Run(context.Background(), []string{"keys", "rewrap", "--identity", newPath}, strings.NewReader(""), &bytes.Buffer{}, &errb, root.environ); err == nil {
		t.Error("rewrap to the new admin key without --old-identity succeeded")
	}
	out, _ = root.run("", "keys", "rewrap", "--identity", newPath, "--old-identity", oldPath)
	if !strings.Contains(out, "rewrapped 8 messages") {
		t.Errorf("rewrap after replacing the admin key: %s", out)
	}
	opens("after the rewrap", "new admin", fresh[0], true)
	opens("after the rewrap", "device", ids["device"], true)
	opens("after the rewrap", "old admin", ids["admin"], false)
}

// turnText is what message i (0-based, user then assistant) says.
func turnText(i int) string {
	return []string{"hello ", "second ", "third ", "after "}[i/2] + secrets[i/2]
}

// checkOpeners: the admin key, the device key and (before revocation) the
// backup key open each message; the revoked backup key opens nothing
// written after.
func (w *world) checkOpeners(files []exported, ids map[string]seal.Identity) {
	t := w.t
	for i, f := range files {
		blob, err := os.ReadFile(f.path)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"admin", "device", "backup"} {
			m, err := conversation.Open(blob, f.conv, f.role, ids[name])
			afterRevoke := i >= 6
			switch {
			case name == "backup" && afterRevoke:
				if !errors.Is(err, seal.ErrNoIdentity) {
					t.Errorf("message %d (after revocation) with the revoked backup key: %v, want ErrNoIdentity", f.seq, err)
				}
			case err != nil || m.Content != turnText(i):
				t.Errorf("message %d with the %s key: %q, %v; want %q", f.seq, name, m.Content, err, turnText(i))
			}
		}
	}
}

// checkStockAge opens the export with the stock age binary.
func (w *world) checkStockAge(files []exported) {
	t := w.t
	agePath, err := exec.LookPath("age")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("age is not on PATH, and CI must not skip this check; scripts/test.sh installs it (go install filippo.io/age/cmd/...@v1.3.2)")
		}
		t.Log("age is not on PATH; skipping the stock-age check (install: go install filippo.io/age/cmd/...@v1.3.2)")
		return
	}
	for i, f := range files {
		for _, key := range []string{"admin.key", "vault.key"} {
			cmd := exec.Command(agePath, "-d", "-i", filepath.Join(w.keysDir, key), f.path)
			out, err := cmd.Output()
			if key == "vault.key" && i >= 6 {
				if err == nil {
					t.Errorf("age opened message %d (after revocation) with the revoked backup key", f.seq)
				}
				continue
			}
			if err != nil || !bytes.Contains(out, []byte(`"content":"`+turnText(i)+`"`)) {
				t.Errorf("age -d -i %s %s: %v: %s", key, filepath.Base(f.path), err, out)
			}
		}
	}
}

// checkDataDir: nothing in the server's data dir is a private key that
// opens a stored message, and no file holds chat plaintext.
// minFiles is how many files the data dir must hold at least, so the check
// cannot pass by looking nowhere.
func (w *world) checkDataDir(files []exported, minFiles int) {
	t := w.t
	var tried int
	filepath.WalkDir(w.dataDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s holds chat plaintext %q", p, s)
			}
		}
		if bytes.Contains(b, []byte("AGE-SECRET-KEY")) {
			t.Errorf("%s holds an age private key", p)
		}
		// Try the file, and each line of it, as age identities.
		var ids []seal.Identity
		if more, err := seal.ParseIdentities(bytes.NewReader(b)); err == nil {
			ids = append(ids, more...)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if id, err := seal.ParseIdentity(line); err == nil {
				ids = append(ids, id)
			}
		}
		tried++
		for _, f := range files {
			blob, _ := os.ReadFile(f.path)
			if _, err := seal.Open(blob, ids...); err == nil {
				t.Errorf("%s opens stored message %d", p, f.seq)
			}
		}
		return nil
	})
	if tried < minFiles {
		t.Errorf("tried only %d files of the data dir, want at least %d", tried, minFiles)
	}
}

func checkDump(t *testing.T, what string, dump []byte) {
	t.Helper()
	if len(dump) == 0 {
		t.Fatalf("%s dump is empty", what)
	}
	for _, s := range secrets {
		for _, form := range []string{s, hex.EncodeToString([]byte(s))} {
			if bytes.Contains(dump, []byte(form)) {
				t.Errorf("%s dump holds %q", what, form)
			}
		}
	}
}

// TestSealedHistorySQLite is issue 4's acceptance on the default store.
func TestSealedHistorySQLite(t *testing.T) {
	dataDir := t.TempDir()
	dbPath := filepath.Join(dataDir, "silo.db")
	st, err := sqlite.Open(context.Background(), dbPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	w := newWorld(t, st, dataDir)
	files, ids, root := w.script(st)
	w.checkOpeners(files, ids)
	w.checkStockAge(files)
	w.checkDataDir(files, 4) // database, TLS pair, transit key
	w.checkRewrap(root, ids)
	w.checkReplaceAdmin(root, ids)

	// The raw file, WAL included, after a checkpoint folds the WAL in.
	var dump []byte
	for _, p := range []string{dbPath, dbPath + "-wal"} {
		b, _ := os.ReadFile(p)
		dump = append(dump, b...)
	}
	checkDump(t, "SQLite (live)", dump)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	checkDump(t, "SQLite (closed)", b)
	if !bytes.Contains(b, []byte("age-encryption.org/v1")) {
		t.Error("the SQLite file holds no sealed message at all; the dump check proves nothing")
	}
}

// TestSealedHistoryPostgres runs the same script on PostgreSQL and dumps
// every row of every table, raw.
func TestSealedHistoryPostgres(t *testing.T) {
	dsn := os.Getenv("SILO_TEST_POSTGRES")
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("SILO_TEST_POSTGRES is not set, and CI must not skip this test; start a server with: eval \"$(scripts/pg-test.sh)\"")
		}
		t.Skip("SILO_TEST_POSTGRES is not set; start a throwaway server with: eval \"$(scripts/pg-test.sh)\"")
	}
	ctx := context.Background()
	var rb [8]byte
	rand.Read(rb[:])
	name := "silo_sealed_" + hex.EncodeToString(rb[:])
	admin := func(sql string) error {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, sql)
		return err
	}
	if err := admin("CREATE DATABASE " + name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)") })
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	st, err := postgres.Open(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })

	w := newWorld(t, st, t.TempDir())
	files, ids, root := w.script(st)
	w.checkOpeners(files, ids)
	w.checkDataDir(files, 3) // TLS pair, transit key
	w.checkRewrap(root, ids)
	w.checkReplaceAdmin(root, ids)

	conn, err := pgx.Connect(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(tables, "sealed_messages") {
		t.Fatalf("tables %v lack sealed_messages", tables)
	}
	var dump []byte
	for _, table := range tables {
		// Raw wire values, and the text form of each row (bytea as hex).
		rows, err := conn.Query(ctx, "SELECT * FROM "+pgx.Identifier{table}.Sanitize())
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			for _, v := range rows.RawValues() {
				dump = append(dump, v...)
			}
		}
		rows.Close()
		var text string
		if err := conn.QueryRow(ctx, "SELECT coalesce(string_agg(t::text, E'\\n'), '') FROM "+pgx.Identifier{table}.Sanitize()+" t").Scan(&text); err != nil {
			t.Fatal(err)
		}
		dump = append(dump, text...)
	}
	checkDump(t, "PostgreSQL", dump)
	if !bytes.Contains(dump, []byte("age-encryption.org/v1")) {
		t.Error("the PostgreSQL dump holds no sealed message at all; the dump check proves nothing")
	}
}
