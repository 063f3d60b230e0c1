package tsne

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"
)

// PCA returns the n rows of x (d values each, row-major) centred and
// projected onto their k principal components, the directions of largest
// variance, as an n×k row-major matrix: the usual first step before t-SNE
// of images, which makes the neighbour search cheaper and less noisy.
//
// The components are the eigenvectors of the d×d covariance matrix of the
// centred data (gonum's symmetric eigendecomposition, mat.EigenSym), in
// decreasing order of eigenvalue. An eigenvector's sign is arbitrary, so
// each is oriented to make its entry of largest magnitude positive (the
// first such entry on a tie), which makes the result reproducible across
// LAPACK implementations up to rounding. Forming the covariance costs
// n·d² and the eigendecomposition d³, so PCA suits d up to a few thousand,
// with any n.
func PCA(x []float64, n, d, k int) ([]float64, error) {
	if n <= 0 || d <= 0 || len(x) != n*d {
		return nil, fmt.Errorf("tsne: PCA of %d values as %d points of %d dimensions", len(x), n, d)
	}
	if k < 1 || k > d {
		return nil, fmt.Errorf("tsne: PCA to %d components of %d-dimensional points: want 1 to %d", k, d, d)
	}
	xc, err := centre(x, n, d)
	if err != nil {
		return nil, err
	}
	all := blas64.General{Rows: n, Cols: d, Stride: d, Data: xc}
	cov := blas64.General{Rows: d, Cols: d, Stride: d, Data: make([]float64, d*d)}
	blas64.Gemm(blas.Trans, blas.NoTrans, 1/float64(max(n-1, 1)), all, all, 0, cov)
	sym := mat.NewSymDense(d, nil)
	for i := 0; i < d; i++ {
		for j := i; j < d; j++ {
			sym.SetSym(i, j, (cov.Data[i*d+j]+cov.Data[j*d+i])/2)
		}
	}
	var eig mat.EigenSym
	if !eig.Factorize(sym, true) {
		return nil, fmt.Errorf("tsne: PCA: the eigendecomposition of the %d×%d covariance did not converge", d, d)
	}
	var vecs mat.Dense
	eig.VectorsTo(&vecs)          // columns, in increasing order of eigenvalue
	comps := make([]float64, d*k) // d×k: column c is the c-th component
	for c := 0; c < k; c++ {
		col := d - 1 - c
		big, sign := 0.0, 1.0
		for i := 0; i < d; i++ {
			if v := vecs.At(i, col); math.Abs(v) > big {
				big, sign = math.Abs(v), math.Copysign(1, v)
			}
		}
		for i := 0; i < d; i++ {
			comps[i*k+c] = sign * vecs.At(i, col)
		}
	}
	out := make([]float64, n*k)
	blas64.Gemm(blas.NoTrans, blas.NoTrans, 1, all, blas64.General{Rows: d, Cols: k, Stride: k, Data: comps},
		0, blas64.General{Rows: n, Cols: k, Stride: k, Data: out})
	return out, nil
}

// centre returns x with each column's mean subtracted.
func centre(x []float64, n, d int) ([]float64, error) {
	mean := make([]float64, d)
	for i := 0; i < n; i++ {
		for j, v := range x[i*d : (i+1)*d] {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("tsne: PCA: value %d of point %d is %v", j, i, v)
			}
			mean[j] += v
		}
	}
	for j := range mean {
		mean[j] /= float64(n)
	}
	xc := make([]float64, n*d)
	for i := 0; i < n; i++ {
		for j := 0; j < d; j++ {
			xc[i*d+j] = x[i*d+j] - mean[j]
		}
	}
	return xc, nil
}
