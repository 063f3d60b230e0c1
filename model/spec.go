package model

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Layer is one parsed element of a spec.
type Layer struct {
	Kind string // a registered layer's name: linear, tied, relu, …
	// Args are the positional arguments, defaults filled in: Args[i] is
	// argument i when it is a number (linear: in, out; tied: the index of
	// its encoder; leakyrelu: alpha), and 0 when it is a word, which
	// Words[i] then holds (linear's init).
	Args   []float64
	Words  []string // "" where the argument is a number; may be shorter than Args
	Named  []NamedArg
	Pos    int   // byte offset in the spec, for messages
	ArgPos []int // byte offset of each positional argument; -1 for a default
	// Heads are the specs in brackets of a layer that runs heads
	// (LayerDef.MinHeads): concat[A | B] has the layers of A and of B.
	// Nil for any other layer.
	Heads [][]Layer
}

// NamedArg is a key=value argument of a layer: a number, or a word.
type NamedArg struct {
	Key  string
	Num  float64
	Word string // "" when the value is a number
	Pos  int    // byte offset of the value in the spec
}

// word returns positional argument i's word, or "".
func (l Layer) word(i int) string {
	if i < len(l.Words) {
		return l.Words[i]
	}
	return ""
}

func (l Layer) argText(i int) string { return value{num: l.Args[i], word: l.word(i)}.text() }

// String writes the layer canonically: its name, then its arguments
// without trailing defaults, and named arguments in the order its Usage
// shows them (then by key), without those at their default or implied by
// the others (LayerDef.Implied); then its heads, if it has any, each
// written by Format, in brackets and separated by " | ":
// concat[tied(0) sigmoid | linear(30,10)].
func (l Layer) String() string {
	def, _ := lookup(l.Kind)
	n := len(l.Args)
	if def != nil {
		for n > def.MinArgs && n-1-def.MinArgs < len(def.Defaults) && l.argText(n-1) == def.Defaults[n-1-def.MinArgs] {
			n--
		}
	}
	var parts []string
	for i := range n {
		parts = append(parts, l.argText(i))
	}
	named := slices.Clone(l.Named)
	slices.SortFunc(named, func(a, b NamedArg) int {
		if def != nil {
			if c := cmp.Compare(usageRank(def.Usage, a.Key), usageRank(def.Usage, b.Key)); c != 0 {
				return c
			}
		}
		return strings.Compare(a.Key, b.Key)
	})
	for _, a := range named {
		t := value{num: a.Num, word: a.Word}.text()
		if def != nil && (def.Named[a.Key] == t || def.Implied != nil && def.Implied(Args{layer: l, def: def}, a.Key)) {
			continue
		}
		parts = append(parts, a.Key+"="+t)
	}
	s := l.Kind
	if len(parts) > 0 {
		s += "(" + strings.Join(parts, ",") + ")"
	}
	if len(l.Heads) > 0 {
		heads := make([]string, len(l.Heads))
		for h, head := range l.Heads {
			heads[h] = Format(head)
		}
		s += "[" + strings.Join(heads, " | ") + "]"
	}
	return s
}

// usageRank orders named arguments as a layer's Usage writes them
// (conv(IN,OUT,K[,stride=S][,pad=P]…): stride before pad), those it does
// not show last.
func usageRank(usage, key string) int {
	for i := 0; i+len(key) < len(usage); i++ {
		if strings.HasPrefix(usage[i:], key+"=") && (i == 0 || usage[i-1] < 'a' || usage[i-1] > 'z') {
			return i
		}
	}
	return len(usage)
}

// SpecError is a malformed spec, with the position of the problem.
type SpecError struct {
	Spec string
	Pos  int // byte offset
	Msg  string
	Err  error // the error of the layer's definition, if one gave it
}

func (e *SpecError) Error() string {
	return fmt.Sprintf("model spec, column %d: %s\n  %s\n  %s^", e.Pos+1, e.Msg, e.Spec, strings.Repeat(" ", e.Pos))
}

func (e *SpecError) Unwrap() error { return e.Err }

