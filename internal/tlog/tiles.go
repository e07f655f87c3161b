package tlog

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"

	sumtlog "golang.org/x/mod/sumdb/tlog"
)

// TileHeight is the C2SP tlog-tiles tile height: a full tile holds 256
// hashes (or, for entry bundles, 256 entries).
const TileHeight = 8

const tileWidth = 1 << TileHeight

// Tile names a C2SP tlog-tiles resource. Level is -1 for an entry bundle
// (tile/entries/...), otherwise the hash tile level 0..63. Width is 1..256;
// a width below 256 is a partial tile (".p/<W>").
type Tile struct {
	Level int
	N     int64
	Width int
}

// maxTilePathLen bounds tile paths: "tile/entries/" + 7 elements + ".p/255".
const maxTilePathLen = 64

// ParseTilePath parses a C2SP tlog-tiles path relative to the log prefix:
// "tile/<L>/<N>[.p/<W>]" or "tile/entries/<N>[.p/<W>]", where <N> is written
// as zero-padded 3-digit elements, all but the last prefixed with "x", and
// <L> and <W> have no leading zeroes. Anything else is ErrMalformed.
func ParseTilePath(path string) (Tile, error) {
	bad := func(why string) (Tile, error) {
		return Tile{}, fmt.Errorf("tlog: parse tile path %q: %w: %s", path, ErrMalformed, why)
	}
	if len(path) > maxTilePathLen {
		return bad("too long")
	}
	rest, ok := strings.CutPrefix(path, "tile/")
	if !ok {
		return bad("not under tile/")
	}
	elems := strings.Split(rest, "/")
	if len(elems) < 2 {
		return bad("too short")
	}
	var t Tile
	if elems[0] == "entries" {
		t.Level = -1
	} else {
		l, ok := parseDecimal(elems[0], 63)
		if !ok {
			return bad("bad level")
		}
		t.Level = int(l)
	}
	elems = elems[1:]
	t.Width = tileWidth
	if n := len(elems); n >= 2 && strings.HasSuffix(elems[n-2], ".p") {
		w, ok := parseDecimal(elems[n-1], tileWidth-1)
		if !ok || w == 0 {
			return bad("bad partial width")
		}
		t.Width = int(w)
		elems[n-2] = strings.TrimSuffix(elems[n-2], ".p")
		elems = elems[:n-1]
	}
	for i, e := range elems {
		if i < len(elems)-1 {
			var ok bool
			if e, ok = strings.CutPrefix(e, "x"); !ok {
				return bad("index element without x prefix")
			}
		}
		if len(e) != 3 || e[0] < '0' || e[0] > '9' || e[1] < '0' || e[1] > '9' || e[2] < '0' || e[2] > '9' {
			return bad("index element is not three digits")
		}
		d := int64(e[0]-'0')*100 + int64(e[1]-'0')*10 + int64(e[2]-'0')
		if t.N > (1<<63-1-d)/1000 {
			return bad("index out of range")
		}
		t.N = t.N*1000 + d
	}
	if len(elems) > 1 && t.N < 1000 {
		// "x000/123" is a non-canonical spelling of "123".
		return bad("index has leading zero elements")
	}
	return t, nil
}

// parseDecimal parses a decimal with no leading zeroes and at most max.
func parseDecimal(s string, max int64) (int64, bool) {
	if s == "" || len(s) > 19 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	return v, err == nil && v <= max
}

// Path returns the C2SP tlog-tiles path of t.
func (t Tile) Path() string {
	var b strings.Builder
	b.WriteString("tile/")
	if t.Level < 0 {
		b.WriteString("entries")
	} else {
		b.WriteString(strconv.Itoa(t.Level))
	}
	b.WriteByte('/')
	n := t.N
	var elems []string
	for {
		elems = append(elems, fmt.Sprintf("%03d", n%1000))
		n /= 1000
		if n == 0 {
			break
		}
	}
	for i := len(elems) - 1; i >= 0; i-- {
		if i > 0 {
			b.WriteByte('x')
		}
		b.WriteString(elems[i])
		if i > 0 {
			b.WriteByte('/')
		}
	}
	if t.Width < tileWidth {
		fmt.Fprintf(&b, ".p/%d", t.Width)
	}
	return b.String()
}

// hashesAtLevel returns how many level-L tile hashes a tree of size holds.
func hashesAtLevel(size int64, level int) int64 {
	if level*TileHeight >= 63 {
		return 0
	}
	return size >> (uint(level) * TileHeight)
}

// ReadTile answers a C2SP tlog-tiles request path (relative to the log's
// prefix, e.g. "checkpoint" or "tile/0/x001/234.p/7"): the signed checkpoint,
// a hash tile, or an entry bundle of big-endian uint16 length-prefixed
// records. A tile that is not (yet) covered by the current tree is
// ErrNotFound; a malformed path is ErrMalformed. Any full or partial tile
// within the tree is served, so every tile needed for any tree size the log
// has signed is available.
func (l *Log) ReadTile(path string) ([]byte, error) {
	if path == "checkpoint" {
		return l.Checkpoint(), nil
	}
	t, err := ParseTilePath(path)
	if err != nil {
		return nil, err
	}
	size := l.Size()
	level := t.Level
	if level < 0 {
		level = 0
	}
	avail := hashesAtLevel(size, level)
	if avail < int64(t.Width) || t.N > (avail-int64(t.Width))/tileWidth {
		return nil, fmt.Errorf("tlog: read %s: %w", path, ErrNotFound)
	}
	if t.Level < 0 {
		recs, err := l.s.ReadRecords(t.N*tileWidth, int64(t.Width))
		if err != nil {
			return nil, fmt.Errorf("tlog: read %s: %w", path, err)
		}
		var out []byte
		for _, r := range recs {
			out = binary.BigEndian.AppendUint16(out, uint16(len(r)))
			out = append(out, r...)
		}
		return out, nil
	}
	data, err := sumtlog.ReadTileData(t.sumdb(), l.s)
	if err != nil {
		return nil, fmt.Errorf("tlog: read %s: %w", path, err)
	}
	return data, nil
}

// sumdb converts a hash tile to golang.org/x/mod/sumdb/tlog's form.
func (t Tile) sumdb() sumtlog.Tile {
	return sumtlog.Tile{H: TileHeight, L: t.Level, N: t.N, W: t.Width}
}

// ParseEntryBundle splits an entry bundle into its records.
func ParseEntryBundle(data []byte) ([][]byte, error) {
	var out [][]byte
	for len(data) > 0 {
		if len(data) < 2 {
			return nil, fmt.Errorf("tlog: parse entry bundle: %w: truncated length", ErrMalformed)
		}
		n := int(binary.BigEndian.Uint16(data))
		if len(data)-2 < n {
			return nil, fmt.Errorf("tlog: parse entry bundle: %w: truncated entry", ErrMalformed)
		}
		out = append(out, data[2:2+n:2+n])
		data = data[2+n:]
		if len(out) > tileWidth {
			return nil, fmt.Errorf("tlog: parse entry bundle: %w: more than %d entries", ErrMalformed, tileWidth)
		}
	}
	return out, nil
}
