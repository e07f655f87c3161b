package builtin

import (
	"fmt"
	"strings"

	"github.com/silo-ai/silo/internal/engine"
)

const (
	imStart = "<|im_start|>"
	imEnd   = "<|im_end|>"
)

// chatML renders messages in the ChatML format, ending with the assistant
// turn's header.
func chatML(msgs []engine.Message) string {
	var b strings.Builder
	for _, m := range msgs {
		fmt.Fprintf(&b, "%s%s\n%s%s\n", imStart, m.Role, m.Content, imEnd)
	}
	b.WriteString(imStart + "assistant\n")
	return b.String()
}

// promptText returns the text to tokenize for req and any stop strings the
// format implies.
func (m *model) promptText(req *engine.Request) (string, []string, error) {
	if req.Prompt != "" {
		return req.Prompt, nil, nil
	}
	for i, msg := range req.Messages {
		switch msg.Role {
		case "system", "user", "assistant", "tool", "developer":
		default:
			return "", nil, fmt.Errorf("builtin: message %d: unknown role %q: %w", i, msg.Role, engine.ErrInvalidRequest)
		}
	}
	if text, ok := m.renderTemplate(req.Messages); ok {
		return text, nil, nil
	}
	var stops []string
	if ids := m.tok.Encode(imEnd, true); len(ids) != 1 || !m.tok.IsEOG(ids[0]) {
		// The vocabulary has no <|im_end|> end-of-turn token: stop on its text.
		stops = append(stops, imEnd)
	}
	return chatML(req.Messages), stops, nil
}
