package gguf

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse checks that Parse never panics, and that whatever it accepts
// is self-consistent: every tensor's data lies within the input, and the
// file survives a round trip through Writer.
func FuzzParse(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("testdata", "small.gguf")); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse(data)
		if err != nil {
			return
		}
		w := NewWriter()
		for _, kv := range file.KV {
			if err := w.AddKV(kv.Key, kv.Value); err != nil {
				t.Fatalf("re-adding %q: %v", kv.Key, err)
			}
		}
		for i := range file.Tensors {
			ti := &file.Tensors[i]
			d := file.TensorData(ti)
			if uint64(len(d)) != ti.Size {
				t.Fatalf("tensor %q: %d bytes of data, want %d", ti.Name, len(d), ti.Size)
			}
			if err := w.AddTensor(ti.Name, ti.Type, ti.Dims, d); err != nil {
				t.Fatalf("re-adding tensor %q: %v", ti.Name, err)
			}
		}
		var buf bytes.Buffer
		if _, err := w.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		again, err := Parse(buf.Bytes())
		if err != nil {
			t.Fatalf("re-parsing written file: %v", err)
		}
		if len(again.KV) != len(file.KV) || len(again.Tensors) != len(file.Tensors) {
			t.Fatalf("round trip changed counts")
		}
		for i := range again.Tensors {
			if !bytes.Equal(again.TensorData(&again.Tensors[i]), file.TensorData(&file.Tensors[i])) {
				t.Fatalf("tensor %q data changed in round trip", again.Tensors[i].Name)
			}
		}
	})
}
