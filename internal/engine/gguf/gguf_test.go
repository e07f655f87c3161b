package gguf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/silo-ai/silo/internal/engine/ggml"
)

var update = flag.Bool("update", false, "rewrite golden files")

// allValues has one metadata value of every type, including nested arrays.
var allValues = []KV{
	{"u8", uint8(200)},
	{"i8", int8(-100)},
	{"u16", uint16(60000)},
	{"i16", int16(-30000)},
	{"u32", uint32(4000000000)},
	{"i32", int32(-2000000000)},
	{"f32", float32(1.5)},
	{"bool.true", true},
	{"bool.false", false},
	{"str", "héllo"},
	{"str.empty", ""},
	{"u64", uint64(math.MaxUint64)},
	{"i64", int64(math.MinInt64)},
	{"f64", math.Pi},
	{"a.u8", []uint8{1, 2, 255}},
	{"a.i8", []int8{-128, 0, 127}},
	{"a.u16", []uint16{0, 65535}},
	{"a.i16", []int16{-1, 1}},
	{"a.u32", []uint32{7}},
	{"a.i32", []int32{-7, 7, math.MaxInt32}},
	{"a.f32", []float32{0.25, -2}},
	{"a.bool", []bool{true, false, true}},
	{"a.str", []string{"a", "", "ccc"}},
	{"a.u64", []uint64{1 << 40}},
	{"a.i64", []int64{-1 << 40}},
	{"a.f64", []float64{1e300}},
	{"a.empty", []string{}},
	{"a.nested", []any{[]int32{1, 2}, []string{"x"}, []any{[]uint8{9}}, []float32{}}},
}

