// Package gguf reads and writes GGUF files, the model container format of
// llama.cpp and ggml (https://github.com/ggml-org/ggml/blob/master/docs/gguf.md).
//
// A GGUF file is, all little-endian: the magic "GGUF"; a uint32 version (2 or
// 3 here); uint64 tensor and metadata counts; the metadata key/value pairs
// (key string, uint32 value type, value); the tensor infos (name, uint32
// dimension count, uint64 dimensions with the row length first, uint32 ggml
// type, uint64 offset into the data section); padding to the alignment
// (metadata key general.alignment, default 32); and the tensor data. Strings
// are a uint64 length and UTF-8 bytes; arrays are a uint32 element type, a
// uint64 count and the elements.
//
// The reader promises that no input, however malformed, makes it panic, read
// out of bounds or allocate more than a small multiple of the input's size:
// every count and length is checked against the bytes that remain, every
// tensor must have a valid type, a row length that is a multiple of its
// block size, at most four dimensions, an aligned offset, and data that lies
// inside the file without overlapping another tensor's. Open maps the file
// read-only, so tensor data is never copied.
//
// Metadata values are held as Go values: uint8, int8, uint16, int16, uint32,
// int32, float32, bool, string, uint64, int64, float64; an array is a slice of
// its element type ([]uint8 ... []string), and an array of arrays is []any
// whose elements are such slices.
package gguf

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/silo-ai/silo/internal/engine/ggml"
)

// Magic is the first four bytes of every GGUF file.
const Magic = "GGUF"

// DefaultAlignment is the data alignment when general.alignment is absent.
const DefaultAlignment = 32

// KeyAlignment is the metadata key that sets the data alignment.
const KeyAlignment = "general.alignment"

// MaxDims is the most dimensions a tensor may have (GGML_MAX_DIMS).
const MaxDims = 4

// maxNesting bounds how deeply arrays may nest.
const maxNesting = 8

// ErrNotFound is returned (wrapped) for a missing metadata key or tensor.
var ErrNotFound = errors.New("not found")

// ValueType is the type tag of a metadata value (enum gguf_type).
type ValueType uint32

// The metadata value types.
const (
	TypeUint8   ValueType = 0
	TypeInt8    ValueType = 1
	TypeUint16  ValueType = 2
	TypeInt16   ValueType = 3
	TypeUint32  ValueType = 4
	TypeInt32   ValueType = 5
	TypeFloat32 ValueType = 6
	TypeBool    ValueType = 7
	TypeString  ValueType = 8
	TypeArray   ValueType = 9
	TypeUint64  ValueType = 10
	TypeInt64   ValueType = 11
	TypeFloat64 ValueType = 12
)

var valueTypeNames = [...]string{"uint8", "int8", "uint16", "int16", "uint32", "int32",
	"float32", "bool", "string", "array", "uint64", "int64", "float64"}

// fixedSize is the encoded size of a scalar value type (0 for string/array).
var fixedSize = [...]int{1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8}

func (t ValueType) String() string {
	if int(t) < len(valueTypeNames) {
		return valueTypeNames[t]
	}
	return fmt.Sprintf("ValueType(%d)", uint32(t))
}

// KV is one metadata key/value pair.
type KV struct {
	Key   string
	Value any
}

// TensorInfo describes one tensor of a file.
type TensorInfo struct {
	Name string
	// Dims are the dimensions in ggml order: Dims[0] is the number of
	// elements in a row (the fastest-varying index).
	Dims []uint64
	Type ggml.Type
	// Offset is the tensor's byte offset from the start of the data section.
	Offset uint64
	// Size is the tensor's size in bytes.
	Size uint64
}

// Elements returns the number of elements of the tensor.
func (t *TensorInfo) Elements() uint64 {
	n := uint64(1)
	for _, d := range t.Dims {
		n *= d
	}
	return n
}

