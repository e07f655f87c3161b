package gguf

import (
	"fmt"
	"math"
)

// Value returns the value of a metadata key and whether it is present.
func (f *File) Value(key string) (any, bool) {
	i, ok := f.keys[key]
	if !ok {
		return nil, false
	}
	return f.KV[i].Value, true
}

func (f *File) lookup(key string) (any, error) {
	v, ok := f.Value(key)
	if !ok {
		return nil, fmt.Errorf("gguf: metadata %q: %w", key, ErrNotFound)
	}
	return v, nil
}

func wrongType(key string, v any, want string) error {
	return fmt.Errorf("gguf: metadata %q has type %s, want %s", key, typeName(v), want)
}

// typeName names the GGUF type of a decoded value.
func typeName(v any) string {
	switch v := v.(type) {
	case uint8:
		return "uint8"
	case int8:
		return "int8"
	case uint16:
		return "uint16"
	case int16:
		return "int16"
	case uint32:
		return "uint32"
	case int32:
		return "int32"
	case float32:
		return "float32"
	case bool:
		return "bool"
	case string:
		return "string"
	case uint64:
		return "uint64"
	case int64:
		return "int64"
	case float64:
		return "float64"
	case []any:
		return "array of array"
	default:
		if et, ok := sliceElemType(v); ok {
			return "array of " + et.String()
		}
		return fmt.Sprintf("%T", v)
	}
}

// String returns a string value.
func (f *File) String(key string) (string, error) {
	v, err := f.lookup(key)
	if err != nil {
		return "", err
	}
	s, ok := v.(string)
	if !ok {
		return "", wrongType(key, v, "string")
	}
	return s, nil
}

// Bool returns a bool value.
func (f *File) Bool(key string) (bool, error) {
	v, err := f.lookup(key)
	if err != nil {
		return false, err
	}
	b, ok := v.(bool)
	if !ok {
		return false, wrongType(key, v, "bool")
	}
	return b, nil
}

// Uint returns an integer value of any width and signedness as a uint64. A
// negative value is an error.
func (f *File) Uint(key string) (uint64, error) {
	v, err := f.lookup(key)
	if err != nil {
		return 0, err
	}
	u, neg, ok := integer(v)
	if !ok {
		return 0, wrongType(key, v, "integer")
	}
	if neg {
		return 0, fmt.Errorf("gguf: metadata %q is negative (%d)", key, int64(u))
	}
	return u, nil
}

// Int returns an integer value of any width and signedness as an int64. A
// uint64 value above math.MaxInt64 is an error.
func (f *File) Int(key string) (int64, error) {
	v, err := f.lookup(key)
	if err != nil {
		return 0, err
	}
	u, neg, ok := integer(v)
	if !ok {
		return 0, wrongType(key, v, "integer")
	}
	if !neg && u > math.MaxInt64 {
		return 0, fmt.Errorf("gguf: metadata %q (%d) overflows int64", key, u)
	}
	return int64(u), nil
}

// integer returns v's bits as a uint64 (two's complement when negative).
func integer(v any) (u uint64, neg, ok bool) {
	switch v := v.(type) {
	case uint8:
		return uint64(v), false, true
	case uint16:
		return uint64(v), false, true
	case uint32:
		return uint64(v), false, true
	case uint64:
		return v, false, true
	case int8:
		return uint64(int64(v)), v < 0, true
	case int16:
		return uint64(int64(v)), v < 0, true
	case int32:
		return uint64(int64(v)), v < 0, true
	case int64:
		return uint64(v), v < 0, true
	}
	return 0, false, false
}

// Float returns a float32 or float64 value as a float64.
func (f *File) Float(key string) (float64, error) {
	v, err := f.lookup(key)
	if err != nil {
		return 0, err
	}
	switch v := v.(type) {
	case float32:
		return float64(v), nil
	case float64:
		return v, nil
	}
	return 0, wrongType(key, v, "float32 or float64")
}

// Strings returns an array of strings.
func (f *File) Strings(key string) ([]string, error) {
	v, err := f.lookup(key)
	if err != nil {
		return nil, err
	}
	s, ok := v.([]string)
	if !ok {
		return nil, wrongType(key, v, "array of string")
	}
	return s, nil
}

// Float32s returns an array of float32.
func (f *File) Float32s(key string) ([]float32, error) {
	v, err := f.lookup(key)
	if err != nil {
		return nil, err
	}
	s, ok := v.([]float32)
	if !ok {
		return nil, wrongType(key, v, "array of float32")
	}
	return s, nil
}

// Int32s returns an array of integers of any width whose values all fit in
// an int32, converted to []int32. An []int32 value is returned as is.
func (f *File) Int32s(key string) ([]int32, error) {
	v, err := f.lookup(key)
	if err != nil {
		return nil, err
	}
	if s, ok := v.([]int32); ok {
		return s, nil
	}
	var out []int32
	conv := func(n int, at func(int) int64) error {
		out = make([]int32, n)
		for i := range out {
			x := at(i)
			if x < math.MinInt32 || x > math.MaxInt32 {
				return fmt.Errorf("gguf: metadata %q: element %d (%d) overflows int32", key, i, x)
			}
			out[i] = int32(x)
		}
		return nil
	}
	switch s := v.(type) {
	case []uint8:
		err = conv(len(s), func(i int) int64 { return int64(s[i]) })
	case []int8:
		err = conv(len(s), func(i int) int64 { return int64(s[i]) })
	case []uint16:
		err = conv(len(s), func(i int) int64 { return int64(s[i]) })
	case []int16:
		err = conv(len(s), func(i int) int64 { return int64(s[i]) })
	case []uint32:
		err = conv(len(s), func(i int) int64 { return int64(s[i]) })
	case []int64:
		err = conv(len(s), func(i int) int64 { return s[i] })
	case []uint64:
		err = conv(len(s), func(i int) int64 {
			if s[i] > math.MaxInt64 {
				return math.MaxInt64
			}
			return int64(s[i])
		})
	default:
		return nil, wrongType(key, v, "array of integer")
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}
