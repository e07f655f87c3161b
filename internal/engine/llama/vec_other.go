//go:build !amd64

package llama

var useAVX2 = false

func dotAsm(a, b []float32) (float32, int) { return 0, 0 }

func axpyAsm(alpha float32, x, y []float32) int { return 0 }

func f16ToF32Asm(dst []float32, src []uint16) int { return 0 }

func scoresF32Asm(q, k []float32, stride, n int, scale float32, out []float32) bool { return false }

func scoresF16Asm(q []float32, k []uint16, stride, n int, scale float32, out []float32) bool {
	return false
}

func wsumF32Asm(p, v []float32, stride int, out []float32) bool { return false }

func wsumF16Asm(p []float32, v []uint16, stride int, out []float32) bool { return false }

func expSumAsm(x []float32, m float32) (int, float32) { return 0, 0 }

func swigluAsm(gate, up []float32) int { return 0 }

func f32ToF16Asm(dst []uint16, src []float32) int { return 0 }
