package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// problem is one Sgemm call with its operands laid out in memory that is
// larger than the matrices (leading dimensions past the widths, slack at
// the end), so that stray reads and writes show.
type problem struct {
	tA, tB        bool
	m, n, k       int
	lda, ldb, ldc int
	alpha, beta   float32
	a, b, c       []float32
}

func newProblem(rng *rand.Rand, tA, tB bool, m, n, k, pad int, alpha, beta float32) *problem {
	p := &problem{tA: tA, tB: tB, m: m, n: n, k: k, alpha: alpha, beta: beta}
	rowsA, colsA := m, k
	if tA {
		rowsA, colsA = k, m
	}
	rowsB, colsB := k, n
	if tB {
		rowsB, colsB = n, k
	}
	p.lda, p.ldb, p.ldc = colsA+pad, colsB+pad, n+pad
	p.a = randSlice(rng, rowsA*p.lda)
	p.b = randSlice(rng, rowsB*p.ldb)
	p.c = randSlice(rng, m*p.ldc)
	return p
}

func randSlice(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rng.Float64()*2 - 1)
	}
	return s
}

func (p *problem) opA(i, q int) float64 {
	if p.tA {
		return float64(p.a[q*p.lda+i])
	}
	return float64(p.a[i*p.lda+q])
}

func (p *problem) opB(q, j int) float64 {
	if p.tB {
		return float64(p.b[j*p.ldb+q])
	}
	return float64(p.b[q*p.ldb+j])
}

// want returns the float64 result, and the scale (sum of magnitudes) of
// each element for the tolerance.
func (p *problem) want() (want, scale []float64) {
	want, scale = make([]float64, len(p.c)), make([]float64, len(p.c))
	for i := 0; i < p.m; i++ {
		for j := 0; j < p.n; j++ {
			var s, abs float64
			for q := 0; q < p.k; q++ {
				v := p.opA(i, q) * p.opB(q, j)
				s += v
				abs += math.Abs(v)
			}
			old := float64(p.c[i*p.ldc+j])
			if p.beta == 0 {
				old = 0 // C is not read: NaN there must not leak
			}
			want[i*p.ldc+j] = float64(p.alpha)*s + float64(p.beta)*old
			scale[i*p.ldc+j] = math.Abs(float64(p.alpha))*abs + math.Abs(float64(p.beta)*old)
		}
	}
	return want, scale
}

func trans(t bool) blas.Transpose {
	if t {
		return blas.Trans
	}
	return blas.NoTrans
}

// check runs p with kernel kern and compares every value of C, padding
// included, with the float64 reference.
func (p *problem) check(t *testing.T, kern Kernel) {
	t.Helper()
	if p.beta == 0 {
		// Poison C: with beta = 0 it must not be read.
		for i := range p.c {
			p.c[i] = float32(math.NaN())
		}
	}
	want, scale := p.want()
	orig := append([]float32(nil), p.c...)
	Implementation{Kernel: kern}.Sgemm(trans(p.tA), trans(p.tB), p.m, p.n, p.k, p.alpha, p.a, p.lda, p.b, p.ldb, p.beta, p.c, p.ldc)
	bad := 0
	for idx, got := range p.c {
		i, j := idx/p.ldc, idx%p.ldc
		if j >= p.n {
			if math.Float32bits(got) != math.Float32bits(orig[idx]) {
				t.Fatalf("%s: C[%d,%d] is outside the product but changed from %v to %v", p, i, j, orig[idx], got)
			}
			continue
		}
		tol := 1e-6*scale[idx]*float64(p.k+4) + 1e-30
		if d := math.Abs(float64(got) - want[idx]); !(d <= tol) {
			if bad++; bad <= 5 {
				t.Errorf("%s: C[%d,%d] = %v, want %v (tolerance %.3g)", p, i, j, got, want[idx], tol)
			}
		}
	}
}

func (p *problem) String() string {
	return fmt.Sprintf("%s%s m=%d n=%d k=%d lda=%d ldb=%d ldc=%d alpha=%v beta=%v",
		map[bool]string{false: "N", true: "T"}[p.tA], map[bool]string{false: "N", true: "T"}[p.tB],
		p.m, p.n, p.k, p.lda, p.ldb, p.ldc, p.alpha, p.beta)
}

func TestSgemmAgainstFloat64(t *testing.T) {
	sizes := []int{1, 7, 31, 33, 257}
	if raceEnabled {
		sizes = []int{1, 7, 33}
	}
	scalars := [][2]float32{{1, 0}, {1, 1}, {0.5, -1.5}, {-2, 0}, {0, 0.5}, {0, 0}}
	for _, kern := range Kernels() {
		t.Run(kern.String(), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(kern)))
			for _, tA := range []bool{false, true} {
				for _, tB := range []bool{false, true} {
					for _, m := range sizes {
						for _, n := range sizes {
							for _, k := range sizes {
								ab := scalars[rng.IntN(len(scalars))]
								newProblem(rng, tA, tB, m, n, k, rng.IntN(3)*5, ab[0], ab[1]).check(t, kern)
							}
						}
					}
				}
			}
		})
	}
}

