package tsne

// The two innermost loops of a 2-D iteration, as functions of one row so
// that amd64 can run them in assembly (pairs_amd64.s: four pairs per
// step, 3-5 times the speed of the Go loops here, which other
// architectures and CPUs without AVX2 run). Both are sums over pairs in an
// order fixed by the data, so a result does not depend on the workers;
// the assembly's lanes sum in another order than the Go loops, so the two
// agree to rounding, not bit for bit.

// attractRow2 returns Σ_a val[a]·(y0 - y[2c], y1 - y[2c+1]) / (1 + r²),
// c = col[a]: point (y0, y1)'s attraction from one row of P.
func attractRow2(y []float64, col []int32, val []float64, y0, y1 float64) (gx, gy float64) {
	val = val[:len(col)]
	a := 0
	if hasAVX2 && len(col) >= 4 {
		a = len(col) &^ 3
		gx, gy = attractRow2AVX2(&y[0], &col[0], &val[0], a, y0, y1)
	}
	tx, ty := attractRow2Go(y, col[a:], val[a:], y0, y1)
	return gx + tx, gy + ty
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

// nearRow2 returns Σ q, Σ q²·dx and Σ q²·dy over the points of ys (x, y
// pairs), with (dx, dy) = (yx, yy) - point and q = 1 / (1 + dx² + dy²): a
// run of the near field's pairs.
func nearRow2(ys []float64, yx, yy float64) (z, fx, fy float64) {
	n := len(ys) / 2
	t := 0
	if hasAVX2 && n >= 4 {
		t = n &^ 3
		z, fx, fy = nearRow2AVX2(&ys[0], t, yx, yy)
	}
	rz, rx, ry := nearRow2Go(ys[2*t:], yx, yy)
	return z + rz, fx + rx, fy + ry
}

// nearRow2Go is nearRow2 in Go.
func nearRow2Go(ys []float64, yx, yy float64) (z, fx, fy float64) {
	for t := 0; t+1 < len(ys); t += 2 {
		dx, dy := yx-ys[t], yy-ys[t+1]
		q := 1 / (1 + dx*dx + dy*dy)
		z += q
		q *= q
		fx += q * dx
		fy += q * dy
	}
	return z, fx, fy
}

// matVec28Len is the row length matVec28AVX2 handles: 3 kernels at 9
// nodes, padded to 28.
const matVec28Len = 28