// layerError reports err, from a layer's definition, at the column of the
// argument it names (an *ArgError), or else at the layer's.
func layerError(spec string, l Layer, err error) *SpecError {
	pos := l.Pos
	var ae *ArgError
	if errors.As(err, &ae) {
		if ae.Index >= 0 && ae.Index < len(l.ArgPos) && l.ArgPos[ae.Index] >= 0 {
			pos = l.ArgPos[ae.Index]
		}
		for _, n := range l.Named {
			if ae.Key != "" && n.Key == ae.Key {
				pos = n.Pos
			}
		}
	}
	return &SpecError{Spec: spec, Pos: pos, Msg: err.Error(), Err: err}
}

// maxLayerWeights bounds the weights of one linear layer, 2²⁸ (1 GiB of
// float32), far beyond any layer diynn trains: a sanity bound against typos.
const maxLayerWeights = 1 << 28

// Parse splits a spec into layers and checks each one's arguments against
// its registered definition; NewPlan checks that the layers fit together.
// A layer that takes heads (LayerDef.MinHeads, as concat does) is followed
// by brackets holding them, separated by |, each a spec of its own:
// concat[tied(0) sigmoid | linear(30,10)]. Positions, Layer.Pos and those
// of errors, are offsets in the whole spec, heads included.
func Parse(spec string) ([]Layer, error) {
	layers, _, err := parseLayers(spec, 0, -1)
	if err != nil {
		return nil, err
	}
	if len(layers) == 0 {
		return nil, &SpecError{Spec: spec, Pos: 0, Msg: "empty spec"}
	}
	return layers, nil
}

// isSpace reports whether c separates layers.
func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' }

