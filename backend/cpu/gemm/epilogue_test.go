package gemm

import (
	"math"
	"math/rand/v2"
	"testing"
	"unsafe"

	"gonum.org/v1/gonum/blas"
)

// recorder is an Epilogue that checks, for every value of C it is given,
// that the value is final (bit-identical to a plain Sgemm's), that it sees
// each value exactly once, and that col is the value's column; it then
// replaces the value by v·2 + its column, which the test checks in C.
type recorder struct {
	t      *testing.T
	base   []float32 // C as passed to SgemmEpilogue
	ldc, n int
	final  []float32 // C of the plain Sgemm
	seen   []int
}

func (r *recorder) Apply(c []float32, ldc, rows, cols, col int) {
	if ldc != r.ldc {
		r.t.Fatalf("Apply with ldc %d, want %d", ldc, r.ldc)
	}
	off := int((uintptr(unsafe.Pointer(&c[0])) - uintptr(unsafe.Pointer(&r.base[0]))) / 4)
	if off%ldc != col {
		r.t.Fatalf("Apply at offset %d (column %d) says column %d", off, off%ldc, col)
	}
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			idx := off + i*ldc + j
			if idx%ldc >= r.n {
				r.t.Fatalf("Apply given column %d outside n = %d", idx%ldc, r.n)
			}
			r.seen[idx]++
			if got, want := c[i*ldc+j], r.final[idx]; math.Float32bits(got) != math.Float32bits(want) {
				r.t.Fatalf("epilogue saw C[%d,%d] = %v before it was final (%v)", idx/ldc, idx%ldc, got, want)
			}
			c[i*ldc+j] = c[i*ldc+j]*2 + float32(idx%ldc)
		}
	}
}

// SgemmEpilogue applies its epilogue once to every value of C, after the
// last k-block, with the right column, on every kernel, on shapes that
// cross every block edge (k past kc, m past mc, n past nc = 1024 columns
// in -short off), with beta 0 (C poisoned), beta ≠ 0 and k = 0.
func TestSgemmEpilogue(t *testing.T) {
	shapes := [][3]int{{1, 1, 1}, {7, 33, 257}, {33, 7, 1}, {257, 33, 7}, {7, 1, 600}, {13, 20, 0}}
	if !testing.Short() && !raceEnabled {
		shapes = append(shapes, [3]int{150, 1030, 300})
	}
	for _, kern := range Kernels() {
		rng := rand.New(rand.NewPCG(9, uint64(kern)))
		for _, s := range shapes {
			for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
				for _, beta := range []float32{0, 0.75} {
					p := newProblem(rng, tr[0], tr[1], s[0], s[1], s[2], 3, 1.25, beta)
					if beta == 0 {
						for i := range p.c {
							p.c[i] = float32(math.NaN())
						}
					}
					final := append([]float32(nil), p.c...)
					w := &Workspace{Kernel: kern}
					w.Sgemm(trans(p.tA), trans(p.tB), p.m, p.n, p.k, p.alpha, p.a, p.lda, p.b, p.ldb, p.beta, final, p.ldc)
					r := &recorder{t: t, base: p.c, ldc: p.ldc, n: p.n, final: final, seen: make([]int, len(p.c))}
					orig := append([]float32(nil), p.c...)
					w.SgemmEpilogue(trans(p.tA), trans(p.tB), p.m, p.n, p.k, p.alpha, p.a, p.lda, p.b, p.ldb, p.beta, p.c, p.ldc, r)
					for idx, got := range p.c {
						i, j := idx/p.ldc, idx%p.ldc
						if j >= p.n {
							if r.seen[idx] != 0 || math.Float32bits(got) != math.Float32bits(orig[idx]) {
								t.Fatalf("%s %v: C[%d,%d] outside the product was touched", p, kern, i, j)
							}
							continue
						}
						if r.seen[idx] != 1 {
							t.Fatalf("%s %v: the epilogue saw C[%d,%d] %d times, want once", p, kern, i, j, r.seen[idx])
						}
						if want := final[idx]*2 + float32(j); math.Float32bits(got) != math.Float32bits(want) {
							t.Fatalf("%s %v: C[%d,%d] = %v after the epilogue, want %v", p, kern, i, j, got, want)
						}
					}
				}
			}
		}
	}
	// A nil epilogue is Sgemm.
	var w Workspace
	c := []float32{float32(math.NaN())}
	w.SgemmEpilogue(blas.NoTrans, blas.NoTrans, 1, 1, 1, 1, []float32{2}, 1, []float32{3}, 1, 0, c, 1, nil)
	if c[0] != 6 {
		t.Fatalf("nil epilogue: C = %v, want 6", c[0])
	}
}
