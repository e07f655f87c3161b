package seal

import (
	"crypto/hpke"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// MaxFrameData is the most plaintext one response frame carries. Larger
// writes are split.
const MaxFrameData = 64 << 10

const (
	flagMore   byte = 0x00
	flagFinal  byte = 0x01
	tagSize         = 16 // AES-256-GCM
	maxFrameCT      = 1 + MaxFrameData + tagSize
)

// ErrTruncated means a sealed response stream ended before its final frame.
// Errors matching it also match ErrCorrupt.
var ErrTruncated = errors.New("sealed response truncated")

// ResponseWriter seals a response stream to the client's response key. Each
// Write is sealed and written at once as one frame (or several, above
// MaxFrameData), and w is flushed if it has a Flush() method, so streamed
// events reach the client promptly. Close writes the final frame; without
// it the client reports the stream as truncated. A ResponseWriter is not
// safe for concurrent use.
type ResponseWriter struct {
	w      io.Writer
	s      *hpke.Sender
	buf    []byte
	closed bool
	err    error
}

// SealResponse starts the sealed response to r on w, writing its header.
func (r *Request) SealResponse(w io.Writer) (*ResponseWriter, error) {
	enc, s, err := hpke.NewSender(r.respKey, kdf(), aead(), responseInfo(r.id))
	if err != nil {
		return nil, fmt.Errorf("seal: seal response: %w", err)
	}
	hdr := make([]byte, 0, 1+len(enc))
	hdr = append(hdr, Version)
	hdr = append(hdr, enc...)
	if _, err := w.Write(hdr); err != nil {
		return nil, fmt.Errorf("seal: seal response: %w", err)
	}
	return &ResponseWriter{w: w, s: s}, nil
}

// Write seals p and writes it as one or more frames. An empty p writes
// nothing.
func (rw *ResponseWriter) Write(p []byte) (int, error) {
	if rw.closed {
		return 0, errors.New("seal: write response: writer closed")
	}
	if rw.err != nil {
		return 0, rw.err
	}
	n := 0
	for len(p) > 0 {
		chunk := p[:min(len(p), MaxFrameData)]
		if err := rw.frame(flagMore, chunk); err != nil {
			return n, err
		}
		n += len(chunk)
		p = p[len(chunk):]
	}
	rw.flush()
	return n, nil
}

// Close writes the final frame. It does not close the underlying writer.
func (rw *ResponseWriter) Close() error {
	if rw.closed {
		return errors.New("seal: close response: writer closed")
	}
	rw.closed = true
	if rw.err != nil {
		return rw.err
	}
	if err := rw.frame(flagFinal, nil); err != nil {
		return err
	}
	rw.flush()
	return nil
}

func (rw *ResponseWriter) frame(flag byte, data []byte) error {
	rw.buf = append(rw.buf[:0], flag)
	rw.buf = append(rw.buf, data...)
	ct, err := rw.s.Seal(nil, rw.buf)
	if err != nil {
		rw.err = fmt.Errorf("seal: write response: %w", err)
		return rw.err
	}
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(ct)))
	if _, err := rw.w.Write(n[:]); err != nil {
		rw.err = fmt.Errorf("seal: write response: %w", err)
		return rw.err
	}
	if _, err := rw.w.Write(ct); err != nil {
		rw.err = fmt.Errorf("seal: write response: %w", err)
		return rw.err
	}
	return nil
}

func (rw *ResponseWriter) flush() {
	if f, ok := rw.w.(interface{ Flush() }); ok {
		f.Flush()
	}
}

// OpenResponse reads the header of a sealed response from r and returns a
// reader of its plaintext. Read returns only authenticated plaintext, io.EOF
// after the final frame, an error matching ErrTruncated if the stream ends
// early, and one matching ErrCorrupt if a frame was tampered with,
// reordered, replayed or followed by extra bytes. Errors from r are
// returned wrapped.
func (k *ResponseKey) OpenResponse(r io.Reader) (io.Reader, error) {
	var hdr [1 + EncSize]byte
	if _, err := io.ReadFull(r, hdr[:1]); err != nil {
		return nil, fmt.Errorf("seal: open response: %w", readErr(err))
	}
	if hdr[0] != Version {
		return nil, fmt.Errorf("seal: open response: %w %d", ErrUnsupportedVersion, hdr[0])
	}
	if _, err := io.ReadFull(r, hdr[1:]); err != nil {
		return nil, fmt.Errorf("seal: open response: %w", readErr(err))
	}
	rc, err := hpke.NewRecipient(hdr[1:], k.priv, kdf(), aead(), responseInfo(k.id))
	if err != nil {
		return nil, fmt.Errorf("seal: open response: %w: bad encapsulated key", ErrCorrupt)
	}
	return &responseReader{r: r, rc: rc}, nil
}

// readErr turns an early end of r into ErrTruncated and leaves other
// errors of r as they are.
func readErr(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return fmt.Errorf("%w: %w", ErrTruncated, ErrCorrupt)
	}
	return err
}

type responseReader struct {
	r     io.Reader
	rc    *hpke.Recipient
	ct    []byte
	pt    []byte // authenticated plaintext not yet returned
	final bool
	err   error
}

func (rr *responseReader) Read(p []byte) (int, error) {
	for len(rr.pt) == 0 {
		if rr.err != nil {
			return 0, rr.err
		}
		if rr.final {
			rr.err = rr.checkEnd()
			continue
		}
		if err := rr.next(); err != nil {
			rr.err = fmt.Errorf("seal: read response: %w", err)
		}
	}
	n := copy(p, rr.pt)
	rr.pt = rr.pt[n:]
	return n, nil
}

// checkEnd makes sure nothing follows the final frame.
func (rr *responseReader) checkEnd() error {
	var b [1]byte
	n, err := io.ReadFull(rr.r, b[:])
	switch {
	case n > 0:
		return fmt.Errorf("seal: read response: %w: data after the final frame", ErrCorrupt)
	case err == io.EOF:
		return io.EOF
	default:
		return fmt.Errorf("seal: read response: %w", err)
	}
}

func (rr *responseReader) next() error {
	var hdr [4]byte
	if _, err := io.ReadFull(rr.r, hdr[:]); err != nil {
		return readErr(err)
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n < 1+tagSize || n > maxFrameCT {
		return fmt.Errorf("%w: bad frame length %d", ErrCorrupt, n)
	}
	if cap(rr.ct) < int(n) {
		rr.ct = make([]byte, n)
	}
	rr.ct = rr.ct[:n]
	if _, err := io.ReadFull(rr.r, rr.ct); err != nil {
		return readErr(err)
	}
	pt, err := rr.rc.Open(nil, rr.ct)
	if err != nil {
		return fmt.Errorf("%w: frame does not open", ErrCorrupt)
	}
	switch pt[0] {
	case flagMore:
	case flagFinal:
		rr.final = true
	default:
		return fmt.Errorf("%w: bad frame flag", ErrCorrupt)
	}
	rr.pt = pt[1:]
	return nil
}
