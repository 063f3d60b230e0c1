package tsne

// The innermost loops of a 2-D map, as functions of one row or run so that
// amd64 can run them in assembly (pairs_amd64.s, four pairs per step; the
// Go loops here run on other architectures and CPUs without AVX2): the
// attraction over a row of P, the near field's exact pairs, its grid
// correction (matVec) and the exact kNN's scan (firstAtMost). In the
// profiles of a 70 000-point map on 2 cores they took 64 of 122 CPU
// seconds as Go loops, 31 of 89 in assembly (with the near pairs computed
// once). The sums are in an order fixed by the data, so a result does
// not depend on the workers; the assembly's lanes sum in another order
// than the Go loops, so the two agree to rounding, not bit for bit.

// attractRow2 returns Σ_a val[a]·(y0 - y[2c], y1 - y[2c+1]) / (1 + r²),
// c = col[a]: point (y0, y1)'s attraction from one row of P.
func attractRow2(y []float64, col []int32, val []float64, y0, y1 float64) (gx, gy float64) {
	val = val[:len(col)]
	if hasAVX2 && len(col) > 0 {
		return attractRow2AVX2(&y[0], &col[0], &val[0], len(col), y0, y1)
	}
	return attractRow2Go(y, col, val, y0, y1)
}

// attractRow2Go is attractRow2 in Go. Two edges per step share one
// division, the loop's slowest instruction: 1/(d1·d2) gives both 1/d1 and
// 1/d2.
func attractRow2Go(y []float64, col []int32, val []float64, y0, y1 float64) (gx, gy float64) {
	val = val[:len(col)]
	a := 0
	for ; a+1 < len(col); a += 2 {
		j, k := 2*int(col[a]), 2*int(col[a+1])
		dx, dy := y0-y[j], y1-y[j+1]
		ex, ey := y0-y[k], y1-y[k+1]
		dj, dk := 1+dx*dx+dy*dy, 1+ex*ex+ey*ey
		r := 1 / (dj * dk)
		mj, mk := val[a]*dk*r, val[a+1]*dj*r
		gx += mj*dx + mk*ex
		gy += mj*dy + mk*ey
	}
	if a < len(col) {
		j := 2 * int(col[a])
		dx, dy := y0-y[j], y1-y[j+1]
		m := val[a] / (1 + dx*dx + dy*dy)
		gx += m * dx
		gy += m * dy
	}
	return gx, gy
}

// nearSym2 returns Σ q, Σ q²·dx and Σ q²·dy over the points of ys (x, y
// pairs) in the runs [runs[2r], runs[2r+1]), with (dx, dy) = (yx, yy) -
// point and q = 1 / (1 + dx² + dy²): point (yx, yy)'s near-field pairs,
// each counted once (exactSym2), for it also subtracts each pair's
// q²·(dx, dy), the force on the run's point, from that point's entries of
// f (x, y pairs, as ys).
func nearSym2(ys, f []float64, runs []int32, yx, yy float64) (z, fx, fy float64) {
	f = f[:len(ys)]
	for r := 0; r+1 < len(runs); r += 2 {
		if runs[r] < 0 || runs[r] > runs[r+1] || int(runs[r+1]) > len(ys)/2 {
			panic("tsne: near-field run out of range") // internal: the runs come from the boxes
		}
	}
	if hasAVX2 && len(runs) >= 2 && len(ys) > 0 {
		return nearSym2AVX2(&ys[0], &f[0], &runs[0], len(runs)/2, yx, yy)
	}
	return nearSym2Go(ys, f, runs, yx, yy)
}

// nearSym2Go is nearSym2 in Go.
func nearSym2Go(ys, f []float64, runs []int32, yx, yy float64) (z, fx, fy float64) {
	for r := 0; r+1 < len(runs); r += 2 {
		for t := 2 * int(runs[r]); t < 2*int(runs[r+1]); t += 2 {
			dx, dy := yx-ys[t], yy-ys[t+1]
			q := 1 / (1 + dx*dx + dy*dy)
			z += q
			q *= q
			fx += q * dx
			fy += q * dy
			f[t] -= q * dx
			f[t+1] -= q * dy
		}
	}
	return z, fx, fy
}

// matVec adds Σ_s src[s]·mat[s·len(acc):][:len(acc)] to acc: one
// neighbouring box's part of the near field's grid correction.
func matVec(mat, src, acc []float64) {
	mat = mat[:len(src)*len(acc)]
	if hasAVX2 && len(acc) == matVec28Len && len(src) > 0 {
		matVec28AVX2(&mat[0], &src[0], len(src), &acc[0])
		return
	}
	matVecGo(mat, src, acc)
}

// matVecGo is matVec in Go.
func matVecGo(mat, src, acc []float64) {
	for s, w := range src {
		if w == 0 {
			continue
		}
		row := mat[s*len(acc) : (s+1)*len(acc)]
		for r, v := range row {
			acc[r] += v * w
		}
	}
}

// matVec28Len is the row length matVec28AVX2 handles: 3 kernels at 9
// nodes (3 per box in 2-D), padded to 28.
const matVec28Len = 28

// firstAtMost returns the index of the first value of v at most t, or
// len(v): the exact search's scan of a row of products (knn.go), where
// most values fail.
func firstAtMost(v []float32, t float32) int {
	i := 0
	if hasAVX2 && len(v) >= 8 {
		n8 := len(v) &^ 7
		if i = firstAtMostAVX2(&v[0], n8, t); i < n8 {
			return i
		}
	}
	for ; i < len(v); i++ {
		if v[i] <= t {
			return i
		}
	}
	return len(v)
}
