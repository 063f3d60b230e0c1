package gpu

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/diynn/diynn/backend"
	"github.com/diynn/diynn/kernels"
)

// checkingDevice is a fakeDevice whose Launch validates every launch
// against the kernel signatures parsed from nn.kern, on its own (not
// through checkLaunch), and records what ran.
type checkingDevice struct {
	fakeDevice
	sigs     map[string][]kernels.Param
	launched map[string]int
	bad      []string
}

func newCheckingDevice() *checkingDevice {
	return &checkingDevice{sigs: kernels.Signatures(), launched: map[string]int{}}
}

func (d *checkingDevice) Launch(name string, grid, block [2]int, args []any) error {
	d.launched[name]++
	params, ok := d.sigs[name]
	if !ok {
		d.bad = append(d.bad, "unknown kernel "+name)
		return nil
	}
	if len(args) != len(params) {
		d.bad = append(d.bad, fmt.Sprintf("%s: %d args for %d params", name, len(args), len(params)))
		return nil
	}
	for i, a := range args {
		var ok bool
		switch params[i].Kind {
		case kernels.Int:
			_, isInt := a.(int)
			_, isBool := a.(bool)
			ok = isInt || isBool
		case kernels.Float:
			_, ok = a.(float32)
		case kernels.Buffer:
			_, ok = a.([]float32) // fakeDevice's Mem
		}
		if !ok {
			d.bad = append(d.bad, fmt.Sprintf("%s: argument %d (%s) is %T, want %v", name, i, params[i].Name, a, params[i].Kind))
		}
	}
	if grid[0] < 1 || grid[1] < 1 || block[0] < 1 || block[1] < 1 {
		d.bad = append(d.bad, fmt.Sprintf("%s: grid %v, block %v", name, grid, block))
	}
	return nil
}

