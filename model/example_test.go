package model_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"

	"github.com/diynn/diynn/backend"
	"github.com/diynn/diynn/backend/cpu"
	"github.com/diynn/diynn/model"
	"github.com/diynn/diynn/nn"
	"github.com/diynn/diynn/tensor"
)

// Scale is a layer of a user's own: y = x ⊙ w, one learned factor per
// feature. It is an nn.Module with a Spec, and the init below registers
// it, so that specs, model.New, SaveModule and Load know it as scale(N),
// or scale(N,init=V) for factors that start at V rather than 1.
type Scale struct {
	N             int
	Init          float64
	W             nn.Param
	out, dx, prod *tensor.Tensor
}

// NewScale returns a layer of n factors, each starting at init.
func NewScale(b backend.Backend, n int, init float64) (*Scale, error) {
	w, err := tensor.New(b, n)
	if err != nil {
		return nil, err
	}
	b.Fill(n, float32(init), w.Buffer())
	g, err := tensor.Zeros(b, n)
	if err != nil {
		return nil, err
	}
	return &Scale{N: n, Init: init, W: nn.Param{Name: "weight", Value: w, Grad: g}}, nil
}

// Spec writes the layer as its registered syntax; the default init is left
// out, as Format leaves it out.
func (s *Scale) Spec() string {
	if s.Init == 1 {
		return fmt.Sprintf("scale(%d)", s.N)
	}
	return fmt.Sprintf("scale(%d,init=%s)", s.N, strconv.FormatFloat(s.Init, 'g', -1, 64))
}

func (s *Scale) Forward(x *tensor.Tensor) (*tensor.Tensor, error) {
	if x.Cols() != s.N {
		return nil, fmt.Errorf("scale(%d): input shape %v", s.N, x.Shape())
	}
	if err := tensor.Ensure(&s.out, x.Backend(), x.Shape()...); err != nil {
		return nil, err
	}
	x.Backend().MulRowVector(x.Rows(), s.N, s.W.Value.Buffer(), x.Buffer(), s.out.Buffer())
	return s.out, nil
}

func (s *Scale) Backward(x, gradOut *tensor.Tensor) (*tensor.Tensor, error) {
	b := x.Backend()
	if err := tensor.Ensure(&s.prod, b, x.Shape()...); err != nil {
		return nil, err
	}
	if err := tensor.Ensure(&s.dx, b, x.Shape()...); err != nil {
		return nil, err
	}
	b.Mul(x.Len(), gradOut.Buffer(), x.Buffer(), s.prod.Buffer())
	b.SumRows(x.Rows(), s.N, s.prod.Buffer(), 1, s.W.Grad.Buffer())
	b.MulRowVector(x.Rows(), s.N, s.W.Value.Buffer(), gradOut.Buffer(), s.dx.Buffer())
	return s.dx, nil
}

func (s *Scale) Params() []nn.Param { return []nn.Param{s.W} }

func init() {
	model.RegisterLayer("scale", model.LayerDef{
		Usage:   "scale(N[,init=V])",
		MinArgs: 1, MaxArgs: 1,
		Named: map[string]string{"init": "1"},
		// Check runs when a spec is parsed: errors from Args' accessors
		// point at the argument's column.
		Check: func(a model.Args) error {
			if _, err := a.At(0).Int(1); err != nil {
				return err
			}
			_, err := a.Named("init").Float()
			return err
		},
		// Plan says, without allocating, what the layer takes and gives
		// and which parameters it creates, named as Params names them.
		Plan: func(ctx model.PlanContext, a model.Args) (model.LayerPlan, error) {
			n, _ := a.At(0).Int(1)
			if len(ctx.In) != 1 || ctx.In[0] != n {
				return model.LayerPlan{}, fmt.Errorf("scale(%d) takes %d values but the layer before gives %v", n, n, ctx.In)
			}
			// Its output on Forward; on Backward the input gradient and the
			// product it sums into the weight gradient.
			return model.LayerPlan{Out: tensor.Shape{n}, Params: []model.ParamShape{{Name: "weight", Shape: []int{n}}},
				Memory: &model.Memory{Forward: int64(n), Backward: 2 * int64(n), FirstBackward: 2 * int64(n)}}, nil
		},
		Build: func(ctx model.BuildContext, a model.Args) (nn.Module, error) {
			n, _ := a.At(0).Int(1)
			init, _ := a.Named("init").Float()
			return NewScale(ctx.Backend, n, init)
		},
	})
}

// A layer of one's own, registered once (see Scale's init), is used in
// specs like any built-in one, and saved models that use it load back.
func ExampleRegisterLayer() {
	b := cpu.New()
	m, err := model.Build(b, "linear(3,2) scale(2,init=0.5) tanh", rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		panic(err)
	}
	fmt.Println(m.Spec, m.Net.Params()[2].Name, m.Net.Params()[2].Value.Shape())

	path := filepath.Join(os.TempDir(), "diynn-example-scale.safetensors")
	defer os.Remove(path)
	if err := m.Save(path, nil); err != nil {
		panic(err)
	}
	loaded, _, err := model.Load(b, path)
	if err != nil {
		panic(err)
	}
	x, _ := tensor.FromSlice(b, []float32{1, 2, 3}, 1, 3)
	y1, _ := m.Forward(x)
	v1, _ := y1.Data()
	y2, _ := loaded.Forward(x)
	v2, _ := y2.Data()
	fmt.Println(loaded.Spec, v1[0] == v2[0] && v1[1] == v2[1])

	_, err = model.Build(b, "linear(3,2) scale(3)", rand.New(rand.NewPCG(1, 2)))
	fmt.Println(err)
	// Output:
	// linear(3,2) scale(2,init=0.5) tanh 1.weight (2)
	// linear(3,2) scale(2,init=0.5) tanh true
	// model spec, column 13: scale(3) takes 3 values but the layer before gives (2)
	//   linear(3,2) scale(3)
	//               ^
}

// A network built in Go becomes a Model whose spec is derived from its
// modules, checked against its parameters, and saved with its class names.
func ExampleNew() {
	b := cpu.New()
	rng := rand.New(rand.NewPCG(1, 2))
	l1, _ := nn.NewLinear(b, 4, 3, nn.InitXavier, rng)
	drop, _ := nn.NewDropout(0.25, rng.Uint64())
	l2, _ := nn.NewLinear(b, 3, 2, nn.InitDefault, rng)
	m, err := model.New(nn.NewSequential(l1, nn.Tanh(), drop, l2, nn.NewLogSoftmax()))
	if err != nil {
		panic(err)
	}
	m.Classes = []string{"setosa", "other"}
	fmt.Println(m.Spec, m.InShape, m.OutShape)

	_, err = model.New(nn.NewSequential(l1, struct{ nn.Module }{nn.Tanh()}))
	fmt.Println(err)
	// Output:
	// linear(4,3,xavier) tanh dropout(0.25) linear(3,2) logsoftmax (4) (2)
	// model: module 1 (struct { nn.Module }) of the Sequential: struct { nn.Module } has no spec: give it a method Spec() string that writes it as a layer, and register that layer with model.RegisterLayer so that specs and Load can rebuild it
}
