package gguf

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"

	"github.com/silo-ai/silo/internal/engine/ggml"
)

// Writer builds a GGUF version 3 file: metadata in the order added, then
// tensor infos and data in the order added, each tensor aligned to the
// file's alignment (general.alignment if added, else 32).
//
// Metadata values must have an exact GGUF type: uint8, int8, uint16, int16,
// uint32, int32, float32, bool, string, uint64, int64, float64, a slice of
// one of those, or []any of such slices (an array of arrays). Go's int,
// uint and uint8-as-byte-string ambiguity is refused: int and uint are
// rejected so the file's types are always chosen on purpose.
type Writer struct {
	kv        []KV
	keys      map[string]bool
	tensors   []wtensor
	names     map[string]bool
	alignment uint64
}

type wtensor struct {
	info  TensorInfo
	data  []byte
	write func(io.Writer) error
}

// NewWriter returns an empty Writer.
func NewWriter() *Writer {
	return &Writer{keys: map[string]bool{}, names: map[string]bool{}, alignment: DefaultAlignment}
}

// AddKV adds a metadata pair. Setting general.alignment (a uint32 power of
// two) changes the alignment of the tensor data.
func (w *Writer) AddKV(key string, v any) error {
	if w.keys[key] {
		return fmt.Errorf("gguf: add %q: duplicate key", key)
	}
	if err := checkValue(v, 0); err != nil {
		return fmt.Errorf("gguf: add %q: %w", key, err)
	}
	if key == KeyAlignment {
		a, ok := v.(uint32)
		if !ok || a == 0 || a&(a-1) != 0 {
			return fmt.Errorf("gguf: add %q: alignment must be a uint32 power of two, not %v (%T)", key, v, v)
		}
		w.alignment = uint64(a)
	}
	w.keys[key] = true
	w.kv = append(w.kv, KV{key, v})
	return nil
}

// AddTensor adds a tensor whose bytes are data, which must be exactly the
// tensor's size. Dims are in ggml order (Dims[0] is the row length).
func (w *Writer) AddTensor(name string, t ggml.Type, dims []uint64, data []byte) error {
	ti, err := w.newTensor(name, t, dims)
	if err != nil {
		return err
	}
	if uint64(len(data)) != ti.Size {
		return fmt.Errorf("gguf: add tensor %q: %d bytes of data, want %d", name, len(data), ti.Size)
	}
	w.names[name] = true
	w.tensors = append(w.tensors, wtensor{info: ti, data: data})
	return nil
}

// AddTensorFunc adds a tensor whose bytes are produced, when the file is
// written, by write, which must write exactly the tensor's size. It lets a
// caller write a file larger than memory.
func (w *Writer) AddTensorFunc(name string, t ggml.Type, dims []uint64, write func(io.Writer) error) error {
	ti, err := w.newTensor(name, t, dims)
	if err != nil {
		return err
	}
	w.names[name] = true
	w.tensors = append(w.tensors, wtensor{info: ti, write: write})
	return nil
}

func (w *Writer) newTensor(name string, t ggml.Type, dims []uint64) (TensorInfo, error) {
	if w.names[name] {
		return TensorInfo{}, fmt.Errorf("gguf: add tensor %q: duplicate name", name)
	}
	if len(dims) > MaxDims {
		return TensorInfo{}, fmt.Errorf("gguf: add tensor %q: %d dimensions, at most %d allowed", name, len(dims), MaxDims)
	}
	if !t.Valid() {
		return TensorInfo{}, fmt.Errorf("gguf: add tensor %q: unknown type %d", name, uint32(t))
	}
	for _, d := range dims {
		if d > math.MaxInt64 {
			return TensorInfo{}, fmt.Errorf("gguf: add tensor %q: dimension %d too large", name, d)
		}
	}
	size, err := tensorSize(t, dims)
	if err != nil {
		return TensorInfo{}, fmt.Errorf("gguf: add tensor %q: %w", name, err)
	}
	return TensorInfo{Name: name, Dims: append([]uint64(nil), dims...), Type: t, Size: size}, nil
}

// WriteTo writes the file to dst.
func (w *Writer) WriteTo(dst io.Writer) (int64, error) {
	cw := &countWriter{w: bufio.NewWriterSize(dst, 1<<20)}
	err := w.write(cw)
	if err == nil {
		err = cw.w.Flush()
	}
	if err != nil {
		return cw.n, fmt.Errorf("gguf: write: %w", err)
	}
	return cw.n, nil
}

// WriteFile writes the file to path atomically: to a temporary file in the
// same directory, synced, then renamed over path.
func (w *Writer) WriteFile(path string) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("gguf: write file: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = w.WriteTo(tmp); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("gguf: write file: %w", err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("gguf: write file: %w", err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("gguf: write file: %w", err)
	}
	return nil
}

type countWriter struct {
	w   *bufio.Writer
	n   int64
	err error
}

func (c *countWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.err = err
	return n, err
}

func (c *countWriter) u32(v uint32) { c.Write(binary.LittleEndian.AppendUint32(nil, v)) }
func (c *countWriter) u64(v uint64) { c.Write(binary.LittleEndian.AppendUint64(nil, v)) }
func (c *countWriter) str(s string) {
	c.u64(uint64(len(s)))
	c.Write([]byte(s))
}

func (c *countWriter) pad(align uint64) {
	if r := uint64(c.n) % align; r != 0 {
		c.Write(make([]byte, align-r))
	}
}

