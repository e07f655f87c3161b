// Package layout holds no code: its test checks the promises the repository
// makes about its own structure (see layout_test.go).
package layout
