package seal

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
)

func newIdentities(t testing.TB, n int) ([]Identity, []Recipient) {
	t.Helper()
	ids := make([]Identity, n)
	rs := make([]Recipient, n)
	for i := range ids {
		id, err := GenerateIdentity()
		if err != nil {
			t.Fatal(err)
		}
		ids[i], rs[i] = id, id.Recipient()
	}
	return ids, rs
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

func TestSealOpenRoundTrip(t *testing.T) {
	ids, rs := newIdentities(t, 3)
	for _, size := range []int{0, 1, 1024, 64<<10 + 1, 1 << 20} {
		for _, n := range []int{1, 3} {
			t.Run(fmt.Sprintf("size=%d/recipients=%d", size, n), func(t *testing.T) {
				msg := pattern(size)
				sealed, err := Seal(msg, rs[:n])
				if err != nil {
					t.Fatal(err)
				}
				if size > 16 && bytes.Contains(sealed, msg[:16]) {
					t.Fatal("sealed data contains plaintext")
				}
				got, err := Open(sealed, ids[n-1])
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, msg) {
					t.Fatal("opened plaintext differs")
				}

				var buf bytes.Buffer
				w, err := SealTo(&buf, rs[:n])
				if err != nil {
					t.Fatal(err)
				}
				for chunk := range slicesChunk(msg, 1000) {
					if _, err := w.Write(chunk); err != nil {
						t.Fatal(err)
					}
				}
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
				r, err := OpenFrom(&buf, ids[0])
				if err != nil {
					t.Fatal(err)
				}
				got, err = io.ReadAll(r)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, msg) {
					t.Fatal("streamed plaintext differs")
				}
			})
		}
	}
}

func slicesChunk(b []byte, n int) func(func([]byte) bool) {
	return func(yield func([]byte) bool) {
		for len(b) > 0 {
			c := b[:min(n, len(b))]
			if !yield(c) {
				return
			}
			b = b[len(c):]
		}
	}
}

func TestSealRefusesNoRecipients(t *testing.T) {
	for name, rs := range map[string][]Recipient{"nil": nil, "empty": {}} {
		if _, err := Seal([]byte("x"), rs); !errors.Is(err, ErrNoRecipients) {
			t.Errorf("%s: Seal err = %v, want ErrNoRecipients", name, err)
		}
		if _, err := SealTo(io.Discard, rs); !errors.Is(err, ErrNoRecipients) {
			t.Errorf("%s: SealTo err = %v, want ErrNoRecipients", name, err)
		}
	}
	if _, err := Seal([]byte("x"), []Recipient{{}}); err == nil {
		t.Error("Seal to the zero Recipient succeeded")
	}
}

// stanzas counts the recipient stanzas in an age header.
func stanzas(t *testing.T, sealed []byte) int {
	t.Helper()
	hdr, err := age.ExtractHeader(bytes.NewReader(sealed))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(hdr), "\n-> mlkem768x25519 ")
}

func TestSealDedupsRecipients(t *testing.T) {
	ids, rs := newIdentities(t, 2)
	again, err := ParseRecipient(rs[0].String())
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := Seal([]byte("hello"), []Recipient{rs[0], rs[1], rs[0], again, rs[1]})
	if err != nil {
		t.Fatal(err)
	}
	if n := stanzas(t, sealed); n != 2 {
		t.Fatalf("%d stanzas, want 2", n)
	}
	for _, id := range ids {
		if _, err := Open(sealed, id); err != nil {
			t.Fatal(err)
		}
	}
	if got := Fingerprints([]Recipient{rs[0], rs[1], again}); len(got) != 2 {
		t.Fatalf("Fingerprints gave %d entries, want 2", len(got))
	}
}