// Sizes of 1000 cross the k, m and n block boundaries (kc 256, mc 144,
// nc 512) in every direction.
func TestSgemmLarge(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("large products in -short mode and under the race detector")
	}
	shapes := [][3]int{{1000, 33, 7}, {7, 1000, 31}, {33, 7, 1000}, {257, 1000, 300}, {128, 10, 42}, {128, 42, 176}}
	for _, kern := range Kernels() {
		rng := rand.New(rand.NewPCG(2, uint64(kern)))
		for _, s := range shapes {
			for _, tA := range []bool{false, true} {
				for _, tB := range []bool{false, true} {
					newProblem(rng, tA, tB, s[0], s[1], s[2], 3, 1.25, 0.75).check(t, kern)
				}
			}
		}
	}
}

// With a row length that is a multiple of 256 values, op(A) is packed
// rather than read in place (see sgemm); these shapes take that path, with
// a partial last micro-panel (m = 257, 151) and row blocks past mc.
func TestSgemmPackedA(t *testing.T) {
	for _, kern := range Kernels() {
		rng := rand.New(rand.NewPCG(6, uint64(kern)))
		for _, s := range [][3]int{{257, 100, 70}, {151, 48, 300}} {
			for _, tA := range []bool{false, true} {
				for _, tB := range []bool{false, true} {
					p := newProblem(rng, tA, tB, s[0], s[1], s[2], 0, 1.5, 0.5)
					// Widen A's rows to 512 values.
					rowsA, colsA := p.m, p.k
					if tA {
						rowsA, colsA = p.k, p.m
					}
					wide := randSlice(rng, rowsA*512)
					for r := 0; r < rowsA; r++ {
						copy(wide[r*512:r*512+colsA], p.a[r*p.lda:r*p.lda+colsA])
					}
					p.a, p.lda = wide, 512
					p.check(t, kern)
				}
			}
		}
	}
}

// Every kernel computes the same 6×16 blocks in the same order whatever
// part of C a call covers, so splitting C into slabs (as the CPU backend
// does across cores) must give bit-identical results.
func TestSgemmSlabsAreBitIdentical(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	for _, kern := range Kernels() {
		p := newProblem(rng, false, true, 130, 200, 300, 0, 1, 0)
		whole := make([]float32, len(p.c))
		Implementation{Kernel: kern}.Sgemm(blas.NoTrans, blas.Trans, p.m, p.n, p.k, 1, p.a, p.lda, p.b, p.ldb, 0, whole, p.ldc)
		split := make([]float32, len(p.c))
		for _, r := range [][2]int{{0, 66}, {66, 130}} {
			for _, cl := range [][2]int{{0, 96}, {96, 200}} {
				Implementation{Kernel: kern}.Sgemm(blas.NoTrans, blas.Trans, r[1]-r[0], cl[1]-cl[0], p.k, 1,
					p.a[r[0]*p.lda:], p.lda, p.b[cl[0]*p.ldb:], p.ldb, 0, split[r[0]*p.ldc+cl[0]:], p.ldc)
			}
		}
		for i := range whole {
			if math.Float32bits(whole[i]) != math.Float32bits(split[i]) {
				t.Fatalf("%s: element %d differs between one call (%v) and four slabs (%v)", kern, i, whole[i], split[i])
			}
		}
	}
}

// Workspaces are shared through a pool: products on many goroutines at
// once must not see each other's packed panels.
func TestSgemmConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(4, uint64(g)))
			for it := 0; it < 5; it++ {
				newProblem(rng, g%2 == 0, g%3 == 0, 40+g, 50+it, 300, 1, 1, 0.5).check(t, Best())
			}
		}()
	}
	wg.Wait()
}

func TestSgemmPanicsOnBadArguments(t *testing.T) {
	a, b, c := make([]float32, 12), make([]float32, 12), make([]float32, 12)
	for _, tc := range []struct {
		name string
		call func()
	}{
		{"negative m", func() { Implementation{}.Sgemm(blas.NoTrans, blas.NoTrans, -1, 3, 4, 1, a, 4, b, 3, 0, c, 3) }},
		{"short lda", func() { Implementation{}.Sgemm(blas.NoTrans, blas.NoTrans, 3, 3, 4, 1, a, 3, b, 3, 0, c, 3) }},
		{"short A", func() { Implementation{}.Sgemm(blas.NoTrans, blas.NoTrans, 4, 3, 4, 1, a, 4, b, 3, 0, c, 3) }},
		{"short C", func() {
			Implementation{}.Sgemm(blas.NoTrans, blas.NoTrans, 3, 5, 4, 1, a, 4, make([]float32, 20), 5, 0, c, 5)
		}},
		{"bad transpose", func() { Implementation{}.Sgemm('x', blas.NoTrans, 3, 3, 4, 1, a, 4, b, 3, 0, c, 3) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("no panic")
				}
			}()
			tc.call()
		})
	}
}