// File is a parsed GGUF file. Its tensor data is a view of the underlying
// bytes (the read-only mapping for Open), valid until Close.
type File struct {
	Version uint32
	// Alignment is the data alignment in bytes (a power of two).
	Alignment uint64
	// DataOffset is the file offset of the data section.
	DataOffset uint64
	// KV holds the metadata in file order.
	KV []KV
	// Tensors holds the tensor infos in file order.
	Tensors []TensorInfo

	data    []byte
	unmap   func() error
	keys    map[string]int
	tensors map[string]int
}

// Close releases the file's mapping, if any. Slices returned by TensorData
// must not be used after Close.
func (f *File) Close() error {
	if f.unmap == nil {
		return nil
	}
	u := f.unmap
	f.unmap, f.data = nil, nil
	if err := u(); err != nil {
		return fmt.Errorf("gguf: close: %w", err)
	}
	return nil
}

// Tensor returns the info of the named tensor.
func (f *File) Tensor(name string) (*TensorInfo, error) {
	i, ok := f.tensors[name]
	if !ok {
		return nil, fmt.Errorf("gguf: tensor %q: %w", name, ErrNotFound)
	}
	return &f.Tensors[i], nil
}

// TensorData returns the bytes of a tensor of this file, without copying.
// For a file from Open the bytes are mapped read-only: writing to them
// crashes the program. It returns nil for a TensorInfo that does not lie
// within the file.
func (f *File) TensorData(t *TensorInfo) []byte {
	start := f.DataOffset + t.Offset
	if t.Offset > uint64(len(f.data)) || start < f.DataOffset || start > uint64(len(f.data)) ||
		t.Size > uint64(len(f.data))-start {
		return nil
	}
	return f.data[start : start+t.Size : start+t.Size]
}

// Parse parses a GGUF file held in data. The File refers to data, which the
// caller must keep unchanged while the File is in use.
func Parse(data []byte) (*File, error) {
	f, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("gguf: parse: %w", err)
	}
	return f, nil
}

type decoder struct {
	b   []byte
	off int
}

func (d *decoder) remaining() int { return len(d.b) - d.off }

func (d *decoder) take(n int, what string) ([]byte, error) {
	if n < 0 || n > d.remaining() {
		return nil, fmt.Errorf("%s at offset %d: need %d bytes, %d left", what, d.off, n, d.remaining())
	}
	p := d.b[d.off : d.off+n]
	d.off += n
	return p, nil
}

func (d *decoder) u32(what string) (uint32, error) {
	p, err := d.take(4, what)
	if err != nil {
		return 0, err
	}
	return le32(p), nil
}

func (d *decoder) u64(what string) (uint64, error) {
	p, err := d.take(8, what)
	if err != nil {
		return 0, err
	}
	return le64(p), nil
}

func (d *decoder) str(what string) (string, error) {
	n, err := d.u64(what + " length")
	if err != nil {
		return "", err
	}
	if n > uint64(d.remaining()) {
		return "", fmt.Errorf("%s at offset %d: length %d exceeds the %d bytes left", what, d.off-8, n, d.remaining())
	}
	p, _ := d.take(int(n), what)
	return string(p), nil
}

func le16(p []byte) uint16 { return uint16(p[0]) | uint16(p[1])<<8 }
func le32(p []byte) uint32 {
	return uint32(p[0]) | uint32(p[1])<<8 | uint32(p[2])<<16 | uint32(p[3])<<24
}
func le64(p []byte) uint64 { return uint64(le32(p)) | uint64(le32(p[4:]))<<32 }

