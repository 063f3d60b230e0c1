// Package model describes networks as text, builds them on a backend, and
// saves and loads them as safetensors files that carry their own
// description, so that loading needs no code.
//
// A spec is a sequence of layers separated by spaces:
//
//	linear(784,176) tanh linear(176,42) relu linear(42,10)
//
// Layers: linear(IN,OUT) or linear(IN,OUT,INIT) with INIT default, xavier or
// kaiming; tied(K), the decoder of the linear layer at position K (counting
// from 0) with its weight transposed; tanh; sigmoid; relu; leakyrelu(ALPHA);
// softmax; logsoftmax.
package model

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/diynn/diynn/internal/bytesize"
)

// Layer is one parsed element of a spec.
type Layer struct {
	Kind string    // linear, tied, tanh, sigmoid, relu, leakyrelu, softmax, logsoftmax
	Args []float64 // linear: in, out; tied: the index of its encoder; leakyrelu: alpha
	Init string    // linear only: default, xavier or kaiming
	Pos  int       // byte offset in the spec, for messages
}

func (l Layer) String() string {
	switch l.Kind {
	case "linear":
		if l.Init != "" && l.Init != "default" {
			return fmt.Sprintf("linear(%d,%d,%s)", int(l.Args[0]), int(l.Args[1]), l.Init)
		}
		return fmt.Sprintf("linear(%d,%d)", int(l.Args[0]), int(l.Args[1]))
	case "tied":
		return fmt.Sprintf("tied(%d)", int(l.Args[0]))
	case "leakyrelu":
		return "leakyrelu(" + strconv.FormatFloat(l.Args[0], 'g', -1, 64) + ")"
	}
	return l.Kind
}

// SpecError is a malformed spec, with the position of the problem.
type SpecError struct {
	Spec string
	Pos  int // byte offset
	Msg  string
}

func (e *SpecError) Error() string {
	return fmt.Sprintf("model spec, column %d: %s\n  %s\n  %s^", e.Pos+1, e.Msg, e.Spec, strings.Repeat(" ", e.Pos))
}

// arity gives the number of arguments of each layer kind.
var arity = map[string][2]int{ // min, max
	"linear": {2, 3}, "tied": {1, 1}, "leakyrelu": {1, 1},
	"tanh": {0, 0}, "sigmoid": {0, 0}, "relu": {0, 0}, "softmax": {0, 0}, "logsoftmax": {0, 0},
}

// maxLayerWeights bounds the weights of one linear layer, 2²⁸ (1 GiB of
// float32), far beyond any layer diynn trains: a sanity bound against typos.
const maxLayerWeights = 1 << 28

// Parse splits a spec into layers and checks each one's arguments; Build
// checks that the layers fit together.
func Parse(spec string) ([]Layer, error) {
	fail := func(pos int, format string, args ...any) error {
		return &SpecError{Spec: spec, Pos: pos, Msg: fmt.Sprintf(format, args...)}
	}
	var layers []Layer
	i := 0
	for {
		for i < len(spec) && (spec[i] == ' ' || spec[i] == '\t' || spec[i] == '\n') {
			i++
		}
		if i == len(spec) {
			break
		}
		start := i
		for i < len(spec) && (spec[i] >= 'a' && spec[i] <= 'z' || spec[i] >= 'A' && spec[i] <= 'Z') {
			i++
		}
		name := strings.ToLower(spec[start:i])
		if name == "" {
			return nil, fail(start, "expected a layer name, found %q", spec[start:start+1])
		}
		ar, ok := arity[name]
		if !ok {
			return nil, fail(start, "unknown layer %q (known: linear, tied, tanh, sigmoid, relu, leakyrelu, softmax, logsoftmax)", name)
		}
		l := Layer{Kind: name, Pos: start}
		var args []string
		var argPos []int
		if i < len(spec) && spec[i] == '(' {
			end := strings.IndexByte(spec[i:], ')')
			if end < 0 {
				return nil, fail(i, "unclosed '('")
			}
			p := i + 1
			for _, a := range strings.Split(spec[i+1:i+end], ",") {
				args = append(args, strings.TrimSpace(a))
				argPos = append(argPos, p+len(a)-len(strings.TrimLeft(a, " ")))
				p += len(a) + 1
			}
			i += end + 1
		}
		if len(args) < ar[0] || len(args) > ar[1] {
			want := strconv.Itoa(ar[0])
			if ar[1] != ar[0] {
				want += " or " + strconv.Itoa(ar[1])
			}
			return nil, fail(start, "%s takes %s arguments, got %d", name, want, len(args))
		}
		for k, a := range args {
			if name == "linear" && k == 2 {
				switch a {
				case "default", "xavier", "kaiming":
					l.Init = a
				default:
					return nil, fail(argPos[k], "linear init %q: want default, xavier or kaiming", a)
				}
				continue
			}
			v, err := strconv.ParseFloat(a, 64)
			if err != nil || v != v || v > 1e9 || v < -1e9 {
				return nil, fail(argPos[k], "%q is not a number", a)
			}
			if name != "leakyrelu" && (v != float64(int(v)) || v < 0 || (name == "linear" && v < 1)) {
				return nil, fail(argPos[k], "%s needs a positive integer here, got %s", name, a)
			}
			l.Args = append(l.Args, v)
		}
		if name == "linear" && l.Init == "" {
			l.Init = "default"
		}
		if name == "linear" {
			if in, out := int64(l.Args[0]), int64(l.Args[1]); in*out > maxLayerWeights {
				return nil, fail(start, "linear(%d,%d) has %d weights, more than the %d (%s as float32) one layer may have",
					in, out, in*out, maxLayerWeights, bytesize.Format(4*maxLayerWeights))
			}
		}
		layers = append(layers, l)
		if i < len(spec) && spec[i] != ' ' && spec[i] != '\t' && spec[i] != '\n' {
			return nil, fail(i, "expected a space between layers, found %q", spec[i:i+1])
		}
	}
	if len(layers) == 0 {
		return nil, fail(0, "empty spec")
	}
	return layers, nil
}

// Format writes layers back as a canonical spec.
func Format(layers []Layer) string {
	parts := make([]string, len(layers))
	for i, l := range layers {
		parts[i] = l.String()
	}
	return strings.Join(parts, " ")
}
