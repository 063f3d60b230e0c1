package model

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/diynn/diynn/backend"
	"github.com/diynn/diynn/nn"
	"github.com/diynn/diynn/tensor"
)

// LayerDef tells the spec parser, the planner and Load about one kind of
// layer. The built-in layers are defined this way too (layers.go), so a
// user's layer is as much at home in a spec, a Plan, Estimate and a saved
// file as linear is.
//
// Arguments are written name(a,b,key=v): positional ones first, then named
// ones. Each is a number or a word (letters, digits and _, starting with a
// letter).
type LayerDef struct {
	// Usage shows the layer with its arguments, for messages and docs:
	// "linear(IN,OUT[,INIT])".
	Usage string
	// MinArgs and MaxArgs bound the number of positional arguments.
	MinArgs, MaxArgs int
	// Defaults are the values, as written in a spec, of the optional
	// positional arguments MinArgs … MaxArgs-1 that a spec leaves out
	// ("default" for linear's INIT). Parse fills them in and Format leaves
	// trailing ones out, so linear(4,3) and linear(4,3,default) are one
	// canonical spec. An optional argument without a default must then be
	// given whenever a later one is.
	Defaults []string
	// Named lists the key=value arguments the layer takes, each with its
	// default value as written ("0" for conv's pad).
	Named map[string]string
	// MinHeads, when positive, makes the layer one that runs heads, specs
	// of their own written in brackets after it and separated by |, at
	// least MinHeads of them: concat[tied(0) sigmoid | linear(30,10)]
	// (concat's is 2). NewPlan plans each head on the layer's input shape
	// before the layer's Plan, which finds them in PlanContext.Heads, and
	// Build builds their modules before the layer's Build, which finds them
	// in BuildContext.Heads. 0: the layer takes no heads, and a '[' after it
	// is an error.
	MinHeads int

	// Implied, when set, reports whether named argument key is what the
	// other arguments imply, so that Format leaves it out as it leaves out
	// a default: maxpool(2,stride=2) is maxpool(2), whose stride defaults
	// to the window's size.
	Implied func(a Args, key string) bool

	// Check, when set, validates the arguments alone, at Parse time: that
	// sizes are positive integers, that a word is one of its choices. Use
	// Args' accessors, whose errors point at the argument's column.
	Check func(a Args) error
	// Input, when set, gives the per-sample input shape the layer implies
	// by its arguments alone: (IN) for linear(IN,OUT). NewPlan takes a
	// spec's input shape from the first layer that implies one. A layer
	// whose input shape its arguments do not fix (conv(1,32,3) takes 1×H×W
	// images of any H and W) returns nil: NewPlan then refuses the spec at
	// that layer, asking for the data's shape (NewPlanFor).
	Input func(a Args) tensor.Shape
	// Plan gives the layer's output shape and parameters for its input
	// shape, without allocating. It must refuse an input the module cannot
	// take: this is how a spec whose shapes do not chain is caught before
	// anything is built. Required.
	Plan func(ctx PlanContext, a Args) (LayerPlan, error)
	// Build creates the module. Its parameters must be those Plan lists,
	// in that order, with those names and shapes (Plan.Build checks).
	// Required.
	Build func(ctx BuildContext, a Args) (nn.Module, error)
}

// PlanContext is what a layer's Plan sees.
type PlanContext struct {
	In     tensor.Shape // the per-sample input shape
	Index  int          // the layer's position in its spec (or head), from 0
	Layers []Layer      // every layer of its spec, or of its head
	// Shapes[k] is the input shape of layer k, for k ≤ Index.
	Shapes []tensor.Shape
	// Outer, for a layer in a head, is the context of the layer that runs
	// the head (a concat) in the spec that holds it; nil at the top level.
	// tied looks up its encoder there: inside a head, tied(K) names layer K
	// of the enclosing spec, before the concat, never a layer of the head.
	Outer *PlanContext
	// Heads are the plans of the layer's heads (LayerDef.MinHeads), each
	// planned on In; nil for a layer without heads. Their Params and
	// Buffers are named as within the head ("0.bias"): the layer's Plan
	// lists them with its own prefix for each head ("1.0.bias"), as the
	// module's Params will name them.
	Heads []*Plan
}

