package builtin

import (
	"strings"
	"unicode/utf8"

	"github.com/silo-ai/silo/internal/engine"
)

// streamer turns token pieces into chunks of text: it emits only complete
// UTF-8 (a character split across tokens waits for its last byte), holds
// back text that may be the start of a stop string, and ends the stream at
// the first stop string, which is not emitted.
type streamer struct {
	stops   []string
	maxStop int
	pending []byte // bytes not yet emitted (incomplete UTF-8 or a possible stop prefix)
	lps     []engine.TokenLogprob
	stopped bool
}

func newStreamer(stops []string) *streamer {
	s := &streamer{}
	for _, st := range stops {
		if st != "" {
			s.stops = append(s.stops, st)
			s.maxStop = max(s.maxStop, len(st))
		}
	}
	return s
}

// push adds one token's bytes (and its log probability, if any) and
// returns the chunk to emit now, if any. After a stop string was seen it
// returns the text before it and reports stopped.
func (s *streamer) push(piece []byte, lp *engine.TokenLogprob) (c engine.Chunk, ok bool) {
	if s.stopped {
		return c, false
	}
	s.pending = append(s.pending, piece...)
	if lp != nil {
		s.lps = append(s.lps, *lp)
	}
	// Complete UTF-8 prefix.
	n := validPrefix(s.pending)
	text := string(s.pending[:n])
	if i, _ := s.findStop(text); i >= 0 {
		s.stopped = true
		s.pending = s.pending[:0]
		return s.chunk(text[:i])
	}
	// Hold back a suffix that could begin a stop string.
	hold := s.stopPrefixLen(text)
	emit := text[:len(text)-hold]
	s.pending = append(s.pending[:0], s.pending[len(emit):]...)
	return s.chunk(emit)
}

// flush returns whatever is still held at the end of generation. Bytes of an
// incomplete UTF-8 sequence are emitted as U+FFFD.
func (s *streamer) flush() (engine.Chunk, bool) {
	if s.stopped {
		return engine.Chunk{}, false
	}
	text := strings.ToValidUTF8(string(s.pending), "\uFFFD")
	s.pending = s.pending[:0]
	return s.chunk(text)
}

func (s *streamer) chunk(text string) (engine.Chunk, bool) {
	if text == "" {
		// Logprobs wait for the text they belong to.
		return engine.Chunk{}, false
	}
	c := engine.Chunk{Text: strings.ToValidUTF8(text, "\uFFFD"), Logprobs: s.lps}
	s.lps = nil
	return c, true
}

func (s *streamer) findStop(text string) (int, string) {
	best, which := -1, ""
	for _, st := range s.stops {
		if i := strings.Index(text, st); i >= 0 && (best < 0 || i < best) {
			best, which = i, st
		}
	}
	return best, which
}

// stopPrefixLen returns the length of the longest suffix of text that is a
// proper prefix of a stop string.
func (s *streamer) stopPrefixLen(text string) int {
	for n := min(len(text), s.maxStop-1); n > 0; n-- {
		suf := text[len(text)-n:]
		for _, st := range s.stops {
			if strings.HasPrefix(st, suf) {
				return n
			}
		}
	}
	return 0
}

// validPrefix returns the length of the longest prefix of b that does not
// end inside a UTF-8 sequence that more bytes could complete.
func validPrefix(b []byte) int {
	// Look back at most 3 bytes for the start of an incomplete sequence.
	for back := 1; back <= min(3, len(b)); back++ {
		c := b[len(b)-back]
		if c < 0x80 {
			return len(b) // ASCII: complete
		}
		if c >= 0xC0 { // a lead byte
			need := 0
			switch {
			case c >= 0xF0:
				need = 4
			case c >= 0xE0:
				need = 3
			default:
				need = 2
			}
			if back < need && !utf8.FullRune(b[len(b)-back:]) {
				return len(b) - back
			}
			return len(b)
		}
	}
	return len(b)
}