func TestChooseKernel(t *testing.T) {
	auto := Go
	if hasAVX2 {
		auto = AVX2
	}
	if hasAVX512 {
		auto = AVX512
	}
	avx2, avx2Err := AVX2, ""
	if !hasAVX2 {
		avx2, avx2Err = auto, "lacks AVX2"
	}
	avx512, avx512Err := AVX512, ""
	if !hasAVX512 {
		avx512, avx512Err = auto, "lacks AVX-512"
	}
	cases := []struct {
		env     string
		want    Kernel
		wantErr string
	}{
		{"", auto, ""},
		{"auto", auto, ""},
		{"go", Go, ""},
		{"avx2", avx2, avx2Err},
		{"avx512", avx512, avx512Err},
		{"Go", auto, `DIYNN_GEMM_KERNEL="Go": want auto, go, avx2 or avx512`},
		{"avx-512", auto, `DIYNN_GEMM_KERNEL="avx-512"`},
	}
	for _, c := range cases {
		got, err := chooseKernel(c.env)
		if got != c.want || (c.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.wantErr)) {
			t.Errorf("chooseKernel(%q) = %v, %v; want %v and an error containing %q", c.env, got, err, c.want, c.wantErr)
		}
	}
}

// DIYNN_GEMM_KERNEL=go must reach Best (ci/test.sh runs the CPU tests so).
func TestBestFollowsEnvironment(t *testing.T) {
	if os.Getenv("DIYNN_GEMM_KERNEL") == "go" && Best() != Go {
		t.Fatalf("DIYNN_GEMM_KERNEL=go but Best() = %v", Best())
	}
	t.Logf("best kernel: %v; kernels on this CPU: %v", Best(), Kernels())
}

func FuzzSgemm(f *testing.F) {
	f.Add(uint8(7), uint8(33), uint8(31), uint8(0), uint8(2), int8(4), int8(0))
	f.Add(uint8(1), uint8(1), uint8(1), uint8(3), uint8(0), int8(-3), int8(5))
	f.Fuzz(func(t *testing.T, m, n, k, modes, pad uint8, alpha, beta int8) {
		if m == 0 || n == 0 || k == 0 {
			return
		}
		// Sizes up to 100 cross every tile edge (6, 16) and keep each
		// input's float64 reference quick; blocks are covered by TestSgemmLarge.
		m, n, k = m%100+1, n%100+1, k%100+1
		rng := rand.New(rand.NewPCG(uint64(m)<<16|uint64(n)<<8|uint64(k), uint64(modes)))
		for _, kern := range Kernels() {
			newProblem(rng, modes&1 != 0, modes&2 != 0, int(m), int(n), int(k), int(pad%9),
				float32(alpha)/4, float32(beta)/4).check(t, kern)
		}
	})
}

func Example() {
	// C = A·Bᵀ for a 2×3 A and a 2×3 B, through gonum's blas32 API.
	blas32.Use(Implementation{})
	a := blas32.General{Rows: 2, Cols: 3, Stride: 3, Data: []float32{1, 2, 3, 4, 5, 6}}
	b := blas32.General{Rows: 2, Cols: 3, Stride: 3, Data: []float32{1, 0, 1, 0, 1, 0}}
	c := blas32.General{Rows: 2, Cols: 2, Stride: 2, Data: make([]float32, 4)}
	blas32.Gemm(blas.NoTrans, blas.Trans, 1, a, b, 0, c)
	fmt.Println(c.Data)
	// Output: [4 2 10 5]
}

// The AVX-512 kernel sums each value of C in the AVX2 kernel's order, so
// the two agree bit for bit (the driver mixes them within one product);
// the shapes cover 17–32 columns in the last pair, full pairs, a lone
// last panel, every row count and both uses of C.
func TestAVX512MatchesAVX2(t *testing.T) {
	if !hasAVX512 {
		t.Skip("this CPU lacks AVX-512")
	}
	rng := rand.New(rand.NewPCG(7, 7))
	for _, s := range [][3]int{{6, 32, 5}, {7, 17, 33}, {13, 48, 64}, {128, 176, 784}, {11, 63, 9}, {5, 200, 130}} {
		for _, beta := range []float32{0, 0.5} {
			p := newProblem(rng, false, true, s[0], s[1], s[2], 1, 1.5, beta)
			got, want := append([]float32(nil), p.c...), append([]float32(nil), p.c...)
			Implementation{Kernel: AVX512}.Sgemm(blas.NoTrans, blas.Trans, p.m, p.n, p.k, p.alpha, p.a, p.lda, p.b, p.ldb, beta, got, p.ldc)
			Implementation{Kernel: AVX2}.Sgemm(blas.NoTrans, blas.Trans, p.m, p.n, p.k, p.alpha, p.a, p.lda, p.b, p.ldb, beta, want, p.ldc)
			for i := range got {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("%s: C value %d is %v with AVX-512, %v with AVX2", p, i, got[i], want[i])
				}
			}
		}
	}
}
