package cpu

// Stubs of the kernels added for issue 13; backend/cpu's owner replaces
// them with real implementations.

import "github.com/diynn/diynn/backend"

func (c *Backend) Mul(n int, x, y, dst backend.Buffer) { c.fail("Mul: not implemented") }
func (c *Backend) MulRowVector(rows, cols int, v, x, y backend.Buffer) {
	c.fail("MulRowVector: not implemented")
}
func (c *Backend) ScaleBy(n int, alpha float32, s, x, y backend.Buffer) {
	c.fail("ScaleBy: not implemented")
}
func (c *Backend) SumSquares(n int, x backend.Buffer, beta float32, out backend.Buffer) {
	c.fail("SumSquares: not implemented")
}
func (c *Backend) ClipFactor(maxNorm float32, sumSquares, factor backend.Buffer) {
	c.fail("ClipFactor: not implemented")
}
func (c *Backend) Random(dist backend.Distribution, n int, seed, offset uint64, a, b float32, dst backend.Buffer) {
	c.fail("Random: not implemented")
}
