package conversation_test

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/silo-ai/silo/internal/conversation"
	"github.com/silo-ai/silo/internal/seal"
	"github.com/silo-ai/silo/internal/store"
	"github.com/silo-ai/silo/internal/store/sqlite"
)

var benchSizes = []struct {
	name string
	n    int
}{{"1KiB", 1 << 10}, {"64KiB", 64 << 10}}

// BenchmarkSealedStore reports, for issue 4, the throughput of sealing and
// storing one message (conversation.Keeper.Append on SQLite) and of
// fetching and opening one (store.ListMessages + conversation.Open), for
// 1 KiB and 64 KiB messages sealed to 1, 3 and 10 recipients, beside raw
// AES-256-GCM over the same sizes in the same run, as the floor.
//
//	go test -run '^$' -bench SealedStore ./internal/conversation/
func BenchmarkSealedStore(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run("AESGCM/"+sz.name, func(b *testing.B) {
			key := make([]byte, 32)
			rand.Read(key)
			blk, _ := aes.NewCipher(key)
			gcm, _ := cipher.NewGCM(blk)
			msg := make([]byte, sz.n)
			nonce := make([]byte, gcm.NonceSize())
			out := make([]byte, 0, sz.n+gcm.Overhead())
			b.SetBytes(int64(sz.n))
			for b.Loop() {
				out = gcm.Seal(out[:0], nonce, msg, nil)
			}
		})
	}
	for _, nr := range []int{1, 3, 10} {
		env := newBenchEnv(b, nr)
		for _, sz := range benchSizes {
			content := string(randomText(sz.n))
			b.Run(fmt.Sprintf("SealStore/%s/recipients=%d", sz.name, nr), func(b *testing.B) {
				b.SetBytes(int64(sz.n))
				for b.Loop() {
					if _, err := env.keeper.Append(b.Context(), env.conv, []conversation.Message{{Role: "user", Content: content}}); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run(fmt.Sprintf("FetchOpen/%s/recipients=%d", sz.name, nr), func(b *testing.B) {
				// A conversation of its own, holding 16 messages of this size.
				c := &store.Conversation{UserID: env.conv.UserID}
				if err := env.st.CreateConversation(b.Context(), c); err != nil {
					b.Fatal(err)
				}
				const n = 16
				for range n {
					if _, err := env.keeper.Append(b.Context(), c, []conversation.Message{{Role: "user", Content: content}}); err != nil {
						b.Fatal(err)
					}
				}
				b.SetBytes(int64(sz.n))
				i := 0
				for b.Loop() {
					ms, err := env.st.ListMessages(b.Context(), c.ID, int64(i%n), 1)
					if err != nil || len(ms) != 1 {
						b.Fatal(len(ms), err)
					}
					// The identity tried is the last recipient the store lists,
					// so age walks every stanza before it (the worst case).
					m, err := conversation.Open(ms[0].Sealed, c.ID, "user", env.opener)
					if err != nil || len(m.Content) != sz.n {
						b.Fatal(err)
					}
					i++
				}
			})
		}
	}
}

type benchEnv struct {
	st     store.Store
	keeper *conversation.Keeper
	conv   *store.Conversation
	opener seal.Identity
}

// newBenchEnv makes a store where a user's messages are sealed to nr keys:
// the admin key and nr-1 backup keys.
func newBenchEnv(b *testing.B, nr int) *benchEnv {
	b.Helper()
	st, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "silo.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	u := &store.User{Name: "alice", Role: store.RoleUser}
	if err := st.CreateUser(b.Context(), u); err != nil {
		b.Fatal(err)
	}
	var last seal.Identity
	for i := range nr {
		id, err := seal.GenerateIdentity()
		if err != nil {
			b.Fatal(err)
		}
		kind := store.SealKeyBackup
		if i == 0 {
			kind = store.SealKeyAdmin
		}
		r := id.Recipient()
		k := &store.SealKey{Kind: kind, Name: fmt.Sprintf("k%d", i), Recipient: r.String(), Fingerprint: r.Fingerprint()}
		if err := st.CreateSealKey(b.Context(), k); err != nil {
			b.Fatal(err)
		}
		last = id
	}
	c := &store.Conversation{UserID: u.ID}
	if err := st.CreateConversation(b.Context(), c); err != nil {
		b.Fatal(err)
	}
	return &benchEnv{st: st, keeper: conversation.NewKeeper(st), conv: c, opener: last}
}

func randomText(n int) []byte {
	const letters = "abcdefghijklmnopqrstuvwxyz "
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		b[i] = letters[int(b[i])%len(letters)]
	}
	return b
}
