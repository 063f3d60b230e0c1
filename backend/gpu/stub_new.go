package gpu

// Stubs of the kernels added for issue 13; backend/cpu's owner replaces
// them with real implementations.

import "github.com/diynn/diynn/backend"

func (b *Backend) Mul(n int, x, y, dst backend.Buffer) { b.fail("Mul: not implemented") }
func (b *Backend) MulRowVector(rows, cols int, v, x, y backend.Buffer) {
	b.fail("MulRowVector: not implemented")
}
func (b *Backend) ScaleBy(n int, alpha float32, s, x, y backend.Buffer) {
	b.fail("ScaleBy: not implemented")
}
func (b *Backend) SumSquares(n int, x backend.Buffer, beta float32, out backend.Buffer) {
	b.fail("SumSquares: not implemented")
}
func (b *Backend) ClipFactor(maxNorm float32, sumSquares, factor backend.Buffer) {
	b.fail("ClipFactor: not implemented")
}
func (b *Backend) Random(dist backend.Distribution, n int, seed, offset uint64, a, bb float32, dst backend.Buffer) {
	b.fail("Random: not implemented")
}