func parse(data []byte) (*File, error) {
	d := &decoder{b: data}
	magic, err := d.take(4, "magic")
	if err != nil {
		return nil, err
	}
	if string(magic) != Magic {
		return nil, fmt.Errorf("not a GGUF file (magic %q)", magic)
	}
	version, err := d.u32("version")
	if err != nil {
		return nil, err
	}
	switch {
	case version == 2 || version == 3:
	case version&0xffff == 0 && version != 0:
		return nil, fmt.Errorf("big-endian GGUF files are not supported")
	default:
		return nil, fmt.Errorf("unsupported GGUF version %d (want 2 or 3)", version)
	}
	nTensors, err := d.u64("tensor count")
	if err != nil {
		return nil, err
	}
	nKV, err := d.u64("metadata count")
	if err != nil {
		return nil, err
	}
	// Each pair takes at least 8 (key length) + 4 (type) + 1 bytes; each
	// tensor info at least 8 (name length) + 4 + 4 + 8 bytes.
	if nKV > uint64(d.remaining()/13) {
		return nil, fmt.Errorf("metadata count %d is impossible for %d bytes", nKV, d.remaining())
	}
	if nTensors > uint64(d.remaining()/24) {
		return nil, fmt.Errorf("tensor count %d is impossible for %d bytes", nTensors, d.remaining())
	}
	f := &File{
		Version:   version,
		Alignment: DefaultAlignment,
		KV:        make([]KV, 0, nKV),
		keys:      make(map[string]int, nKV),
		data:      data,
	}
	for i := uint64(0); i < nKV; i++ {
		key, err := d.str("metadata key")
		if err != nil {
			return nil, fmt.Errorf("metadata %d: %w", i, err)
		}
		if _, dup := f.keys[key]; dup {
			return nil, fmt.Errorf("duplicate metadata key %q", key)
		}
		t, err := d.u32("value type")
		if err != nil {
			return nil, fmt.Errorf("metadata %q: %w", key, err)
		}
		v, err := d.value(ValueType(t), 0)
		if err != nil {
			return nil, fmt.Errorf("metadata %q: %w", key, err)
		}
		f.keys[key] = len(f.KV)
		f.KV = append(f.KV, KV{key, v})
	}
	if i, ok := f.keys[KeyAlignment]; ok {
		a, ok := f.KV[i].Value.(uint32)
		if !ok {
			return nil, fmt.Errorf("%s has type %s, want uint32", KeyAlignment, typeName(f.KV[i].Value))
		}
		if a == 0 || a&(a-1) != 0 {
			return nil, fmt.Errorf("%s %d is not a power of two", KeyAlignment, a)
		}
		f.Alignment = uint64(a)
	}

	f.Tensors = make([]TensorInfo, 0, nTensors)
	f.tensors = make(map[string]int, nTensors)
	for i := uint64(0); i < nTensors; i++ {
		ti, err := d.tensorInfo(f.Alignment)
		if err != nil {
			return nil, fmt.Errorf("tensor %d: %w", i, err)
		}
		if _, dup := f.tensors[ti.Name]; dup {
			return nil, fmt.Errorf("duplicate tensor %q", ti.Name)
		}
		f.tensors[ti.Name] = len(f.Tensors)
		f.Tensors = append(f.Tensors, ti)
	}

	// The data section starts at the next multiple of the alignment. A file
	// without tensors may end before it.
	start := (uint64(d.off) + f.Alignment - 1) &^ (f.Alignment - 1)
	f.DataOffset = start
	if len(f.Tensors) == 0 {
		return f, nil
	}
	if start > uint64(len(data)) {
		return nil, fmt.Errorf("data section at offset %d is beyond the end of the file (%d bytes)", start, len(data))
	}
	if err := checkLayout(f.Tensors, uint64(len(data))-start); err != nil {
		return nil, err
	}
	return f, nil
}

// checkLayout checks that every tensor lies within a data section of size
// bytes and that no two overlap.
func checkLayout(ts []TensorInfo, size uint64) error {
	order := make([]int, len(ts))
	for i := range order {
		order[i] = i
	}
	sortByOffset(order, ts)
	var end uint64
	var prev string
	for n, i := range order {
		t := &ts[i]
		if t.Offset > size || t.Size > size-t.Offset {
			return fmt.Errorf("tensor %q: data [%d, +%d) is beyond the %d-byte data section", t.Name, t.Offset, t.Size, size)
		}
		if n > 0 && t.Offset < end && t.Size > 0 {
			return fmt.Errorf("tensor %q overlaps tensor %q", t.Name, prev)
		}
		if e := t.Offset + t.Size; e > end {
			end, prev = e, t.Name
		}
	}
	return nil
}

