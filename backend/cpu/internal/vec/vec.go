// Package vec holds the CPU backend's AVX2 loops for elementwise kernels
// (tanh, SGD with momentum, Adam) — in a package of their own because the
// backend uses cgo with -tags openblas, and a cgo package cannot have Go
// assembly files. Each function does its work on the longest prefix of its
// slices whose length is a multiple of 8 and returns that length (0 without
// AVX2), leaving the rest to the caller's Go loop, whose results the
// assembly reproduces bit for bit.
package vec

// TanhConsts is tanh's table of constants, eight lanes a row, in the
// order of the C_ offsets in vec_amd64.s: sign mask, 9, -2, log₂e, 0.5,
// ln2Hi, ln2Lo, 127, 1, 1/6, 1/24, 1/120, 1/720, 1/5040, 2. The caller
// fills it from its own constants, so that both loops use the same values.
type TanhConsts [15][8]uint32

// AdamConsts are one Adam step's scalars as the assembly reads them.
type AdamConsts struct {
	Beta1, OneMinusBeta1, Beta2, OneMinusBeta2 float32
	InvSqrtBC2, Eps, StepSize                  float32
	// Decay multiplies the parameter when Decoupled is 1 (AdamW);
	// otherwise it is the weight decay added to the gradient.
	Decay     float32
	Decoupled uint32
}