// parseLayers parses the layers of spec from offset i: up to the end of the
// spec at the top level (open < 0), or, in a head of the layer whose '[' is
// at offset open, up to the '|' or ']' that ends the head, which it leaves
// at next.
func parseLayers(spec string, i, open int) (layers []Layer, next int, err error) {
	fail := func(pos int, format string, args ...any) error {
		return &SpecError{Spec: spec, Pos: pos, Msg: fmt.Sprintf(format, args...)}
	}
	inHead := open >= 0
	for {
		for i < len(spec) && isSpace(spec[i]) {
			i++
		}
		if i == len(spec) {
			if inHead {
				return nil, 0, fail(open, "unclosed '[': its heads end with ']'")
			}
			return layers, i, nil
		}
		if inHead && (spec[i] == '|' || spec[i] == ']') {
			return layers, i, nil
		}
		start := i
		for i < len(spec) && (spec[i] >= 'a' && spec[i] <= 'z' || spec[i] >= 'A' && spec[i] <= 'Z' || i > start && spec[i] >= '0' && spec[i] <= '9') {
			i++
		}
		name := strings.ToLower(spec[start:i])
		if name == "" {
			return nil, 0, fail(start, "expected a layer name, found %q", firstRune(spec[start:]))
		}
		def, ok := lookup(name)
		if !ok {
			return nil, 0, fail(start, "unknown layer %q (known: %s; a layer of your own needs model.RegisterLayer)", name, strings.Join(LayerNames(), ", "))
		}
		l := Layer{Kind: name, Pos: start}
		if i < len(spec) && spec[i] == '(' {
			// The arguments end at the first ')', before any bracket or
			// '|': linear(3,2 | relu] is an unclosed '(' in a head, not a
			// strange number.
			end := strings.IndexAny(spec[i+1:], "()[]|")
			if end < 0 || spec[i+1+end] != ')' {
				return nil, 0, fail(i, "unclosed '('")
			}
			end++
			inner := spec[i+1 : i+end]
			p := i + 1
			i += end + 1
			if strings.TrimSpace(inner) == "" {
				inner = "" // name() takes no arguments
			}
			for a := range strings.SplitSeq(inner, ",") {
				if inner == "" {
					break
				}
				at := p + len(a) - len(strings.TrimLeft(a, " \t\n"))
				p += len(a) + 1
				a = strings.TrimSpace(a)
				if key, val, isNamed := strings.Cut(a, "="); isNamed {
					key = strings.TrimSpace(key)
					valAt := at + strings.IndexByte(a, '=') + 1
					valAt += len(val) - len(strings.TrimLeft(val, " \t\n"))
					if !isKey(key) {
						return nil, 0, fail(at, "argument name %q: want lowercase letters", key)
					}
					if _, ok := def.Named[key]; !ok {
						takes := "none"
						if len(def.Named) > 0 {
							takes = strings.Join(slices.Sorted(maps.Keys(def.Named)), ", ")
						}
						return nil, 0, fail(at, "%s has no argument %q (named arguments it takes: %s)", name, key, takes)
					}
					if slices.ContainsFunc(l.Named, func(n NamedArg) bool { return n.Key == key }) {
						return nil, 0, fail(at, "%s: %s given twice", name, key)
					}
					v, err := parseValue(strings.TrimSpace(val))
					if err != nil {
						return nil, 0, fail(valAt, "%v", err)
					}
					l.Named = append(l.Named, NamedArg{Key: key, Num: v.num, Word: v.word, Pos: valAt})
					continue
				}
				if len(l.Named) > 0 {
					return nil, 0, fail(at, "%s: positional argument %q after a named one", name, a)
				}
				v, err := parseValue(a)
				if err != nil {
					return nil, 0, fail(at, "%v", err)
				}
				l.Args = append(l.Args, v.num)
				l.Words = append(l.Words, v.word)
				l.ArgPos = append(l.ArgPos, at)
			}
		}
		if n := len(l.Args); n < def.MinArgs || n > def.MaxArgs {
			want := strconv.Itoa(def.MinArgs)
			switch {
			case def.MaxArgs == def.MinArgs+1:
				want += " or " + strconv.Itoa(def.MaxArgs)
			case def.MaxArgs > def.MinArgs:
				want += " to " + strconv.Itoa(def.MaxArgs)
			}
			return nil, 0, fail(start, "%s takes %s arguments, got %d: %s", name, want, n, def.Usage)
		}
		if i < len(spec) && spec[i] == '[' {
			if def.MinHeads == 0 {
				return nil, 0, fail(i, "%s takes no heads: '[' follows a layer that runs heads, such as concat[A | B]", name)
			}
			bracket := i
			i++
			for {
				head, next, err := parseLayers(spec, i, bracket)
				if err != nil {
					return nil, 0, err
				}
				if len(head) == 0 {
					return nil, 0, fail(next, "empty head: each head of %s is a spec of one layer or more", name)
				}
				l.Heads = append(l.Heads, head)
				i = next + 1
				if spec[next] == ']' {
					break
				}
			}
		}
		if len(l.Heads) < def.MinHeads {
			return nil, 0, fail(start, "%s takes %d heads or more in brackets, got %d: %s", name, def.MinHeads, len(l.Heads), def.Usage)
		}
		for k := len(l.Args) - def.MinArgs; k < len(def.Defaults); k++ {
			v, _ := parseValue(def.Defaults[k])
			l.Args = append(l.Args, v.num)
			l.Words = append(l.Words, v.word)
			l.ArgPos = append(l.ArgPos, -1)
		}
		if !slices.ContainsFunc(l.Words, func(w string) bool { return w != "" }) {
			l.Words = nil
		}
		if def.Check != nil {
			if err := def.Check(Args{layer: l, def: def}); err != nil {
				return nil, 0, layerError(spec, l, err)
			}
		}
		layers = append(layers, l)
		if i < len(spec) && !isSpace(spec[i]) && !(inHead && (spec[i] == '|' || spec[i] == ']')) {
			return nil, 0, fail(i, "expected a space between layers, found %q", firstRune(spec[i:]))
		}
	}
}

// Format writes layers back as a canonical spec.
func Format(layers []Layer) string {
	parts := make([]string, len(layers))
	for i, l := range layers {
		parts[i] = l.String()
	}
	return strings.Join(parts, " ")
}

// firstRune is the first character of s, whole: a message quotes "é", not
// the first byte of its encoding.
func firstRune(s string) string {
	_, n := utf8.DecodeRuneInString(s)
	return s[:n]
}
