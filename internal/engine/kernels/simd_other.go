//go:build !amd64

package kernels

const simdName = "generic"