// LayerPlan is what Plan says of one layer.
type LayerPlan struct {
	Out tensor.Shape // per-sample output shape
	// Params are the parameters the module creates, named as its Params
	// method names them ("weight", "bias"); the Plan prefixes the layer's
	// position, as nn.Sequential does.
	Params []ParamShape
	// Buffers are the tensors the module keeps that are not trained
	// (nn.BufferHolder: batch norm's running statistics), named and
	// ordered as its Buffers method gives them; Shape is the shape in a
	// file, PyTorch's, and DType how the file stores it (an I64 count).
	Buffers []ParamShape
	// Memory is what the module allocates per sample, for Estimate; nil
	// means an output on Forward and an input gradient on Backward. A
	// layer with heads counts theirs in its own (Plan.Memory sums a
	// head's).
	Memory *Memory
	heads  []*Plan // the plans of the layer's heads, for Build
}

// Memory is what a layer's module allocates for each sample of a batch, in
// float32 values, beyond its parameters. Plan.Estimate adds it up.
type Memory struct {
	// Forward is what Forward keeps: its output, and masks or noise.
	Forward int64
	// ForwardTrain is what Forward adds in training mode only (dropout's
	// mask and output, which in evaluation mode passes its input on).
	ForwardTrain int64
	// Backward is what Backward keeps: the gradient of its input.
	Backward int64
	// FirstBackward is Backward's share when the layer is the first of the
	// network: nn.Sequential then calls AccGradParameters on a module that
	// has it, which computes no input gradient (0 for linear).
	FirstBackward int64
	// Fixed is what the module allocates once, whatever the batch, beyond
	// its parameters and buffers: batch norm's per-channel statistics of
	// the batch. FixedTrain is what it adds when training.
	Fixed, FixedTrain int64
	// Largest is the number of values per sample of the largest single
	// tensor the module allocates, a convolution's column matrix; 0 stands
	// for the larger of its output and its input. Estimate refuses a
	// batch for which that tensor would reach 2³¹ values, which no tensor
	// holds and no kernel indexes.
	Largest int64
}

// BuildContext is what a layer's Build sees.
type BuildContext struct {
	Backend backend.Backend
	// Rand draws initial weights, and the seeds of layers that draw random
	// numbers on the device (dropout), so that a seeded build is
	// reproducible.
	Rand    *rand.Rand
	In, Out tensor.Shape // per-sample shapes, as planned
	Index   int          // the layer's position in its spec (or head)
	// Earlier are the modules built before this one in its spec or head,
	// by position.
	Earlier []nn.Module
	// Outer, for a layer in a head, is the context of the layer that runs
	// the head in the enclosing spec (tied finds its encoder in
	// Outer.Earlier); nil at the top level.
	Outer *BuildContext
	// Heads are the modules built for each of the layer's heads, in order,
	// checked against their plans; nil for a layer without heads.
	Heads [][]nn.Module
}

var registry struct {
	sync.RWMutex
	defs  map[string]*LayerDef
	order []string // registration order, for messages
}