func TestParseRecipientRefusesNonHybrid(t *testing.T) {
	classic, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	_, rs := newIdentities(t, 1)
	pq := rs[0].String()
	last := "q"
	if pq[len(pq)-1] == 'q' {
		last = "p"
	}
	for name, s := range map[string]string{
		"x25519":    classic.Recipient().String(),
		"ssh":       "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl",
		"identity":  classic.String(),
		"empty":     "",
		"corrupt":   pq[:len(pq)-1] + last,
		"truncated": pq[:100],
	} {
		_, err := ParseRecipient(s)
		if err == nil {
			t.Errorf("%s: parsed", name)
			continue
		}
		if strings.Contains(err.Error(), s) && s != "" {
			t.Errorf("%s: error quotes the input", name)
		}
	}
	if _, err := ParseRecipient(classic.Recipient().String()); !errors.Is(err, ErrNotHybrid) {
		t.Errorf("classic key: err = %v, want ErrNotHybrid", err)
	}
	if _, err := ParseIdentity(classic.String()); !errors.Is(err, ErrNotHybrid) {
		t.Errorf("classic identity: err = %v, want ErrNotHybrid", err)
	}
	if _, err := ParseIdentities(strings.NewReader(classic.String() + "\n")); !errors.Is(err, ErrNotHybrid) {
		t.Errorf("classic identity file: err = %v, want ErrNotHybrid", err)
	}
	r, err := ParseRecipient(" " + pq + "\n")
	if err != nil || r.String() != pq {
		t.Errorf("ParseRecipient(padded) = %v, %v", r, err)
	}
}

func TestOpenWrongIdentity(t *testing.T) {
	ids, rs := newIdentities(t, 3)
	sealed, err := Seal([]byte("secret"), rs[:1])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(sealed, ids[1], ids[2]); !errors.Is(err, ErrNoIdentity) {
		t.Fatalf("Open with wrong identities: err = %v, want ErrNoIdentity", err)
	}
	if _, err := OpenFrom(bytes.NewReader(sealed), ids[1]); !errors.Is(err, ErrNoIdentity) {
		t.Fatalf("OpenFrom with wrong identity: err = %v, want ErrNoIdentity", err)
	}
	if _, err := Open(sealed); !errors.Is(err, ErrNoIdentity) {
		t.Fatalf("Open without identities: err = %v, want ErrNoIdentity", err)
	}
	if _, err := Open(sealed, Identity{}); err == nil {
		t.Fatal("Open with the zero Identity succeeded")
	}
	// A wrong identity beside the right one is fine.
	if _, err := Open(sealed, ids[2], ids[0]); err != nil {
		t.Fatal(err)
	}
}

func TestOpenByEachOfThreeNotFourth(t *testing.T) {
	ids, rs := newIdentities(t, 4)
	msg := []byte("the quarterly numbers are bad")
	sealed, err := Seal(msg, rs[:3])
	if err != nil {
		t.Fatal(err)
	}
	for i, id := range ids[:3] {
		got, err := Open(sealed, id)
		if err != nil {
			t.Fatalf("recipient %d: %v", i, err)
		}
		if !bytes.Equal(got, msg) {
			t.Fatalf("recipient %d: plaintext differs", i)
		}
	}
	if _, err := Open(sealed, ids[3]); !errors.Is(err, ErrNoIdentity) {
		t.Fatalf("fourth identity: err = %v, want ErrNoIdentity", err)
	}
}