// Every operation of backend.Backend, run on a device that validates each
// launch against nn.kern: every op's launches match their kernels, and
// every kernel in nn.kern is launched by some op. The list is checked
// against the interface by reflection, so a new operation must join it.
func TestEveryOperationLaunchesMatchTheirKernels(t *testing.T) {
	dev := newCheckingDevice()
	b, err := New(dev)
	if err != nil {
		t.Fatal(err)
	}
	const n, rows, cols = 40, 5, 8
	buf := func(vals ...float32) backend.Buffer {
		x := b.Alloc(max(n, len(vals)))
		b.Fill(x.Len(), 0, x)
		if len(vals) > 0 {
			b.Upload(x, vals)
		}
		return x
	}
	x, y, z, w := buf(), buf(), buf(), buf()
	labels := buf(1, 0, 2, 4, 3) // class indices of 5 rows, row indices of x
	one := buf(1)
	one3 := buf(1, 1, 1)
	geom := backend.ConvGeom{N: 1, C: 2, H: 3, W: 4, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1}
	colsBuf := b.Alloc(geom.ColsLen())
	ops := map[string]func(){
		"Name":            func() { b.Name() },
		"Device":          func() { b.Device() },
		"Alloc":           func() { b.Free(b.Alloc(3)) },
		"Free":            func() { b.Free(b.Alloc(3)) },
		"Upload":          func() { b.Upload(x, []float32{1, 2}) },
		"Download":        func() { b.Download(make([]float32, 2), x) },
		"Copy":            func() { b.Copy(n, x, y) },
		"Fill":            func() { b.Fill(n, 1, x) },
		"Axpy":            func() { b.Axpy(n, 2, x, y) },
		"Scale":           func() { b.Scale(n, 2, x) },
		"AddRowVector":    func() { b.AddRowVector(rows, cols, x, y) },
		"SumRows":         func() { b.SumRows(rows, cols, x, 1, y) },
		"Softmax":         func() { b.Softmax(true, rows, cols, x, y); b.Softmax(false, rows, cols, x, y) },
		"SoftmaxBackward": func() { b.SoftmaxBackward(true, rows, cols, x, y, z) },
		"CrossEntropy":    func() { b.CrossEntropy(rows, cols, x, labels, y, z) },
		"SGD": func() {
			b.SGD(n, backend.SGDStep{LR: 0.1}, x, y, nil)
			b.SGD(n, backend.SGDStep{LR: 0.1, Momentum: 0.9, Nesterov: true}, x, y, z)
		},
		"Adam":         func() { b.Adam(n, backend.AdamStep{LR: 0.1, BC1: 1, BC2: 1}, x, y, z, w) },
		"GatherRows":   func() { b.GatherRows(3, cols, x, labels, 1, y) },
		"ArgmaxRows":   func() { b.ArgmaxRows(rows, cols, x, y) },
		"Mul":          func() { b.Mul(n, x, y, z) },
		"MulRowVector": func() { b.MulRowVector(rows, cols, x, y, z) },
		"ScaleBy":      func() { b.ScaleBy(n, 2, one, x, y) },
		"SumSquares":   func() { b.SumSquares(n, x, 0, y); b.SumSquares(n, x, 1, y) },
		"ClipFactor":   func() { b.ClipFactor(1, one, y) },
		"Random": func() {
			for d := backend.Distribution(0); d.Check() == nil; d++ {
				b.Random(d, n, 1<<40+3, 1<<33+1, 0, 1, x)
			}
		},
		"ActForward": func() {
			for f := backend.Activation(0); f.Check() == nil; f++ {
				b.ActForward(f, 0.1, n, x, y)
			}
		},
		"ActBackward": func() {
			for f := backend.Activation(0); f.Check() == nil; f++ {
				b.ActBackward(f, 0.1, n, x, y, z, w)
			}
		},
		"Loss": func() {
			for l := backend.PointwiseLoss(0); l.Check() == nil; l++ {
				b.Loss(l, n, x, y, z, w)
			}
		},
		"Gemm": func() {
			const k = 33 // long enough for split K
			ga, gb, gc := b.Alloc(rows*k), b.Alloc(k*cols), b.Alloc(rows*cols)
			for _, mode := range []string{"tile", "big", "pipe", "split", ""} {
				b.gemmMode = mode
				b.Gemm(false, true, rows, cols, k, 1, ga, gb, 0.5, gc)
			}
			b.gemmMode = ""
		},
		// A 1×2×3×4 batch (24 values, within n = 40): 3×3 windows, stride
		// 2, pad 1 give a 2×2 output (16 values) and a 4×18 column matrix.
		"Im2Col":          func() { b.Im2Col(geom, x, colsBuf) },
		"Col2Im":          func() { b.Col2Im(geom, colsBuf, 0, x); b.Col2Im(geom, colsBuf, 1, x) },
		"TransposeBatch":  func() { b.TransposeBatch(2, 3, 4, x, y) },
		"CopyColumns":     func() { b.CopyColumns(2, 3, x, 4, 1, y, 5, 2) },
		"AddChannels":     func() { b.AddChannels(2, 3, 4, x, y) },
		"SumChannels":     func() { b.SumChannels(2, 3, 4, x, 0, y); b.SumChannels(2, 3, 4, x, 1, y) },
		"MaxPoolForward":  func() { b.MaxPoolForward(geom, x, y, z) },
		"MaxPoolBackward": func() { b.MaxPoolBackward(geom, y, z, w) },
		"AvgPoolForward":  func() { b.AvgPoolForward(geom, x, y) },
		"AvgPoolBackward": func() { b.AvgPoolBackward(geom, y, w) },
		"BatchNormStats":  func() { b.BatchNormStats(2, 3, 4, x, y, z) },
		"BatchNormForward": func() {
			b.BatchNormForward(2, 3, 4, 1e-5, x, y, one3, z, w, x)
		},
		"BatchNormBackward": func() {
			b.BatchNormBackward(2, 3, 4, 1e-5, true, x, y, z, one3, w, colsBuf, one3, one3)
			b.BatchNormBackward(2, 3, 4, 1e-5, false, x, y, z, one3, w, colsBuf, one3, one3)
		},
		"MemStats": func() { b.MemStats() },
		"Err":      func() { b.Err() },
		"Sync":     func() { b.Sync() },
		"Close":    func() {}, // run last, below
	}
	// The optional capabilities package gpu implements.
	fused := map[string]func(){
		"GemmBiasAct": func() {
			const k = 33
			ga, gb, gc, bias := b.Alloc(rows*k), b.Alloc(k*cols), b.Alloc(rows*cols), b.Alloc(cols)
			for _, mode := range []string{"tile", "big", "pipe", "split", ""} {
				b.gemmMode = mode
				b.GemmBiasAct(false, true, rows, cols, k, 1, ga, gb, 0.5, gc, bias, backend.Tanh, 0)
				b.GemmBiasAct(false, true, rows, cols, k, 1, ga, gb, 0, gc, nil, backend.Identity, 0)
			}
			b.gemmMode = ""
		},
		"ActBackwardSumRows": func() {
			for f := backend.Activation(0); f.Check() == nil; f++ {
				b.ActBackwardSumRows(f, 0.1, rows, cols, x, y, z, 1, w)
			}
			b.ActBackwardSumRows(backend.Identity, 0, rows, cols, x, y, y, 0, nil)
		},
	}
	for _, iface := range []struct {
		t   reflect.Type
		ops map[string]func()
	}{{reflect.TypeFor[backend.Backend](), ops}, {reflect.TypeFor[backend.FusedLinear](), fused}} {
		it := iface.t
		for i := range it.NumMethod() {
			name := it.Method(i).Name
			run, ok := iface.ops[name]
			if !ok {
				t.Errorf("%v.%s is not exercised by this test: add it", it, name)
				continue
			}
			run()
			if err := b.Err(); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
	}
	for _, bad := range dev.bad {
		t.Errorf("launch does not match nn.kern: %s", bad)
	}
	for _, k := range kernels.Names() {
		if dev.launched[k] == 0 {
			t.Errorf("no operation launched kernel %s", k)
		}
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
}

// A misspelled kernel, a wrong argument count or a wrong argument kind is a
// sticky error naming the kernel, and never reaches the driver.
func TestLaunchCheckedAgainstSource(t *testing.T) {
	cases := []struct {
		name string
		args []any
		want string
	}{
		{"axpi", []any{4, float32(1), "x", "y"}, `no kernel "axpi"`},
		{"axpy", []any{4, float32(1), "x"}, "axpy: 3 arguments, the kernel takes 4"},
		{"axpy", []any{4, float32(1), "x", "y", "z"}, "axpy: 5 arguments, the kernel takes 4"},
		{"axpy", []any{4, 1, "x", "y"}, "axpy: argument 1 (alpha) is an int, the kernel takes a float"},
		{"axpy", []any{float32(4), float32(1), "x", "y"}, "axpy: argument 0 (n) is a float, the kernel takes an int"},
		{"axpy", []any{4, float32(1), "x", 3.5}, "argument 3 (y) is a float64"},
	}
	for _, tc := range cases {
		dev := newCheckingDevice()
		b, err := New(dev)
		if err != nil {
			t.Fatal(err)
		}
		x, y := b.Alloc(4).(*buffer), b.Alloc(4).(*buffer)
		for i, a := range tc.args {
			switch a {
			case "x":
				tc.args[i] = x
			case "y", "z":
				tc.args[i] = y
			}
		}
		before := len(dev.launched)
		b.launch(tc.name, [2]int{1, 1}, [2]int{256, 1}, tc.args...)
		err = b.Err()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("launch(%s, %v): error %v, want one containing %q", tc.name, tc.args, err, tc.want)
		}
		if dev.launched[tc.name] != 0 || len(dev.launched) != before {
			t.Errorf("launch(%s, %v) reached the device", tc.name, tc.args)
		}
	}
}

// After a failure no operation reaches the device: the sticky-error
// contract, seen from the driver's side (the conformance suite can see it
// only for host memory).
func TestNothingLaunchesAfterAnError(t *testing.T) {
	dev := newCheckingDevice()
	b, _ := New(dev)
	x, y := b.Alloc(4), b.Alloc(4)
	b.Copy(10, x, y) // too short: the sticky error
	if b.Err() == nil {
		t.Fatal("Copy of 10 values between 4-value buffers: no error")
	}
	before := fmt.Sprint(dev.launched)
	b.Fill(4, 9, x)
	b.Axpy(4, 1, x, y)
	b.Random(backend.Normal, 4, 1, 0, 0, 1, x)
	b.SumSquares(4, x, 0, y)
	b.Gemm(false, false, 2, 2, 2, 1, x, x, 0, y)
	if after := fmt.Sprint(dev.launched); after != before {
		t.Errorf("launches after the sticky error: %s, before %s", after, before)
	}
}