func sortByOffset(order []int, ts []TensorInfo) {
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(ts[a].Offset, ts[b].Offset) })
}

func (d *decoder) tensorInfo(alignment uint64) (TensorInfo, error) {
	var ti TensorInfo
	name, err := d.str("tensor name")
	if err != nil {
		return ti, err
	}
	ti.Name = name
	nd, err := d.u32("dimension count")
	if err != nil {
		return ti, fmt.Errorf("%q: %w", name, err)
	}
	if nd > MaxDims {
		return ti, fmt.Errorf("%q: %d dimensions, at most %d allowed", name, nd, MaxDims)
	}
	ti.Dims = make([]uint64, nd)
	elems := uint64(1)
	for j := range ti.Dims {
		v, err := d.u64("dimension")
		if err != nil {
			return ti, fmt.Errorf("%q: %w", name, err)
		}
		if v > math.MaxInt64 {
			return ti, fmt.Errorf("%q: dimension %d is %d, too large", name, j, v)
		}
		ti.Dims[j] = v
		if v != 0 && elems > math.MaxInt64/v {
			return ti, fmt.Errorf("%q: element count overflows", name)
		}
		elems *= v
	}
	t, err := d.u32("tensor type")
	if err != nil {
		return ti, fmt.Errorf("%q: %w", name, err)
	}
	ti.Type = ggml.Type(t)
	if !ti.Type.Valid() {
		return ti, fmt.Errorf("%q: unknown tensor type %d", name, t)
	}
	ti.Offset, err = d.u64("tensor offset")
	if err != nil {
		return ti, fmt.Errorf("%q: %w", name, err)
	}
	if ti.Offset%alignment != 0 {
		return ti, fmt.Errorf("%q: offset %d is not a multiple of the alignment %d", name, ti.Offset, alignment)
	}
	ti.Size, err = tensorSize(ti.Type, ti.Dims)
	if err != nil {
		return ti, fmt.Errorf("%q: %w", name, err)
	}
	return ti, nil
}

// tensorSize returns the byte size of a tensor, checking the row length
// against the block size and the total for overflow.
func tensorSize(t ggml.Type, dims []uint64) (uint64, error) {
	bs, ts := uint64(t.BlockSize()), uint64(t.TypeSize())
	if bs == 0 {
		return 0, fmt.Errorf("unknown tensor type %d", uint32(t))
	}
	row := uint64(1)
	if len(dims) > 0 {
		row = dims[0]
	}
	if row%bs != 0 {
		return 0, fmt.Errorf("row length %d is not a multiple of %s's block size %d", row, t, bs)
	}
	size := row / bs * ts
	if row/bs != 0 && size/(row/bs) != ts {
		return 0, fmt.Errorf("size overflows")
	}
	for _, d := range dims[min(1, len(dims)):] {
		if d != 0 && size > math.MaxInt64/d {
			return 0, fmt.Errorf("size overflows")
		}
		size *= d
	}
	return size, nil
}

func (d *decoder) value(t ValueType, depth int) (any, error) {
	switch t {
	case TypeUint8, TypeInt8, TypeUint16, TypeInt16, TypeUint32, TypeInt32,
		TypeFloat32, TypeBool, TypeUint64, TypeInt64, TypeFloat64:
		p, err := d.take(fixedSize[t], t.String()+" value")
		if err != nil {
			return nil, err
		}
		return scalar(t, p)
	case TypeString:
		return d.str("string value")
	case TypeArray:
		return d.array(depth)
	}
	return nil, fmt.Errorf("unknown value type %d", uint32(t))
}

