package builtin

import (
	"strings"
	"testing"

	"github.com/silo-ai/silo/internal/engine"
)

func TestStreamer(t *testing.T) {
	tests := []struct {
		name    string
		stops   []string
		pieces  []string
		want    []string // emitted chunks
		stopped bool
	}{
		{"plain", nil, []string{"Hel", "lo"}, []string{"Hel", "lo"}, false},
		{"split rune", nil, []string{"a\xe2", "\x82", "\xac b"}, []string{"a", "€ b"}, false},
		{"split 4-byte rune", nil, []string{"\xf0\x9f", "\x98", "\x80!"}, []string{"😀!"}, false},
		{"stop in one piece", []string{"END"}, []string{"abc END def"}, []string{"abc "}, true},
		{"stop across pieces", []string{"END"}, []string{"abc E", "N", "D more"}, []string{"abc ", ""}, true},
		{"false stop prefix", []string{"END"}, []string{"abc E", "NX"}, []string{"abc ", "ENX"}, false},
		{"stop at start", []string{"x"}, []string{"xyz"}, nil, true},
		{"earliest stop wins", []string{"cd", "b"}, []string{"abcd"}, []string{"a"}, true},
		{"incomplete at end", nil, []string{"ok\xe2\x82"}, []string{"ok", "\uFFFD"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStreamer(tc.stops)
			var got []string
			for _, p := range tc.pieces {
				if c, ok := s.push([]byte(p), nil); ok {
					got = append(got, c.Text)
				}
				if s.stopped {
					break
				}
			}
			if c, ok := s.flush(); ok {
				got = append(got, c.Text)
			}
			wantNonEmpty := []string{}
			for _, w := range tc.want {
				if w != "" {
					wantNonEmpty = append(wantNonEmpty, w)
				}
			}
			if strings.Join(got, "|") != strings.Join(wantNonEmpty, "|") || s.stopped != tc.stopped {
				t.Errorf("chunks %q stopped %v, want %q stopped %v", got, s.stopped, wantNonEmpty, tc.stopped)
			}
		})
	}
}

func TestStreamerLogprobs(t *testing.T) {
	s := newStreamer(nil)
	lp := func(tok string) *engine.TokenLogprob { return &engine.TokenLogprob{Token: tok} }
	if _, ok := s.push([]byte("\xe2"), lp("a")); ok {
		t.Fatal("emitted an incomplete rune")
	}
	c, ok := s.push([]byte("\x82\xac"), lp("b"))
	if !ok || c.Text != "€" || len(c.Logprobs) != 2 {
		t.Fatalf("chunk %+v, want € with both logprobs", c)
	}
}