func TestRoundTripValues(t *testing.T) {
	w := NewWriter()
	for _, kv := range allValues {
		if err := w.AddKV(kv.Key, kv.Value); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	f, err := Parse(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(allValues, f.KV); diff != "" {
		t.Errorf("metadata differs (-want +got):\n%s", diff)
	}
	if f.Version != 3 || len(f.Tensors) != 0 || f.Alignment != DefaultAlignment {
		t.Errorf("version %d, %d tensors, alignment %d", f.Version, len(f.Tensors), f.Alignment)
	}
}

func TestGetters(t *testing.T) {
	w := NewWriter()
	for _, kv := range allValues {
		if err := w.AddKV(kv.Key, kv.Value); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	f, err := Parse(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, got, want any, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("%s: %v", name, err)
		} else if !cmp.Equal(got, want) {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	s, err := f.String("str")
	check("String", s, "héllo", err)
	b, err := f.Bool("bool.true")
	check("Bool", b, true, err)
	for key, want := range map[string]uint64{"u8": 200, "u16": 60000, "u32": 4000000000, "u64": math.MaxUint64} {
		u, err := f.Uint(key)
		check("Uint "+key, u, want, err)
	}
	for key, want := range map[string]int64{"u8": 200, "i8": -100, "i16": -30000, "i32": -2000000000, "i64": math.MinInt64, "u32": 4000000000} {
		i, err := f.Int(key)
		check("Int "+key, i, want, err)
	}
	fl, err := f.Float("f32")
	check("Float f32", fl, 1.5, err)
	fl, err = f.Float("f64")
	check("Float f64", fl, math.Pi, err)
	ss, err := f.Strings("a.str")
	check("Strings", ss, []string{"a", "", "ccc"}, err)
	fs, err := f.Float32s("a.f32")
	check("Float32s", fs, []float32{0.25, -2}, err)
	is, err := f.Int32s("a.i32")
	check("Int32s", is, []int32{-7, 7, math.MaxInt32}, err)
	is, err = f.Int32s("a.u8")
	check("Int32s u8", is, []int32{1, 2, 255}, err)

	// Wrong types and missing keys give clear errors.
	errs := []struct {
		err  error
		want string
	}{
		{second(f.String("u32")), `metadata "u32" has type uint32, want string`},
		{second(f.Uint("i8")), `metadata "i8" is negative`},
		{second(f.Int("u64")), `overflows int64`},
		{second(f.Uint("str")), `has type string, want integer`},
		{second(f.Float("u8")), `has type uint8, want float32 or float64`},
		{second(f.Bool("u8")), `want bool`},
		{second(f.Strings("a.i32")), `has type array of int32, want array of string`},
		{second(f.Float32s("a.f64")), `array of float64`},
		{second(f.Int32s("a.u64")), `overflows int32`},
		{second(f.Int32s("a.nested")), `array of array`},
		{second(f.String("missing")), `metadata "missing": not found`},
	}
	for _, e := range errs {
		if e.err == nil || !strings.Contains(e.err.Error(), e.want) {
			t.Errorf("error %v, want it to contain %q", e.err, e.want)
		}
	}
	if _, err := f.String("missing"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing key: %v is not ErrNotFound", err)
	}
}

func second[T any](_ T, err error) error { return err }

func TestWriterRefuses(t *testing.T) {
	w := NewWriter()
	for _, v := range []any{int(1), uint(1), []int{1}, map[string]int{}, []any{int32(1)}, nil} {
		if err := w.AddKV("k", v); err == nil {
			t.Errorf("AddKV(%T) succeeded", v)
		}
	}
	if err := w.AddKV(KeyAlignment, uint32(24)); err == nil {
		t.Error("alignment 24 accepted")
	}
	if err := w.AddKV("dup", true); err != nil {
		t.Fatal(err)
	}
	if err := w.AddKV("dup", true); err == nil {
		t.Error("duplicate key accepted")
	}
	if err := w.AddTensor("t", ggml.Q8_0, []uint64{33}, make([]byte, 34)); err == nil {
		t.Error("row length 33 accepted for Q8_0")
	}
	if err := w.AddTensor("t", ggml.F32, []uint64{4}, make([]byte, 15)); err == nil {
		t.Error("short data accepted")
	}
	if err := w.AddTensor("t", ggml.Type(4), []uint64{4}, nil); err == nil {
		t.Error("unknown type accepted")
	}
	if err := w.AddTensor("t", ggml.F32, []uint64{1, 1, 1, 1, 1}, make([]byte, 4)); err == nil {
		t.Error("5 dimensions accepted")
	}
	if err := w.AddTensor("t", ggml.F32, []uint64{1}, make([]byte, 4)); err != nil {
		t.Fatal(err)
	}
	if err := w.AddTensor("t", ggml.F32, []uint64{1}, make([]byte, 4)); err == nil {
		t.Error("duplicate tensor accepted")
	}
	w2 := NewWriter()
	if err := w2.AddTensorFunc("t", ggml.F32, []uint64{2}, func(w io.Writer) error { _, err := w.Write(make([]byte, 7)); return err }); err != nil {
		t.Fatal(err)
	}
	if _, err := w2.WriteTo(io.Discard); err == nil {
		t.Error("AddTensorFunc writing 7 of 8 bytes succeeded")
	}
}

// smallFile builds the golden file: metadata, three tensors of different
// types, one written by a func, with a 64-byte alignment.
func smallFile(t *testing.T) *Writer {
	t.Helper()
	w := NewWriter()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(w.AddKV("general.architecture", "llama"))
	must(w.AddKV(KeyAlignment, uint32(64)))
	must(w.AddKV("llama.block_count", uint32(1)))
	must(w.AddKV("tokenizer.ggml.tokens", []string{"<s>", "</s>", "a"}))
	f32 := make([]byte, 4*3*2)
	for i := range 6 {
		binary.LittleEndian.PutUint32(f32[4*i:], math.Float32bits(float32(i)+0.5))
	}
	must(w.AddTensor("a.weight", ggml.F32, []uint64{3, 2}, f32))
	q8 := make([]byte, 34*2)
	for i := range q8 {
		q8[i] = byte(i)
	}
	must(w.AddTensor("b.weight", ggml.Q8_0, []uint64{32, 2}, q8))
	must(w.AddTensorFunc("c.weight", ggml.F16, []uint64{5}, func(w io.Writer) error {
		_, err := w.Write([]byte{0, 0x3c, 0, 0x40, 0, 0x42, 0, 0x44, 0, 0x45})
		return err
	}))
	return w
}

func TestGolden(t *testing.T) {
	var buf bytes.Buffer
	if _, err := smallFile(t).WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "small.gguf")
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("writer output differs from %s (run with -update if intended)", golden)
	}
	f, err := Open(golden)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Alignment != 64 || f.DataOffset%64 != 0 {
		t.Errorf("alignment %d, data offset %d", f.Alignment, f.DataOffset)
	}
	wantTensors := []TensorInfo{
		{Name: "a.weight", Dims: []uint64{3, 2}, Type: ggml.F32, Offset: 0, Size: 24},
		{Name: "b.weight", Dims: []uint64{32, 2}, Type: ggml.Q8_0, Offset: 64, Size: 68},
		{Name: "c.weight", Dims: []uint64{5}, Type: ggml.F16, Offset: 192, Size: 10},
	}
	if diff := cmp.Diff(wantTensors, f.Tensors); diff != "" {
		t.Errorf("tensors differ (-want +got):\n%s", diff)
	}
	ti, err := f.Tensor("c.weight")
	if err != nil {
		t.Fatal(err)
	}
	if got := f.TensorData(ti); !bytes.Equal(got, []byte{0, 0x3c, 0, 0x40, 0, 0x42, 0, 0x44, 0, 0x45}) {
		t.Errorf("c.weight data = %x", got)
	}
	if got := f.TensorData(&f.Tensors[0]); math.Float32frombits(binary.LittleEndian.Uint32(got[20:])) != 5.5 {
		t.Errorf("a.weight data = %x", got)
	}
	if _, err := f.Tensor("nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Tensor(nope) = %v", err)
	}
	if n := f.Tensors[1].Elements(); n != 64 {
		t.Errorf("Elements = %d", n)
	}
	if err := f.Close(); err != nil {
		t.Error(err)
	}
}

func TestWriteFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.gguf")
	if err := smallFile(t).WriteFile(path); err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join("testdata", "small.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("WriteFile output differs from WriteTo's")
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
}

// enc builds GGUF bytes by hand, independently of Writer.
type enc struct{ bytes.Buffer }

func (e *enc) u32(v uint32) *enc { binary.Write(&e.Buffer, binary.LittleEndian, v); return e }
func (e *enc) u64(v uint64) *enc { binary.Write(&e.Buffer, binary.LittleEndian, v); return e }
func (e *enc) str(s string) *enc { e.u64(uint64(len(s))); e.WriteString(s); return e }

func header(version uint32, tensors, kvs uint64) *enc {
	e := &enc{}
	e.WriteString("GGUF")
	return e.u32(version).u64(tensors).u64(kvs)
}

func TestParseHandBuilt(t *testing.T) {
	// Version 2, one uint32 KV, one Q4_0 tensor of 64x1 at offset 0.
	e := header(2, 1, 1)
	e.str("k").u32(uint32(TypeUint32)).u32(42)
	e.str("w").u32(2).u64(64).u64(1).u32(uint32(ggml.Q4_0)).u64(0)
	for e.Len()%32 != 0 {
		e.WriteByte(0)
	}
	dataOff := e.Len()
	e.Write(bytes.Repeat([]byte{0xab}, 36))
	f, err := Parse(e.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if f.Version != 2 || f.DataOffset != uint64(dataOff) {
		t.Errorf("version %d, data offset %d, want 2, %d", f.Version, f.DataOffset, dataOff)
	}
	if v, err := f.Uint("k"); err != nil || v != 42 {
		t.Errorf("k = %d, %v", v, err)
	}
	ti, err := f.Tensor("w")
	if err != nil || ti.Size != 36 || ti.Type != ggml.Q4_0 {
		t.Fatalf("tensor %+v, %v", ti, err)
	}
	if d := f.TensorData(ti); len(d) != 36 || d[0] != 0xab {
		t.Errorf("data %x", d)
	}
}

func TestParseMalformed(t *testing.T) {
	tensor := func(e *enc, name string, typ ggml.Type, off uint64, dims ...uint64) *enc {
		e.str(name).u32(uint32(len(dims)))
		for _, d := range dims {
			e.u64(d)
		}
		return e.u32(uint32(typ)).u64(off)
	}
	padded := func(e *enc, data int) []byte {
		for e.Len()%32 != 0 {
			e.WriteByte(0)
		}
		e.Write(make([]byte, data))
		return e.Bytes()
	}
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "magic"},
		{"magic", []byte("GGUX\x03\x00\x00\x00"), "not a GGUF file"},
		{"version1", header(1, 0, 0).Bytes(), "unsupported GGUF version 1"},
		{"bigendian", (&enc{Buffer: *bytes.NewBufferString("GGUF\x00\x00\x00\x03")}).u64(0).u64(0).Bytes(), "big-endian"},
		{"truncated header", []byte("GGUF\x03\x00\x00\x00\x00"), "tensor count"},
		{"huge kv count", header(3, 0, 1<<62).Bytes(), "metadata count"},
		{"huge tensor count", header(3, 1<<40, 0).Bytes(), "tensor count"},
		{"huge key length", header(3, 0, 1).u64(1 << 60).u64(0).u64(0).Bytes(), "exceeds"},
		{"huge string", func() []byte {
			e := header(3, 0, 1)
			return e.str("k").u32(uint32(TypeString)).u64(math.MaxUint64).Bytes()
		}(), "exceeds"},
		{"huge array", func() []byte {
			e := header(3, 0, 1)
			return e.str("k").u32(uint32(TypeArray)).u32(uint32(TypeUint64)).u64(1 << 61).Bytes()
		}(), "exceeds"},
		{"huge string array", func() []byte {
			e := header(3, 0, 1)
			return e.str("k").u32(uint32(TypeArray)).u32(uint32(TypeString)).u64(1 << 40).u64(0).Bytes()
		}(), "exceeds"},
		{"unknown value type", header(3, 0, 1).str("k").u32(13).Bytes(), "unknown value type 13"},
		{"unknown array type", header(3, 0, 1).str("k").u32(uint32(TypeArray)).u32(99).u64(0).Bytes(), "unknown array element type"},
		{"bool 2", append(header(3, 0, 1).str("k").u32(uint32(TypeBool)).Bytes(), 2), "invalid bool"},
		{"deep nesting", func() []byte {
			e := header(3, 0, 1)
			e.str("k").u32(uint32(TypeArray))
			for range 20 {
				e.u32(uint32(TypeArray)).u64(1)
			}
			return e.Bytes()
		}(), "nested deeper"},
		{"alignment type", header(3, 0, 1).str(KeyAlignment).u32(uint32(TypeUint64)).u64(32).Bytes(), "want uint32"},
		{"alignment value", header(3, 0, 1).str(KeyAlignment).u32(uint32(TypeUint32)).u32(48).Bytes(), "not a power of two"},
		{"alignment zero", header(3, 0, 1).str(KeyAlignment).u32(uint32(TypeUint32)).u32(0).Bytes(), "not a power of two"},
		{"too many dims", padded(tensor(header(3, 1, 0), "t", ggml.F32, 0, 1, 1, 1, 1, 1), 4), "5 dimensions"},
		{"unknown type", padded(tensor(header(3, 1, 0), "t", ggml.Type(4), 0, 1), 4), "unknown tensor type 4"},
		{"block size", padded(tensor(header(3, 1, 0), "t", ggml.Q8_0, 0, 31), 34), "not a multiple"},
		{"dim too large", padded(tensor(header(3, 1, 0), "t", ggml.F32, 0, 1<<63), 4), "too large"},
		{"elements overflow", padded(tensor(header(3, 1, 0), "t", ggml.F32, 0, 1<<32, 1<<32), 4), "overflows"},
		{"size overflow", padded(tensor(header(3, 1, 0), "t", ggml.F64, 0, 1<<61, 2), 4), "overflows"},
		{"misaligned offset", padded(tensor(header(3, 1, 0), "t", ggml.F32, 4, 1), 8), "not a multiple of the alignment"},
		{"beyond file", padded(tensor(header(3, 1, 0), "t", ggml.F32, 0, 100), 8), "beyond"},
		{"offset beyond file", padded(tensor(header(3, 1, 0), "t", ggml.F32, 1<<40, 1), 8), "beyond"},
		{"overlap", padded(tensor(tensor(header(3, 2, 0), "t", ggml.F32, 0, 16), "u", ggml.F32, 32, 16), 128), "overlaps"},
		{"overlap unordered", padded(tensor(tensor(header(3, 2, 0), "t", ggml.F32, 32, 16), "u", ggml.F32, 0, 16), 128), "overlaps"},
		{"duplicate tensor", padded(tensor(tensor(header(3, 2, 0), "t", ggml.F32, 0, 1), "t", ggml.F32, 32, 1), 64), "duplicate tensor"},
		{"no data section", tensor(header(3, 1, 0), "t", ggml.F32, 0, 1).Bytes(), "beyond the end"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.data)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse = %v, want error containing %q", err, tt.want)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "gguf: parse: ") {
				t.Errorf("error %q lacks the operation prefix", err)
			}
		})
	}
	e := header(3, 0, 2)
	e.str("k").u32(uint32(TypeUint8)).WriteByte(1)
	e.str("k").u32(uint32(TypeUint8)).WriteByte(1)
	if _, err := Parse(e.Bytes()); err == nil || !strings.Contains(err.Error(), "duplicate metadata key") {
		t.Errorf("duplicate key: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(filepath.Join(dir, "none.gguf")); err == nil {
		t.Error("Open of a missing file succeeded")
	}
	short := filepath.Join(dir, "short.gguf")
	os.WriteFile(short, []byte("GG"), 0o644)
	if _, err := Open(short); err == nil {
		t.Error("Open of a 2-byte file succeeded")
	}
	bad := filepath.Join(dir, "bad.gguf")
	os.WriteFile(bad, header(9, 0, 0).Bytes(), 0o644)
	if _, err := Open(bad); err == nil || !strings.Contains(err.Error(), "version 9") {
		t.Errorf("Open of a bad file: %v", err)
	}
}
