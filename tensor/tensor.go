// Package tensor gives shapes to the buffers of a backend.
//
// A Tensor is a row-major shape over the first elements of one backend
// Buffer. It has no autograd: package nn's modules compute their own
// gradients. Several tensors may share a buffer: Resize views a prefix of a
// buffer with a new shape, which is how a layer sized for a batch of 128
// serves a smaller final batch without allocating.
package tensor

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/diynn/diynn/backend"
)

// Tensor is a shape over a backend buffer.
type Tensor struct {
	b     backend.Backend
	buf   backend.Buffer
	shape []int
}

// Shape is a tensor's dimensions, printed as (2×3).
type Shape []int

// shapeOf copies a shape for an error message, so that the caller's slice
// does not escape to the heap on the path without an error.
func shapeOf(s []int) Shape { return append(Shape(nil), s...) }

func (s Shape) String() string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = strconv.Itoa(d)
	}
	return "(" + strings.Join(parts, "×") + ")"
}

func volume(shape []int) (int, error) {
	n := 1
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("tensor: negative dimension in shape %v", shapeOf(shape))
		}
		if d > 0 && n > math.MaxInt32/d {
			return 0, fmt.Errorf("tensor: shape %v is too large", shapeOf(shape))
		}
		n *= d
	}
	return n, nil
}

// New allocates a tensor of the given shape with unspecified contents.
func New(b backend.Backend, shape ...int) (*Tensor, error) {
	n, err := volume(shape)
	if err != nil {
		return nil, err
	}
	return &Tensor{b: b, buf: b.Alloc(n), shape: append([]int(nil), shape...)}, nil
}

// Zeros allocates a tensor filled with zeros.
func Zeros(b backend.Backend, shape ...int) (*Tensor, error) {
	t, err := New(b, shape...)
	if err != nil {
		return nil, err
	}
	b.Fill(t.Len(), 0, t.buf)
	return t, nil
}

// FromSlice uploads data as a tensor of the given shape.
func FromSlice(b backend.Backend, data []float32, shape ...int) (*Tensor, error) {
	n, err := volume(shape)
	if err != nil {
		return nil, err
	}
	if n != len(data) {
		return nil, fmt.Errorf("tensor: %d values do not fill shape %v (%d values)", len(data), shapeOf(shape), n)
	}
	t := &Tensor{b: b, buf: b.Alloc(n), shape: append([]int(nil), shape...)}
	b.Upload(t.buf, data)
	return t, nil
}

// Wrap is FromSlice for data that the caller will not change while the
// tensor is in use: on a backend whose buffers are host memory it uses data
// without copying (see backend.HostWrapper); on others it uploads.
func Wrap(b backend.Backend, data []float32, shape ...int) (*Tensor, error) {
	hw, ok := b.(backend.HostWrapper)
	if !ok {
		return FromSlice(b, data, shape...)
	}
	n, err := volume(shape)
	if err != nil {
		return nil, err
	}
	if n != len(data) {
		return nil, fmt.Errorf("tensor: %d values do not fill shape %v (%d values)", len(data), shapeOf(shape), n)
	}
	return &Tensor{b: b, buf: hw.Wrap(data), shape: append([]int(nil), shape...)}, nil
}

// Uniform returns a tensor of values drawn uniformly from [lo, hi) by rng,
// so that a seeded rng gives the same tensor on every backend.
func Uniform(b backend.Backend, rng *rand.Rand, lo, hi float64, shape ...int) (*Tensor, error) {
	n, err := volume(shape)
	if err != nil {
		return nil, err
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(lo + (hi-lo)*rng.Float64())
	}
	return FromSlice(b, v, shape...)
}

// Normal returns a tensor of values drawn from N(mean, std²) by rng.
func Normal(b backend.Backend, rng *rand.Rand, mean, std float64, shape ...int) (*Tensor, error) {
	n, err := volume(shape)
	if err != nil {
		return nil, err
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(mean + std*rng.NormFloat64())
	}
	return FromSlice(b, v, shape...)
}

// Backend returns the backend that owns the tensor's buffer.
func (t *Tensor) Backend() backend.Backend { return t.b }

// Buffer returns the underlying buffer, which may hold more values than Len.
func (t *Tensor) Buffer() backend.Buffer { return t.buf }

// Shape returns the dimensions (the caller must not modify them).
func (t *Tensor) Shape() Shape { return t.shape }

// Len is the number of values in the tensor's shape.
func (t *Tensor) Len() int {
	n := 1
	for _, d := range t.shape {
		n *= d
	}
	return n
}

