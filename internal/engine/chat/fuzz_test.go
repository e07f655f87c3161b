package chat

import (
	"errors"
	"testing"
)

// FuzzRender renders arbitrary template text (it comes from model files):
// no panic, and every failure is ErrTemplate or ErrRejected.
func FuzzRender(f *testing.F) {
	for _, s := range []string{
		`{% for m in messages %}{{ m.role }}: {{ m.content | trim }}{% endfor %}`,
		`{% set ns = namespace(x=1) %}{% set ns.x = ns.x + 1 %}{{ ns.x }}{{ messages[::-1][0].content.split()[0] }}`,
		`{{ raise_exception("no") }}`,
		`{% if messages[0]['role'] == 'system' %}{{ messages[0]['content'].strip() }}{% endif %}{{ bos_token }}`,
	} {
		f.Add(s)
	}
	msgs := []Message{{Role: "system", Content: "s"}, {Role: "user", Content: " hi there "}}
	f.Fuzz(func(t *testing.T, src string) {
		_, err := Render(src, msgs, Options{AddGenerationPrompt: true, BOSToken: "<s>"})
		if err != nil && !errors.Is(err, ErrTemplate) && !errors.Is(err, ErrRejected) {
			t.Fatalf("error %v is neither ErrTemplate nor ErrRejected", err)
		}
	})
}
