package tsne

import "golang.org/x/sys/cpu"

// hasAVX2 reports whether the kernels of pairs_amd64.s can run.
var hasAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// attractRow2AVX2 returns Σ val[a]·(y0 - y[2c], y1 - y[2c+1]) / (1 + r²)
// over the n edges (c = col[a]).
//
//go:noescape
func attractRow2AVX2(y *float64, col *int32, val *float64, n int, y0, y1 float64) (gx, gy float64)

// matVec28AVX2 adds Σ_{s<n} src[s]·mat[28s:28s+28] to acc[:28]: one
// neighbouring box's part of subtractGrid at 3 nodes per box in 2-D.
//
//go:noescape
func matVec28AVX2(mat *float64, src *float64, n int, acc *float64)

// firstAtMostAVX2 returns the index of the first of v[:n] at most t, or
// n; n is a multiple of 8.
//
//go:noescape
func firstAtMostAVX2(v *float32, n int, t float32) int

// nearSym2AVX2 returns Σ q, Σ q²·dx, Σ q²·dy over the points of ys (x, y
// pairs) in the nruns runs [runs[2r], runs[2r+1]), q = 1 / (1 + |(yx, yy) -
// point|²), and subtracts each pair's q²·(dx, dy) from the run point's
// entries of f (laid out as ys).
//
//go:noescape
func nearSym2AVX2(ys *float64, f *float64, runs *int32, nruns int, yx, yy float64) (z, fx, fy float64)
