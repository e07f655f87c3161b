package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"fmt"
	"strings"
	"testing"
)

var benchSizes = []struct {
	name string
	n    int
}{{"1KiB", 1 << 10}, {"64KiB", 64 << 10}}

// BenchmarkAtRest measures Seal and Open for 1 KiB and 64 KiB messages to
// 1, 3 and 10 recipients, beside raw AES-256-GCM on the same sizes in the
// same run, so the cost of sealing reads as a ratio. Open uses the identity
// of the last recipient, the worst case: age tries each stanza in turn.
//
//	go test ./internal/seal -run '^$' -bench AtRest
func BenchmarkAtRest(b *testing.B) {
	for _, size := range benchSizes {
		msg := pattern(size.n)
		b.Run(size.name+"/aes256gcm/seal", func(b *testing.B) {
			aead, nonce := benchAEAD(b)
			out := make([]byte, 0, size.n+aead.Overhead())
			b.SetBytes(int64(size.n))
			for b.Loop() {
				out = aead.Seal(out[:0], nonce, msg, nil)
			}
		})
		b.Run(size.name+"/aes256gcm/open", func(b *testing.B) {
			aead, nonce := benchAEAD(b)
			ct := aead.Seal(nil, nonce, msg, nil)
			out := make([]byte, 0, size.n)
			b.SetBytes(int64(size.n))
			for b.Loop() {
				var err error
				if out, err = aead.Open(out[:0], nonce, ct, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
		for _, n := range []int{1, 3, 10} {
			ids, rs := newIdentities(b, n)
			b.Run(fmt.Sprintf("%s/recipients=%d/seal", size.name, n), func(b *testing.B) {
				b.SetBytes(int64(size.n))
				for b.Loop() {
					if _, err := Seal(msg, rs); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run(fmt.Sprintf("%s/recipients=%d/open", size.name, n), func(b *testing.B) {
				sealed, err := Seal(msg, rs)
				if err != nil {
					b.Fatal(err)
				}
				b.SetBytes(int64(size.n))
				for b.Loop() {
					if _, err := Open(sealed, ids[n-1]); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkInTransit measures sealing a request, opening it, and a response
// of one frame, for the same sizes.
func BenchmarkInTransit(b *testing.B) {
	k := newServerKey(b)
	for _, size := range benchSizes {
		// A JSON body of exactly size.n bytes.
		body := []byte(`{"pad":"` + strings.Repeat("a", size.n-len(`{"pad":""}`)) + `"}`)
		b.Run(size.name+"/request/seal", func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, _, err := SealRequest(k.PublicKey(), body, testMethod, testPath); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(size.name+"/request/open", func(b *testing.B) {
			sealed, _, err := SealRequest(k.PublicKey(), body, testMethod, testPath)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := k.openRequest(sealed, testMethod, testPath); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(size.name+"/response/frame", func(b *testing.B) {
			req, _ := exchange(b)
			w, err := req.SealResponse(discard{})
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(size.n))
			for b.Loop() {
				if _, err := w.Write(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func benchAEAD(b *testing.B) (cipher.AEAD, []byte) {
	key := make([]byte, 32)
	rand.Read(key)
	blk, err := aes.NewCipher(key)
	if err != nil {
		b.Fatal(err)
	}
	aead, err := cipher.NewGCM(blk)
	if err != nil {
		b.Fatal(err)
	}
	return aead, make([]byte, aead.NonceSize())
}
