package builtin

import (
	"errors"
	"fmt"

	"github.com/silo-ai/silo/internal/engine"
	"github.com/silo-ai/silo/internal/engine/chat"
)

const imEnd = "<|im_end|>"

// compileTemplate parses the model's chat template once at load; nil means
// ChatML (no template, or one that cannot be parsed).
func (m *model) compileTemplate() {
	src := m.tok.Vocab().ChatTemplate
	if src == "" {
		return
	}
	t, err := chat.Compile(src)
	if err != nil {
		m.log.Warn("builtin: chat template cannot be parsed; using ChatML", "model", m.name, "err", err)
		return
	}
	m.tmpl = t
}

func (m *model) tokenText(id int32) string {
	v := m.tok.Vocab()
	if id < 0 || int(id) >= len(v.Tokens) {
		return ""
	}
	return v.Tokens[id]
}

// promptText returns the text to tokenize for req and any stop strings the
// format implies.
func (m *model) promptText(req *engine.Request) (string, []string, error) {
	if req.Prompt != "" {
		return req.Prompt, nil, nil
	}
	msgs := make([]chat.Message, len(req.Messages))
	for i, msg := range req.Messages {
		switch msg.Role {
		case "system", "user", "assistant", "tool", "developer":
		default:
			return "", nil, fmt.Errorf("builtin: message %d: unknown role %q: %w", i, msg.Role, engine.ErrInvalidRequest)
		}
		msgs[i] = chat.Message{Role: msg.Role, Content: msg.Content}
	}
	opts := chat.Options{AddGenerationPrompt: true, BOSToken: m.tokenText(m.tok.BOS()), EOSToken: m.tokenText(m.tok.EOS())}
	if m.tmpl != nil {
		text, err := m.tmpl.Render(msgs, opts)
		if err == nil {
			return text, nil, nil
		}
		if errors.Is(err, chat.ErrRejected) {
			return "", nil, fmt.Errorf("builtin: %w: %w", engine.ErrInvalidRequest, err)
		}
		m.log.Warn("builtin: chat template failed; using ChatML", "model", m.name, "err", err)
	}
	var stops []string
	if ids := m.tok.Encode(imEnd, true); len(ids) != 1 || !m.tok.IsEOG(ids[0]) {
		// The vocabulary has no <|im_end|> end-of-turn token: stop on its text.
		stops = append(stops, imEnd)
	}
	return chat.RenderChatML(msgs, opts), stops, nil
}
