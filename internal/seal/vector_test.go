package seal

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/vector_v1.json and the fuzz seed corpora")

const vectorFile = "testdata/vector_v1.json"

// vector is a reference exchange for other implementations (and for this
// one, to keep reading what older versions wrote). Its keys are test keys.
type vector struct {
	Comment string `json:"comment"`

	ServerKeyPEM      string   `json:"server_key_pem"`
	ServerPublicKey   []byte   `json:"server_public_key"`
	ServerFingerprint string   `json:"server_fingerprint"`
	Method            string   `json:"method"`
	Path              string   `json:"path"`
	Body              string   `json:"body"` // the JSON body, verbatim
	RequestID         string   `json:"request_id"`
	TimestampMS       int64    `json:"timestamp_ms"`
	ResponsePrivate   []byte   `json:"response_private_key"`
	SealedRequest     []byte   `json:"sealed_request"`
	ResponseWrites    []string `json:"response_writes"`
	SealedResponse    []byte   `json:"sealed_response"`

	AgeIdentity    string `json:"age_identity"`
	AgeRecipient   string `json:"age_recipient"`
	AgeFingerprint string `json:"age_recipient_fingerprint"`
	AgePlaintext   string `json:"age_plaintext"`
	AgeSealed      []byte `json:"age_sealed"`
}

func (v *vector) responsePlaintext() []byte {
	var b []byte
	for _, w := range v.ResponseWrites {
		b = append(b, w...)
	}
	return b
}

func (v *vector) serverKey() (*ServerKey, error) { return parseServerKey([]byte(v.ServerKeyPEM)) }

func (v *vector) responseKey() (*ResponseKey, error) {
	priv, err := kem().NewPrivateKey(v.ResponsePrivate)
	if err != nil {
		return nil, err
	}
	id, err := base64.RawURLEncoding.DecodeString(v.RequestID)
	if err != nil {
		return nil, err
	}
	return &ResponseKey{priv: priv, id: id}, nil
}

// guard returns a guard whose clock stands at the vector's timestamp.
func (v *vector) guard() *ReplayGuard {
	g := NewReplayGuard(time.Minute, 10)
	g.now = func() time.Time { return time.UnixMilli(v.TimestampMS) }
	return g
}

func loadVector(tb testing.TB) *vector {
	tb.Helper()
	b, err := os.ReadFile(vectorFile)
	if err != nil {
		tb.Fatal(err)
	}
	var v vector
	if err := json.Unmarshal(b, &v); err != nil {
		tb.Fatal(err)
	}
	return &v
}

func makeVector(t *testing.T) *vector {
	k := newServerKey(t)
	pemKey, err := k.marshal()
	if err != nil {
		t.Fatal(err)
	}
	v := &vector{
		Comment:           "silo seal v1 reference vector; all keys here are test keys. Byte fields are standard base64.",
		ServerKeyPEM:      string(pemKey),
		ServerPublicKey:   k.PublicKey(),
		ServerFingerprint: k.Fingerprint(),
		Method:            testMethod,
		Path:              testPath,
		Body:              string(testBody),
		TimestampMS:       time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).UnixMilli(),
		ResponseWrites:    []string{"data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n", "data: {\"choices\":[{\"delta\":{\"content\":\"lo\"}}]}\n\n", "data: [DONE]\n\n"},
	}
	sealed, rk, err := sealRequestAt(k.PublicKey(), testBody, testMethod, testPath, time.UnixMilli(v.TimestampMS))
	if err != nil {
		t.Fatal(err)
	}
	v.SealedRequest, v.RequestID = sealed, rk.RequestID()
	if v.ResponsePrivate, err = rk.priv.Bytes(); err != nil {
		t.Fatal(err)
	}
	req, err := k.OpenRequest(sealed, v.Method, v.Path, v.guard())
	if err != nil {
		t.Fatal(err)
	}
	var writes [][]byte
	for _, w := range v.ResponseWrites {
		writes = append(writes, []byte(w))
	}
	v.SealedResponse = sealStream(t, req, writes...)

	id, err := GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	v.AgeIdentity, v.AgeRecipient = id.SecretKey(), id.Recipient().String()
	v.AgeFingerprint = id.Recipient().Fingerprint()
	v.AgePlaintext = "a stored chat message"
	if v.AgeSealed, err = Seal([]byte(v.AgePlaintext), []Recipient{id.Recipient()}); err != nil {
		t.Fatal(err)
	}
	return v
}

func writeCorpus(t *testing.T, name string, seeds map[string][]byte) {
	dir := filepath.Join("testdata", "fuzz", name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for file, b := range seeds {
		data := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if err := os.WriteFile(filepath.Join(dir, file), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func flip(b []byte, i int) []byte {
	b = bytes.Clone(b)
	b[i] ^= 0x01
	return b
}

// TestVector checks that the reference vector still opens. With -update it
// makes a new vector and seed corpora first.
func TestVector(t *testing.T) {
	if *update {
		v := makeVector(t)
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(vectorFile, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		writeCorpus(t, "FuzzOpenRequest", map[string][]byte{
			"valid":     v.SealedRequest,
			"truncated": v.SealedRequest[:len(v.SealedRequest)-1],
			"flipped":   flip(v.SealedRequest, len(v.SealedRequest)/2),
			"header":    v.SealedRequest[:1+EncSize],
			"empty":     {},
		})
		writeCorpus(t, "FuzzOpenFrames", map[string][]byte{
			"valid":     v.SealedResponse,
			"truncated": v.SealedResponse[:len(v.SealedResponse)-5],
			"flipped":   flip(v.SealedResponse, len(v.SealedResponse)-3),
			"trailing":  append(bytes.Clone(v.SealedResponse), 0),
			"header":    v.SealedResponse[:1+EncSize],
		})
		writeCorpus(t, "FuzzOpen", map[string][]byte{
			"valid":     v.AgeSealed,
			"truncated": v.AgeSealed[:len(v.AgeSealed)-1],
			"flipped":   flip(v.AgeSealed, len(v.AgeSealed)-3),
		})
	}
	v := loadVector(t)

	k, err := v.serverKey()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(k.PublicKey(), v.ServerPublicKey) || k.Fingerprint() != v.ServerFingerprint {
		t.Fatal("server key in the vector does not match its public key or fingerprint")
	}
	req, err := k.OpenRequest(v.SealedRequest, v.Method, v.Path, v.guard())
	if err != nil {
		t.Fatal(err)
	}
	if string(req.Body) != v.Body || req.ID != v.RequestID || req.Time.UnixMilli() != v.TimestampMS {
		t.Fatalf("opened request %+v does not match the vector", req)
	}
	rk, err := v.responseKey()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(req.respKey.Bytes(), rk.priv.PublicKey().Bytes()) {
		t.Fatal("response key in the request does not match the vector's")
	}
	got, err := openStream(rk, v.SealedResponse)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, v.responsePlaintext()) {
		t.Fatalf("response %q", got)
	}

	id, err := ParseIdentity(v.AgeIdentity)
	if err != nil {
		t.Fatal(err)
	}
	if id.Recipient().String() != v.AgeRecipient || id.Recipient().Fingerprint() != v.AgeFingerprint {
		t.Fatal("age identity does not match the vector's recipient or fingerprint")
	}
	pt, err := Open(v.AgeSealed, id)
	if err != nil || string(pt) != v.AgePlaintext {
		t.Fatalf("Open(vector) = %q, %v", pt, err)
	}
}
