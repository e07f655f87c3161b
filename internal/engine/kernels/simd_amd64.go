package kernels

const simdName = "avx2"