// RegisterLayer makes a kind of layer known to specs, NewPlan, Build and
// Load, under name (lowercase letters and digits, starting with a letter:
// batchnorm2d). Call it once, from an init
// function or before the first spec that uses it is parsed; a module that
// should round-trip through SpecOf and SaveModule also implements
// Spec() string, writing itself in this layer's syntax.
//
// It panics on a name that is taken or not lowercase letters and on a
// definition without Plan or Build: those are programming errors, found the
// first time the program runs.
func RegisterLayer(name string, def LayerDef) {
	if name == "" || name[0] < 'a' || name[0] > 'z' || strings.Trim(name, "abcdefghijklmnopqrstuvwxyz0123456789") != "" {
		panic(fmt.Sprintf("model.RegisterLayer(%q): a layer name is lowercase letters and digits, starting with a letter", name))
	}
	if def.Plan == nil || def.Build == nil {
		panic(fmt.Sprintf("model.RegisterLayer(%q): the definition needs Plan and Build", name))
	}
	if def.MinHeads < 0 {
		panic(fmt.Sprintf("model.RegisterLayer(%q): MinHeads %d", name, def.MinHeads))
	}
	if def.MinArgs < 0 || def.MaxArgs < def.MinArgs || len(def.Defaults) > def.MaxArgs-def.MinArgs {
		panic(fmt.Sprintf("model.RegisterLayer(%q): %d to %d arguments with %d defaults", name, def.MinArgs, def.MaxArgs, len(def.Defaults)))
	}
	canon := func(what, v string) string {
		a, err := parseValue(v)
		if err != nil {
			panic(fmt.Sprintf("model.RegisterLayer(%q): %s %q: %v", name, what, v, err))
		}
		return a.text()
	}
	def.Defaults = slices.Clone(def.Defaults)
	for i, d := range def.Defaults {
		def.Defaults[i] = canon("default", d)
	}
	named := make(map[string]string, len(def.Named))
	for k, v := range def.Named {
		if !isKey(k) {
			panic(fmt.Sprintf("model.RegisterLayer(%q): argument name %q: want lowercase letters", name, k))
		}
		named[k] = canon("default of "+k, v)
	}
	def.Named = named
	if def.Usage == "" {
		def.Usage = name
	}
	registry.Lock()
	defer registry.Unlock()
	if registry.defs == nil {
		registry.defs = map[string]*LayerDef{}
	}
	if _, ok := registry.defs[name]; ok {
		panic(fmt.Sprintf("model.RegisterLayer(%q): a layer of that name is already registered", name))
	}
	registry.defs[name] = &def
	registry.order = append(registry.order, name)
}

// lookup returns the definition of a layer kind.
func lookup(name string) (*LayerDef, bool) {
	registry.RLock()
	defer registry.RUnlock()
	d, ok := registry.defs[name]
	return d, ok
}

// LayerNames lists the registered layers: the built-in ones, then the
// user's in the order they were registered.
func LayerNames() []string {
	registry.RLock()
	defer registry.RUnlock()
	return slices.Clone(registry.order)
}

// LayerUsage returns a registered layer's Usage ("linear(IN,OUT[,INIT])"),
// or "" for a name that is not registered.
func LayerUsage(name string) string {
	if d, ok := lookup(name); ok {
		return d.Usage
	}
	return ""
}

func isKey(k string) bool {
	return k != "" && strings.Trim(k, "abcdefghijklmnopqrstuvwxyz") == ""
}

// value is one argument as written: a number or a word.
type value struct {
	num  float64
	word string // "" for a number
}

func (v value) text() string {
	if v.word != "" {
		return v.word
	}
	return formatNum(v.num)
}