// Rows is the first dimension, or 1 for a scalar.
func (t *Tensor) Rows() int {
	if len(t.shape) == 0 {
		return 1
	}
	return t.shape[0]
}

// Cols is the product of the dimensions after the first: the width of the
// matrix that the kernels see.
func (t *Tensor) Cols() int {
	n := 1
	for _, d := range t.shape[min(1, len(t.shape)):] {
		n *= d
	}
	return n
}

// Resize gives t a new shape over the same buffer, in place. The buffer must
// hold enough values; the contents are whatever the buffer held.
func (t *Tensor) Resize(shape ...int) error {
	n, err := volume(shape)
	if err != nil {
		return err
	}
	if n > t.buf.Len() {
		return fmt.Errorf("tensor: cannot resize %v to %v: buffer holds %d values", shapeOf(t.shape), shapeOf(shape), t.buf.Len())
	}
	if len(shape) == len(t.shape) {
		copy(t.shape, shape) // no allocation in the steady state
	} else {
		t.shape = append(t.shape[:0], shape...)
	}
	return nil
}

// View returns a new tensor with the given shape over a prefix of t's buffer.
func (t *Tensor) View(shape ...int) (*Tensor, error) {
	v := &Tensor{b: t.b, buf: t.buf, shape: append([]int(nil), t.shape...)}
	if err := v.Resize(shape...); err != nil {
		return nil, err
	}
	return v, nil
}

// Data downloads the tensor's values.
func (t *Tensor) Data() ([]float32, error) {
	v := make([]float32, t.Len())
	if err := t.b.Download(v, t.buf); err != nil {
		return nil, err
	}
	return v, nil
}

// Set uploads values into the tensor.
func (t *Tensor) Set(data []float32) error {
	if len(data) != t.Len() {
		return fmt.Errorf("tensor: %d values for a tensor of shape %v", len(data), t.Shape())
	}
	t.b.Upload(t.buf, data)
	return t.b.Err()
}

// Free releases the buffer. Views of it become invalid.
func (t *Tensor) Free() {
	if t != nil && t.buf != nil {
		t.b.Free(t.buf)
		t.buf = nil
	}
}

// Ensure makes *t a tensor of the given shape on b, reusing its buffer when
// it is large enough and allocating (after freeing the old one) otherwise.
// Modules keep their outputs this way, so that steady-state training
// allocates nothing.
func Ensure(t **Tensor, b backend.Backend, shape ...int) error {
	n, err := volume(shape)
	if err != nil {
		return err
	}
	if *t != nil && (*t).b == b && (*t).buf != nil && (*t).buf.Len() >= n {
		return (*t).Resize(shape...)
	}
	if *t != nil {
		(*t).Free()
	}
	nt, err := New(b, shape...)
	if err != nil {
		return err
	}
	*t = nt
	return nil
}

// ErrBackend reports tensors of different backends used together.
var ErrBackend = errors.New("tensor: tensors belong to different backends")

// SameBackend returns ErrBackend unless every tensor shares t's backend.
func SameBackend(ts ...*Tensor) error {
	for _, o := range ts[1:] {
		if o.b != ts[0].b {
			return ErrBackend
		}
	}
	return nil
}

// SameShape returns an error naming both shapes unless a and b match.
func SameShape(what string, a, b *Tensor) error {
	if len(a.shape) != len(b.shape) {
		return fmt.Errorf("%s: shapes %v and %v differ", what, shapeOf(a.shape), shapeOf(b.shape))
	}
	for i := range a.shape {
		if a.shape[i] != b.shape[i] {
			return fmt.Errorf("%s: shapes %v and %v differ", what, shapeOf(a.shape), shapeOf(b.shape))
		}
	}
	return nil
}

// Gemm computes c = alpha·op(a)·op(b) + beta·c on the matrices that a, b and
// c are (rows × cols), after checking that their shapes agree.
func Gemm(transA, transB bool, alpha float32, a, b *Tensor, beta float32, c *Tensor) error {
	if err := SameBackend(a, b, c); err != nil {
		return err
	}
	m, k := a.Rows(), a.Cols()
	if transA {
		m, k = k, m
	}
	k2, n := b.Rows(), b.Cols()
	if transB {
		k2, n = n, k2
	}
	if k != k2 || c.Rows() != m || c.Cols() != n {
		return fmt.Errorf("tensor: cannot multiply %v%s by %v%s into %v",
			a.Shape(), tr(transA), b.Shape(), tr(transB), c.Shape())
	}
	a.b.Gemm(transA, transB, m, n, k, alpha, a.buf, b.buf, beta, c.buf)
	return nil
}

func tr(t bool) string {
	if t {
		return "ᵀ"
	}
	return ""
}
