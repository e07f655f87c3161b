package seal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
)

// exchange seals a request and returns the server's view and the client's key.
func exchange(t testing.TB) (*Request, *ResponseKey) {
	t.Helper()
	k := newServerKey(t)
	sealed, rk, err := SealRequest(k.PublicKey(), testBody, testMethod, testPath)
	if err != nil {
		t.Fatal(err)
	}
	req, err := k.OpenRequest(sealed, testMethod, testPath, newGuard())
	if err != nil {
		t.Fatal(err)
	}
	return req, rk
}

func sealStream(t testing.TB, req *Request, writes ...[]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := req.SealResponse(&buf)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range writes {
		n, err := w.Write(p)
		if err != nil || n != len(p) {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// openStream reads a sealed response and returns what it released.
func openStream(rk *ResponseKey, stream []byte) ([]byte, error) {
	r, err := rk.OpenResponse(bytes.NewReader(stream))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

type flushRecorder struct {
	bytes.Buffer
	flushes int
}

func (f *flushRecorder) Flush() { f.flushes++ }

func TestResponseRoundTrip(t *testing.T) {
	req, rk := exchange(t)
	big := pattern(3*MaxFrameData + 5)
	for name, writes := range map[string][][]byte{
		"nothing":  nil,
		"empty":    {{}},
		"events":   {[]byte("data: a\n\n"), []byte("data: b\n\n"), []byte("data: [DONE]\n\n")},
		"big":      {big},
		"boundary": {pattern(MaxFrameData), pattern(1)},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := openStream(rk, sealStream(t, req, writes...))
			if err != nil {
				t.Fatal(err)
			}
			if want := bytes.Join(writes, nil); !bytes.Equal(got, want) {
				t.Fatalf("got %d bytes, want %d", len(got), len(want))
			}
		})
	}

	var rec flushRecorder
	w, err := req.SealResponse(&rec)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("x"))
	w.Write([]byte("y"))
	if rec.flushes != 2 {
		t.Fatalf("%d flushes after 2 writes, want 2", rec.flushes)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("z")); err == nil {
		t.Fatal("Write after Close succeeded")
	}
	if err := w.Close(); err == nil {
		t.Fatal("second Close succeeded")
	}
}

func TestResponseOtherKeyFails(t *testing.T) {
	req, _ := exchange(t)
	_, otherRK := exchange(t)
	stream := sealStream(t, req, []byte("for someone else"))
	if got, err := openStream(otherRK, stream); !errors.Is(err, ErrCorrupt) || len(got) != 0 {
		t.Fatalf("other response key: released %q, err = %v", got, err)
	}
}

func TestResponseTamperEveryByte(t *testing.T) {
	req, rk := exchange(t)
	msg := [][]byte{[]byte("data: one\n\n"), []byte("data: two\n\n")}
	stream := sealStream(t, req, msg...)
	want := bytes.Join(msg, nil)
	for i := range stream {
		bad := bytes.Clone(stream)
		bad[i] ^= 0x01
		got, err := openStream(rk, bad)
		if err == nil {
			t.Fatalf("flipped byte %d: opened", i)
		}
		if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupportedVersion) {
			t.Fatalf("flipped byte %d: err = %v, want ErrCorrupt", i, err)
		}
		if !bytes.HasPrefix(want, got) {
			t.Fatalf("flipped byte %d: released unauthenticated data %q", i, got)
		}
	}
	if got, err := openStream(rk, append(bytes.Clone(stream), 0)); !errors.Is(err, ErrCorrupt) || !bytes.Equal(got, want) {
		t.Fatalf("trailing byte: released %q, err = %v", got, err)
	}
}

func TestResponseTruncated(t *testing.T) {
	req, rk := exchange(t)
	msg := [][]byte{[]byte("data: one\n\n"), []byte("data: two\n\n"), []byte("data: [DONE]\n\n")}
	stream := sealStream(t, req, msg...)
	want := bytes.Join(msg, nil)
	for n := range len(stream) {
		got, err := openStream(rk, stream[:n])
		if !errors.Is(err, ErrTruncated) || !errors.Is(err, ErrCorrupt) {
			t.Fatalf("cut at %d of %d: err = %v, want ErrTruncated", n, len(stream), err)
		}
		if !bytes.HasPrefix(want, got) {
			t.Fatalf("cut at %d: released %q", n, got)
		}
	}

	// A server that never calls Close: all data, then truncation.
	var buf bytes.Buffer
	w, err := req.SealResponse(&buf)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(want)
	if got, err := openStream(rk, buf.Bytes()); !errors.Is(err, ErrTruncated) || !bytes.Equal(got, want) {
		t.Fatalf("unclosed stream: released %q, err = %v", got, err)
	}
}

// frames splits a sealed response into header and frames.
func frames(t *testing.T, stream []byte) (hdr []byte, fs [][]byte) {
	t.Helper()
	hdr, rest := stream[:1+EncSize], stream[1+EncSize:]
	for len(rest) > 0 {
		n := 4 + int(binary.BigEndian.Uint32(rest))
		fs = append(fs, rest[:n])
		rest = rest[n:]
	}
	return hdr, fs
}

func TestResponseFramesReorderedOrDropped(t *testing.T) {
	req, rk := exchange(t)
	stream := sealStream(t, req, []byte("a"), []byte("b"), []byte("c"))
	hdr, fs := frames(t, stream)
	if len(fs) != 4 {
		t.Fatalf("%d frames, want 3 and a final one", len(fs))
	}
	for name, order := range map[string][]int{
		"swapped":        {1, 0, 2, 3},
		"dropped":        {0, 2, 3},
		"duplicated":     {0, 0, 1, 2, 3},
		"final early":    {0, 3},
		"final repeated": {0, 1, 2, 3, 3},
	} {
		s := bytes.Clone(hdr)
		for _, i := range order {
			s = append(s, fs[i]...)
		}
		if _, err := openStream(rk, s); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: err = %v, want ErrCorrupt", name, err)
		}
	}
}

func TestResponseWriterError(t *testing.T) {
	req, _ := exchange(t)
	boom := errors.New("broken pipe")
	w, err := req.SealResponse(&errWriter{after: 1, err: boom})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("x")); !errors.Is(err, boom) {
		t.Fatalf("Write err = %v, want the writer's error", err)
	}
	if err := w.Close(); !errors.Is(err, boom) {
		t.Fatalf("Close err = %v, want the writer's error", err)
	}
	if _, err := req.SealResponse(&errWriter{err: boom}); !errors.Is(err, boom) {
		t.Fatalf("SealResponse err = %v, want the writer's error", err)
	}
}

type errWriter struct {
	after int
	err   error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.after <= 0 {
		return 0, e.err
	}
	e.after--
	return len(p), nil
}