// TestAgeCompatibility checks both directions against age's own API, the
// way the age CLI reads identity and recipient files.
func TestAgeCompatibility(t *testing.T) {
	id, err := GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	file := id.MarshalFile(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	if !bytes.HasPrefix(file, []byte("# created: 2026-01-02T03:04:05Z\n# public key: age1pq1")) {
		t.Fatalf("identity file starts %q", file[:60])
	}
	msg := []byte("export me")

	// Ours -> age.
	sealed, err := Seal(msg, []Recipient{id.Recipient()})
	if err != nil {
		t.Fatal(err)
	}
	aids, err := age.ParseIdentities(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	r, err := age.Decrypt(bytes.NewReader(sealed), aids...)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("age.Decrypt = %q, %v", got, err)
	}

	// age -> ours: a key made by age-keygen -pq, sealed by age -R.
	aid, err := age.GenerateHybridIdentity()
	if err != nil {
		t.Fatal(err)
	}
	keygen := fmt.Sprintf("# created: 2026-01-02T03:04:05Z\n# public key: %s\n%s\n", aid.Recipient(), aid)
	ids, err := ParseIdentities(strings.NewReader(keygen))
	if err != nil || len(ids) != 1 {
		t.Fatalf("ParseIdentities(age-keygen output) = %v, %v", ids, err)
	}
	if ids[0].Recipient().String() != aid.Recipient().String() {
		t.Fatal("parsed identity has another public key")
	}
	ars, err := age.ParseRecipients(strings.NewReader(id.Recipient().String() + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, append(ars, aid.Recipient())...)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(msg)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	for _, id := range []Identity{id, ids[0]} {
		got, err := Open(buf.Bytes(), id)
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("Open(age output) = %q, %v", got, err)
		}
	}
}

func TestOpenTampered(t *testing.T) {
	ids, rs := newIdentities(t, 1)
	msg := []byte("do not change me")
	sealed, err := Seal(msg, rs)
	if err != nil {
		t.Fatal(err)
	}
	for i := range sealed {
		bad := bytes.Clone(sealed)
		bad[i] ^= 0x01
		got, err := Open(bad, ids[0])
		if err == nil {
			t.Fatalf("flipped byte %d: opened %q", i, got)
		}
		if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrNoIdentity) {
			t.Fatalf("flipped byte %d: err = %v, want ErrCorrupt or ErrNoIdentity", i, err)
		}
	}
	// Every cut in the payload, and a sample of cuts in the header (each
	// costs a decapsulation).
	for n := range len(sealed) {
		if n < len(sealed)-100 && n%13 != 0 {
			continue
		}
		if _, err := Open(sealed[:n], ids[0]); err == nil {
			t.Fatalf("truncated to %d bytes: opened", n)
		}
	}
	if _, err := Open(append(bytes.Clone(sealed), 0), ids[0]); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("trailing byte: err = %v, want ErrCorrupt", err)
	}
}

type failingReader struct {
	r   io.Reader
	n   int
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, f.err
	}
	p = p[:min(len(p), f.n)]
	n, err := f.r.Read(p)
	f.n -= n
	return n, err
}

func TestOpenFromReaderError(t *testing.T) {
	ids, rs := newIdentities(t, 1)
	sealed, err := Seal(pattern(200<<10), rs)
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("connection reset")
	r, err := OpenFrom(&failingReader{r: bytes.NewReader(sealed), n: 100 << 10, err: boom}, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(r)
	if !errors.Is(err, boom) || errors.Is(err, ErrCorrupt) {
		t.Fatalf("err = %v, want the reader's error and not ErrCorrupt", err)
	}
}

func TestWriteIdentityFile(t *testing.T) {
	ids, _ := newIdentities(t, 2)
	path := filepath.Join(t.TempDir(), "device.key")
	if err := WriteIdentityFile(path, ids[0]); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
	}
	if err := WriteIdentityFile(path, ids[1]); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("overwrite: err = %v, want fs.ErrExist", err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseIdentities(bytes.NewReader(b))
	if err != nil || len(got) != 1 || got[0].SecretKey() != ids[0].SecretKey() {
		t.Fatalf("read back %v, %v", got, err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("directory holds %d entries, want 1 (temporary file left?)", len(entries))
	}
}

func TestIdentityNeverPrintsSecret(t *testing.T) {
	ids, _ := newIdentities(t, 1)
	secret := ids[0].SecretKey()
	if !strings.HasPrefix(secret, identityPrefix) {
		t.Fatalf("SecretKey = %.25q...", secret)
	}
	body := secret[len(identityPrefix) : len(identityPrefix)+20]
	type wrapper struct{ ID Identity }
	for _, f := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		for _, v := range []any{ids[0], &ids[0], wrapper{ids[0]}} {
			if s := fmt.Sprintf(f, v); strings.Contains(strings.ToUpper(s), body) {
				t.Errorf("Sprintf(%q, %T) leaks the secret key: %s", f, v, s)
			}
		}
	}
}

func TestFingerprint(t *testing.T) {
	_, rs := newIdentities(t, 2)
	a, b := rs[0].Fingerprint(), rs[1].Fingerprint()
	if a == b {
		t.Fatal("two keys share a fingerprint")
	}
	if !strings.HasPrefix(a, "SHA256:") || len(a) != 50 {
		t.Fatalf("fingerprint %q: want SHA256: and 43 characters", a)
	}
	again, err := ParseRecipient(rs[0].String())
	if err != nil {
		t.Fatal(err)
	}
	if again.Fingerprint() != a {
		t.Fatal("fingerprint not stable across parsing")
	}
}