// formatNum writes a number canonically: integers in full (784, never
// 7.84e+02), others in the shortest form that reads back the same.
func formatNum(v float64) string {
	if v == float64(int64(v)) && v > -1e15 && v < 1e15 {
		return strconv.FormatInt(int64(v), 10)
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// maxArgMagnitude bounds numbers in specs: far beyond any size or rate, and
// small enough that every integer below it is exact.
const maxArgMagnitude = 1e9

// parseValue reads one argument: a word, or a finite number within
// ±maxArgMagnitude.
func parseValue(s string) (value, error) {
	if s == "" {
		return value{}, fmt.Errorf("empty argument")
	}
	if c := s[0]; c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
		if strings.TrimLeft(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == "" {
			return value{word: s}, nil
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) || v != v || math.IsInf(v, 0) && err == nil {
		return value{}, fmt.Errorf("%q is not a number", s)
	}
	if v > maxArgMagnitude || v < -maxArgMagnitude {
		return value{}, fmt.Errorf("%s is out of range: numbers in specs are at most %g in magnitude", s, float64(maxArgMagnitude))
	}
	return value{num: v}, nil
}

// Args are a layer's arguments as its LayerDef's functions see them, with
// defaults filled in. Their accessors return *ArgError, which Parse and
// NewPlan report at the column of the argument.
type Args struct {
	layer Layer
	def   *LayerDef
}

// Len is the number of positional arguments, defaults included.
func (a Args) Len() int { return len(a.layer.Args) }

// At returns positional argument i.
func (a Args) At(i int) Arg {
	if i < 0 || i >= len(a.layer.Args) {
		return Arg{layer: a.layer.Kind, index: i, missing: true}
	}
	v := value{num: a.layer.Args[i]}
	if i < len(a.layer.Words) {
		v.word = a.layer.Words[i]
	}
	return Arg{layer: a.layer.Kind, index: i, v: v}
}

// Named returns the named argument key, or its default when the spec
// leaves it out.
func (a Args) Named(key string) Arg {
	for _, n := range a.layer.Named {
		if n.Key == key {
			return Arg{layer: a.layer.Kind, index: -1, key: key, v: value{num: n.Num, word: n.Word}}
		}
	}
	if d, ok := a.def.Named[key]; ok {
		v, _ := parseValue(d) // RegisterLayer checked it
		return Arg{layer: a.layer.Kind, index: -1, key: key, v: v}
	}
	return Arg{layer: a.layer.Kind, index: -1, key: key, missing: true}
}

// Layer is the parsed layer the arguments belong to.
func (a Args) Layer() Layer { return a.layer }

// Arg is one argument of a layer.
type Arg struct {
	layer   string // the layer's kind, for messages
	index   int    // position, or -1 for a named argument
	key     string
	v       value
	missing bool
}

// Text is the argument as Format writes it.
func (v Arg) Text() string { return v.v.text() }

// IsWord reports whether the argument is a word rather than a number.
func (v Arg) IsWord() bool { return v.v.word != "" }

func (v Arg) name() string {
	if v.key != "" {
		return v.key
	}
	return fmt.Sprintf("argument %d", v.index+1)
}

// Errorf returns an *ArgError about this argument.
func (v Arg) Errorf(format string, args ...any) error {
	return &ArgError{Layer: v.layer, Index: v.index, Key: v.key, Msg: fmt.Sprintf(format, args...)}
}

func (v Arg) checkPresent() error {
	if v.missing {
		return v.Errorf("%s has no %s", v.layer, v.name())
	}
	return nil
}

// Float returns the argument as a number.
func (v Arg) Float() (float64, error) {
	if err := v.checkPresent(); err != nil {
		return 0, err
	}
	if v.IsWord() {
		return 0, v.Errorf("%q is not a number", v.v.word)
	}
	return v.v.num, nil
}

// Int returns the argument as an integer of at least min.
func (v Arg) Int(min int) (int, error) {
	f, err := v.Float()
	if err != nil {
		return 0, err
	}
	if f != float64(int(f)) || int(f) < min {
		what := fmt.Sprintf("an integer of at least %d", min)
		switch min {
		case 0:
			what = "a non-negative integer"
		case 1:
			what = "a positive integer"
		}
		return 0, v.Errorf("%s needs %s here, got %s", v.layer, what, v.Text())
	}
	return int(f), nil
}

// Word returns the argument as one of choices; what names it in the
// message ("init" gives `linear init "he": want default, xavier or
// kaiming`).
func (v Arg) Word(what string, choices ...string) (string, error) {
	if err := v.checkPresent(); err != nil {
		return "", err
	}
	if slices.Contains(choices, v.v.word) {
		return v.v.word, nil
	}
	want := choices[0]
	if n := len(choices); n > 1 {
		want = strings.Join(choices[:n-1], ", ") + " or " + choices[n-1]
	}
	return "", v.Errorf("%s %s %q: want %s", v.layer, what, v.Text(), want)
}

// ArgError is a bad argument of a layer, found by one of Arg's accessors or
// made by Arg.Errorf. Parse and NewPlan turn it into a SpecError at the
// argument's column.
type ArgError struct {
	Layer string
	Index int    // the positional argument, or -1
	Key   string // the named argument, or ""
	Msg   string
}

func (e *ArgError) Error() string { return e.Msg }
