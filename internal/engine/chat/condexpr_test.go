package chat

import (
	"testing"
)

func TestRewriteConditionals(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{{ 'a' + (x if c else "") }}`, `{{ 'a' + (((c) and [x] or [""])[0]) }}`},
		{`{{ x if c else y }}`, `{{ x if c else y }}`}, // gonja parses this itself
		{`{{ f(a if b else c, d) }}`, `{{ f(((b) and [a] or [c])[0], d) }}`},
		{`{{ f(k=a if b else c) }}`, `{{ f(k=((b) and [a] or [c])[0]) }}`},
		{`{{ (a if b else c if d else e) }}`, `{{ (((b) and [a] or [((d) and [c] or [e])[0]])[0]) }}`},
		{`{{ (a if b) }}`, `{{ (((b) and [a] or [` + undefinedName + `])[0]) }}`},
		{`{{ ("if" + iffy) }}`, `{{ ("if" + iffy) }}`},
		{`{% for x in (xs if c else ys) %}`, `{% for x in (((c) and [xs] or [ys])[0]) %}`},
		{`{% for x in xs if x %}`, `{% for x in xs if x %}`},
		{`text (a if b else c) {# (a if b else c) #}`, `text (a if b else c) {# (a if b else c) #}`},
		{`{% raw %}{{ (a if b else c) }}{% endraw %}`, `{% raw %}{{ (a if b else c) }}{% endraw %}`},
		{`{{ "}}" + (a if b else c) }}`, `{{ "}}" + (((b) and [a] or [c])[0]) }}`},
		{`{{ (a if b else c`, `{{ (a if b else c`},
	}
	for _, tt := range tests {
		if got := rewriteConditionals(tt.in); got != tt.want {
			t.Errorf("rewriteConditionals(%q)\n got %q\nwant %q", tt.in, got, tt.want)
		}
	}
}

// TestConditionalExpressions renders the rewritten forms; the expected
// strings are what Python Jinja2 renders for the same templates.
func TestConditionalExpressions(t *testing.T) {
	tests := []struct{ tmpl, want string }{
		{`{{ '<' + (messages[0].role if messages else 'none') + '>' }}`, "<user>"},
		{`{% for m in messages %}{{ (m.content if loop.first else '-') }}{% endfor %}`, "hi-"},
		// Only the chosen branch is evaluated: the other would fail.
		{`{{ ('ok' if messages|length < 5 else messages[7].content.strip()) }}`, "ok"},
		{`{{ [1 if false else 2, 3] | join(',') }}`, "2,3"},
		{`{{ ('' if true else 'x') | length }}`, "0"},
		{`{{ (0 if true else 1) }}`, "0"},
		{`[{{ ('a' if false) }}]`, "[]"},
		{`{{ ('a' if false else 'b' if false else 'c') }}`, "c"},
	}
	msgs := []Message{{Role: "user", Content: "hi"}, {Role: "assistant", Content: "hello"}}
	for _, tt := range tests {
		got, err := Render(tt.tmpl, msgs, Options{})
		if err != nil {
			t.Errorf("%s: %v", tt.tmpl, err)
			continue
		}
		if got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.tmpl, got, tt.want)
		}
	}
}
