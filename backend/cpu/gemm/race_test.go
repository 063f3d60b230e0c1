//go:build race

package gemm

// raceEnabled: under the race detector the float64 references run ~10×
// slower, so the largest products are left to the plain test run.
const raceEnabled = true