func (w *Writer) write(c *countWriter) error {
	c.Write([]byte(Magic))
	c.u32(3)
	c.u64(uint64(len(w.tensors)))
	c.u64(uint64(len(w.kv)))
	for _, kv := range w.kv {
		c.str(kv.Key)
		writeValue(c, kv.Value, true)
	}
	var off uint64
	for i := range w.tensors {
		ti := &w.tensors[i].info
		ti.Offset = off
		off += (ti.Size + w.alignment - 1) &^ (w.alignment - 1)
		c.str(ti.Name)
		c.u32(uint32(len(ti.Dims)))
		for _, d := range ti.Dims {
			c.u64(d)
		}
		c.u32(uint32(ti.Type))
		c.u64(ti.Offset)
	}
	c.pad(w.alignment)
	for i, t := range w.tensors {
		if c.err != nil {
			break
		}
		if t.write != nil {
			before := c.n
			if err := t.write(c); err != nil {
				return fmt.Errorf("tensor %q: %w", t.info.Name, err)
			}
			if got := uint64(c.n - before); got != t.info.Size && c.err == nil {
				return fmt.Errorf("tensor %q: wrote %d bytes, want %d", t.info.Name, got, t.info.Size)
			}
		} else {
			c.Write(t.data)
		}
		if i < len(w.tensors)-1 {
			c.pad(w.alignment)
		}
	}
	return c.err
}

// writeValue writes v with its type tag (if tagged).
func writeValue(c *countWriter, v any, tagged bool) {
	tag := func(t ValueType) {
		if tagged {
			c.u32(uint32(t))
		}
	}
	le := binary.LittleEndian
	switch v := v.(type) {
	case uint8:
		tag(TypeUint8)
		c.Write([]byte{v})
	case int8:
		tag(TypeInt8)
		c.Write([]byte{byte(v)})
	case uint16:
		tag(TypeUint16)
		c.Write(le.AppendUint16(nil, v))
	case int16:
		tag(TypeInt16)
		c.Write(le.AppendUint16(nil, uint16(v)))
	case uint32:
		tag(TypeUint32)
		c.u32(v)
	case int32:
		tag(TypeInt32)
		c.u32(uint32(v))
	case float32:
		tag(TypeFloat32)
		c.u32(math.Float32bits(v))
	case bool:
		tag(TypeBool)
		b := byte(0)
		if v {
			b = 1
		}
		c.Write([]byte{b})
	case string:
		tag(TypeString)
		c.str(v)
	case uint64:
		tag(TypeUint64)
		c.u64(v)
	case int64:
		tag(TypeInt64)
		c.u64(uint64(v))
	case float64:
		tag(TypeFloat64)
		c.u64(math.Float64bits(v))
	case []any:
		tag(TypeArray)
		c.u32(uint32(TypeArray))
		c.u64(uint64(len(v)))
		for _, e := range v {
			writeValue(c, e, false)
		}
	default:
		// A slice of a scalar type (checked by checkValue).
		et, _ := sliceElemType(v)
		tag(TypeArray)
		c.u32(uint32(et))
		writeSlice(c, v)
	}
}

func writeSlice(c *countWriter, v any) {
	each := func(n int, f func(int)) {
		c.u64(uint64(n))
		for i := 0; i < n; i++ {
			f(i)
		}
	}
	switch s := v.(type) {
	case []uint8:
		c.u64(uint64(len(s)))
		c.Write(s)
	case []int8:
		each(len(s), func(i int) { writeValue(c, s[i], false) })
	case []uint16:
		each(len(s), func(i int) { writeValue(c, s[i], false) })
	case []int16:
		each(len(s), func(i int) { writeValue(c, s[i], false) })
	case []uint32:
		each(len(s), func(i int) { c.u32(s[i]) })
	case []int32:
		each(len(s), func(i int) { c.u32(uint32(s[i])) })
	case []float32:
		each(len(s), func(i int) { c.u32(math.Float32bits(s[i])) })
	case []bool:
		each(len(s), func(i int) { writeValue(c, s[i], false) })
	case []string:
		each(len(s), func(i int) { c.str(s[i]) })
	case []uint64:
		each(len(s), func(i int) { c.u64(s[i]) })
	case []int64:
		each(len(s), func(i int) { c.u64(uint64(s[i])) })
	case []float64:
		each(len(s), func(i int) { c.u64(math.Float64bits(s[i])) })
	}
}

// sliceElemType returns the GGUF element type of a slice of a scalar type.
func sliceElemType(v any) (ValueType, bool) {
	switch v.(type) {
	case []uint8:
		return TypeUint8, true
	case []int8:
		return TypeInt8, true
	case []uint16:
		return TypeUint16, true
	case []int16:
		return TypeInt16, true
	case []uint32:
		return TypeUint32, true
	case []int32:
		return TypeInt32, true
	case []float32:
		return TypeFloat32, true
	case []bool:
		return TypeBool, true
	case []string:
		return TypeString, true
	case []uint64:
		return TypeUint64, true
	case []int64:
		return TypeInt64, true
	case []float64:
		return TypeFloat64, true
	case []any:
		return TypeArray, true
	}
	return 0, false
}

var errBadValue = errors.New("unsupported value type")

func checkValue(v any, depth int) error {
	switch v := v.(type) {
	case uint8, int8, uint16, int16, uint32, int32, float32, bool, string, uint64, int64, float64:
		return nil
	case []any:
		if depth+1 >= maxNesting {
			return fmt.Errorf("arrays nested deeper than %d", maxNesting)
		}
		for i, e := range v {
			if _, ok := e.([]any); !ok {
				if _, ok := sliceElemType(e); !ok {
					return fmt.Errorf("element %d: %w %T (an array of arrays holds slices)", i, errBadValue, e)
				}
			}
			if err := checkValue(e, depth+1); err != nil {
				return fmt.Errorf("element %d: %w", i, err)
			}
		}
		return nil
	}
	if _, ok := sliceElemType(v); ok {
		return nil
	}
	return fmt.Errorf("%w %T", errBadValue, v)
}
