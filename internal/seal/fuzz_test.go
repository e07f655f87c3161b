package seal

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzOpenRequest feeds arbitrary bodies to OpenRequest. It must never
// panic, and must open nothing but the vector's own sealed request.
func FuzzOpenRequest(f *testing.F) {
	v := loadVector(f)
	k, err := v.serverKey()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(v.SealedRequest)
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := k.OpenRequest(data, v.Method, v.Path, v.guard())
		if err != nil {
			if req != nil {
				t.Fatal("a request and an error")
			}
			return
		}
		if !bytes.Equal(data, v.SealedRequest) {
			t.Fatalf("opened a request that is not the vector's: %q", req.Body)
		}
	})
}

// FuzzOpenFrames feeds arbitrary streams to a response reader. It must
// never panic, must release only a prefix of the vector's plaintext, and
// must succeed only on the vector's own stream.
func FuzzOpenFrames(f *testing.F) {
	v := loadVector(f)
	rk, err := v.responseKey()
	if err != nil {
		f.Fatal(err)
	}
	want := v.responsePlaintext()
	f.Add(v.SealedResponse)
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := rk.OpenResponse(bytes.NewReader(data))
		if err != nil {
			return
		}
		got, err := io.ReadAll(r)
		if !bytes.HasPrefix(want, got) {
			t.Fatalf("released unauthenticated data %q", got)
		}
		if err == nil && !bytes.Equal(data, v.SealedResponse) {
			t.Fatal("opened a stream that is not the vector's")
		}
		if err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupportedVersion) {
			t.Fatalf("unclassified error %v", err)
		}
	})
}

// FuzzOpen feeds arbitrary blobs to Open (age parsing, via age itself).
func FuzzOpen(f *testing.F) {
	v := loadVector(f)
	id, err := ParseIdentity(v.AgeIdentity)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(v.AgeSealed)
	f.Fuzz(func(t *testing.T, data []byte) {
		pt, err := Open(data, id)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrNoIdentity) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		if string(pt) != v.AgePlaintext {
			t.Fatalf("opened %q, not the vector's plaintext", pt)
		}
	})
}