func scalar(t ValueType, p []byte) (any, error) {
	switch t {
	case TypeUint8:
		return p[0], nil
	case TypeInt8:
		return int8(p[0]), nil
	case TypeUint16:
		return le16(p), nil
	case TypeInt16:
		return int16(le16(p)), nil
	case TypeUint32:
		return le32(p), nil
	case TypeInt32:
		return int32(le32(p)), nil
	case TypeFloat32:
		return math.Float32frombits(le32(p)), nil
	case TypeBool:
		if p[0] > 1 {
			return nil, fmt.Errorf("invalid bool value %d", p[0])
		}
		return p[0] == 1, nil
	case TypeUint64:
		return le64(p), nil
	case TypeInt64:
		return int64(le64(p)), nil
	case TypeFloat64:
		return math.Float64frombits(le64(p)), nil
	}
	return nil, fmt.Errorf("unknown value type %d", uint32(t))
}

func (d *decoder) array(depth int) (any, error) {
	if depth >= maxNesting {
		return nil, fmt.Errorf("arrays nested deeper than %d", maxNesting)
	}
	et32, err := d.u32("array element type")
	if err != nil {
		return nil, err
	}
	et := ValueType(et32)
	n, err := d.u64("array length")
	if err != nil {
		return nil, err
	}
	var minSize int
	switch {
	case et == TypeString:
		minSize = 8
	case et == TypeArray:
		minSize = 12
	case int(et) < len(fixedSize):
		minSize = fixedSize[et]
	default:
		return nil, fmt.Errorf("unknown array element type %d", et32)
	}
	if n > uint64(d.remaining()/minSize) {
		return nil, fmt.Errorf("array of %d %s at offset %d exceeds the %d bytes left", n, et, d.off, d.remaining())
	}
	count := int(n)
	if et == TypeString {
		out := make([]string, count)
		for i := range out {
			if out[i], err = d.str("string element"); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	if et == TypeArray {
		out := make([]any, count)
		for i := range out {
			if out[i], err = d.array(depth + 1); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	p, _ := d.take(count*minSize, "array")
	return decodeFixedArray(et, p, count)
}

func decodeFixedArray(et ValueType, p []byte, n int) (any, error) {
	switch et {
	case TypeUint8:
		return append([]uint8(nil), p...), nil
	case TypeInt8:
		out := make([]int8, n)
		for i := range out {
			out[i] = int8(p[i])
		}
		return out, nil
	case TypeUint16:
		out := make([]uint16, n)
		for i := range out {
			out[i] = le16(p[2*i:])
		}
		return out, nil
	case TypeInt16:
		out := make([]int16, n)
		for i := range out {
			out[i] = int16(le16(p[2*i:]))
		}
		return out, nil
	case TypeUint32:
		out := make([]uint32, n)
		for i := range out {
			out[i] = le32(p[4*i:])
		}
		return out, nil
	case TypeInt32:
		out := make([]int32, n)
		for i := range out {
			out[i] = int32(le32(p[4*i:]))
		}
		return out, nil
	case TypeFloat32:
		out := make([]float32, n)
		for i := range out {
			out[i] = math.Float32frombits(le32(p[4*i:]))
		}
		return out, nil
	case TypeBool:
		out := make([]bool, n)
		for i := range out {
			if p[i] > 1 {
				return nil, fmt.Errorf("invalid bool value %d in array", p[i])
			}
			out[i] = p[i] == 1
		}
		return out, nil
	case TypeUint64:
		out := make([]uint64, n)
		for i := range out {
			out[i] = le64(p[8*i:])
		}
		return out, nil
	case TypeInt64:
		out := make([]int64, n)
		for i := range out {
			out[i] = int64(le64(p[8*i:]))
		}
		return out, nil
	case TypeFloat64:
		out := make([]float64, n)
		for i := range out {
			out[i] = math.Float64frombits(le64(p[8*i:]))
		}
		return out, nil
	}
	return nil, fmt.Errorf("unknown array element type %d", uint32(et))
}
