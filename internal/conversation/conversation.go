// Package conversation stores chats so that the server can write them but
// never read them back: every message is sealed (internal/seal, an age file
// to hybrid post-quantum recipients) before it reaches the store, and opened
// only on a client that holds a private key.
//
// # Who a message is sealed to
//
// A message of user U is sealed, at the moment it is written, to U's live
// device keys, the organisation's live admin key and every live backup key
// (store.Store.SealRecipients, one consistent read). A revoked key is left
// out of everything written after its revocation. Without a live admin key
// nothing is stored ([ErrNoAdminKey]), so every stored message opens with
// the admin key and an export always works. The sorted fingerprints of the
// recipients are stored beside the blob (see the seal package doc on why
// they cannot be read from the blob itself).
//
// # What is sealed
//
// The plaintext of each age file is one JSON object, [Message]:
//
//	{"conversation":"<uuid>","role":"user","content":"...","model":"...","time":"<RFC 3339>"}
//
// conversation binds the message to its conversation: [Open] refuses a blob
// the server moved from another conversation. The store keeps, in the
// clear, only the role, the position and the time of each message.
//
// The server side is [Keeper]; clients use [Open].
package conversation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/silo-ai/silo/internal/seal"
	"github.com/silo-ai/silo/internal/store"
)

// ErrNoAdminKey means the organisation's admin key is not set, so nothing
// can be stored yet (`silo admin init` sets it).
var ErrNoAdminKey = errors.New("conversation: the organisation admin key is not set")

// ErrWrongConversation means a sealed message opened but belongs to another
// conversation than the one it was listed under.
var ErrWrongConversation = errors.New("conversation: the message belongs to another conversation")

// Roles of stored messages.
const (
	RoleUser      = "user"
	RoleAssistant = "assistant"
)

// Message is the sealed plaintext of one stored message.
type Message struct {
	Conversation uuid.UUID `json:"conversation"`
	Role         string    `json:"role"`
	Content      string    `json:"content"`
	Model        string    `json:"model,omitempty"`
	Time         time.Time `json:"time"`
}

// Keeper seals messages on write. It holds no private key and cannot open
// what it stores.
type Keeper struct {
	st  store.Store
	now func() time.Time
}

// NewKeeper returns a Keeper writing to st.
func NewKeeper(st store.Store) *Keeper { return &Keeper{st: st, now: time.Now} }

// Recipients returns the keys a new message of the user is sealed to now,
// parsed, with ErrNoAdminKey when no admin key is live. A stored key that
// does not parse is an error: the store is trusted to hold what the API
// checked.
func (k *Keeper) Recipients(ctx context.Context, userID uuid.UUID) ([]seal.Recipient, error) {
	keys, err := k.st.SealRecipients(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("conversation: recipients: %w", err)
	}
	admin := false
	rs := make([]seal.Recipient, 0, len(keys))
	for _, key := range keys {
		r, err := seal.ParseRecipient(key.Recipient)
		if err != nil {
			return nil, fmt.Errorf("conversation: recipients: stored key %s: %w", key.ID, err)
		}
		admin = admin || key.Kind == store.SealKeyAdmin
		rs = append(rs, r)
	}
	if !admin {
		return nil, ErrNoAdminKey
	}
	return rs, nil
}

// Append seals msgs to the current recipients of the conversation's owner
// and appends them to it in one transaction. Conversation and Time of each
// message are set here. Neither errors nor anything else this method
// produces carry message content.
func (k *Keeper) Append(ctx context.Context, c *store.Conversation, msgs []Message) ([]*store.SealedMessage, error) {
	rs, err := k.Recipients(ctx, c.UserID)
	if err != nil {
		return nil, err
	}
	fps := seal.Fingerprints(rs)
	now := k.now().UTC().Truncate(time.Microsecond)
	out := make([]*store.SealedMessage, len(msgs))
	for i, m := range msgs {
		if m.Role != RoleUser && m.Role != RoleAssistant {
			return nil, fmt.Errorf("conversation: append: role %q is neither user nor assistant", m.Role)
		}
		m.Conversation, m.Time = c.ID, now
		pt, err := json.Marshal(m)
		if err != nil {
			return nil, fmt.Errorf("conversation: append: %w", err)
		}
		blob, err := seal.Seal(pt, rs)
		clear(pt)
		if err != nil {
			return nil, fmt.Errorf("conversation: append: %w", err)
		}
		out[i] = &store.SealedMessage{Role: m.Role, Sealed: blob, Recipients: fps, CreatedAt: now}
	}
	if err := k.st.AppendMessages(ctx, c.ID, out); err != nil {
		return nil, fmt.Errorf("conversation: append: %w", err)
	}
	return out, nil
}

// Open opens a sealed message listed under conversation conv with any of
// ids. It returns seal.ErrNoIdentity when none of them is a recipient,
// seal.ErrCorrupt for damaged data, and ErrWrongConversation when the
// message was sealed for another conversation or its role differs from
// the stored one (pass "" to skip that check).
func Open(sealed []byte, conv uuid.UUID, role string, ids ...seal.Identity) (Message, error) {
	pt, m, err := open(sealed, conv, role, ids)
	clear(pt)
	return m, err
}

// open returns the plaintext and the message it holds.
func open(sealed []byte, conv uuid.UUID, role string, ids []seal.Identity) ([]byte, Message, error) {
	pt, err := seal.Open(sealed, ids...)
	if err != nil {
		return nil, Message{}, fmt.Errorf("conversation: open: %w", err)
	}
	var m Message
	if err := json.Unmarshal(pt, &m); err != nil {
		return pt, Message{}, fmt.Errorf("conversation: open: sealed plaintext is not a message: %w", seal.ErrCorrupt)
	}
	if m.Conversation != conv || (role != "" && m.Role != role) {
		return pt, Message{}, ErrWrongConversation
	}
	return pt, m, nil
}

// ErrAdminNotRecipient means a reseal was asked for without the admin's own
// key among the new recipients: the admin could not check the result, and
// could not open it again.
var ErrAdminNotRecipient = errors.New("conversation: the admin key is not among the new recipients")

// Reseal is the client side of a rewrap (run on the admin's machine, as
// only a private key opens old data): it opens a stored message with the
// admin identity (or one of the previous admin identities, for messages
// sealed before the admin key was replaced), checks it belongs to
// conversation conv with role role, seals the same plaintext to the
// recipients to, and checks the new blob opens with the admin identity
// before returning it, so a stored reseal never leaves a message that no
// live key opens.
func Reseal(sealed []byte, conv uuid.UUID, role string, admin seal.Identity, to []seal.Recipient, previous ...seal.Identity) ([]byte, error) {
	adminFP := admin.Recipient().Fingerprint()
	if !slices.Contains(seal.Fingerprints(to), adminFP) {
		return nil, ErrAdminNotRecipient
	}
	pt, _, err := open(sealed, conv, role, append([]seal.Identity{admin}, previous...))
	if err != nil {
		clear(pt)
		return nil, err
	}
	defer clear(pt)
	blob, err := seal.Seal(pt, to)
	if err != nil {
		return nil, fmt.Errorf("conversation: reseal: %w", err)
	}
	if _, err := Open(blob, conv, role, admin); err != nil {
		return nil, fmt.Errorf("conversation: reseal: the new blob does not open with the admin key: %w", err)
	}
	return blob, nil
}
