package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/diynn/diynn/internal/testenv"
)

func sample() *File {
	return &File{
		Tensors: []Tensor{
			{Name: "0.weight", Shape: []int{2, 3}, Data: []float32{1, -2, 3.5, float32(math.Inf(1)), float32(math.Copysign(0, -1)), 1e-40}},
			{Name: "0.bias", Shape: []int{2}, Data: []float32{0.25, -0.125}},
			{Name: "scalar", Shape: []int{}, Data: []float32{42}},
		},
		Metadata: map[string]string{"format": "diynn", "spec": "linear(3,2)"},
	}
}

func TestRoundTripIsBitExact(t *testing.T) {
	f := sample()
	nan := math.Float32frombits(0x7fc00123) // a NaN with a payload
	f.Tensors[1].Data[1] = nan
	path := filepath.Join(t.TempDir(), "m.safetensors")
	if err := WriteFile(path, f); err != nil {
		t.Fatal(err)
	}
	g, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if g.Metadata["spec"] != "linear(3,2)" || len(g.Tensors) != 3 {
		t.Fatalf("read %+v", g)
	}
	for _, want := range f.Tensors {
		got, ok := g.Get(want.Name)
		if !ok || len(got.Shape) != len(want.Shape) || len(got.Data) != len(want.Data) {
			t.Fatalf("%s: got %+v", want.Name, got)
		}
		for i := range want.Data {
			if math.Float32bits(got.Data[i]) != math.Float32bits(want.Data[i]) {
				t.Errorf("%s[%d]: bits %08x, want %08x", want.Name, i, math.Float32bits(got.Data[i]), math.Float32bits(want.Data[i]))
			}
		}
	}
	b, _ := os.ReadFile(path)
	if hlen := binary.LittleEndian.Uint64(b); (8+hlen)%8 != 0 {
		t.Errorf("data starts at %d, not 8-byte aligned", 8+hlen)
	}
}

func TestWriteFileLeavesNothingOnError(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.safetensors")
	os.WriteFile(path, []byte("previous"), 0o644)
	bad := &File{Tensors: []Tensor{{Name: "x", Shape: []int{3}, Data: []float32{1}}}}
	if err := WriteFile(path, bad); err == nil || !strings.Contains(err.Error(), `"x"`) {
		t.Fatalf("error %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries after a failed write", len(entries))
	}
	if b, _ := os.ReadFile(path); string(b) != "previous" {
		t.Error("the previous file was changed")
	}
}

func encode(t *testing.T, header string, data []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, uint64(len(header)))
	b.WriteString(header)
	b.Write(data)
	return b.Bytes()
}

func TestDecodeErrors(t *testing.T) {
	four := make([]byte, 4)
	cases := []struct {
		name string
		in   []byte
		want string
	}{
		{"short", []byte{1, 2}, "shorter"},
		{"huge header", encode(t, "", nil)[:8], "header length"},
		{"bad json", encode(t, "{", nil), "header"},
		{"dtype", encode(t, `{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}`, four), "F16"},
		// What a PyTorch user who saved a half-precision state_dict reads.
		{"bf16", encode(t, `{"0.weight":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}}`, four),
			`tensor "0.weight" has dtype "BF16"; only F32 and I64 are supported (convert half or double precision to float32 before saving: .float() in PyTorch)`},
		{"out of range", encode(t, `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, four), "byte range"},
		{"shape mismatch", encode(t, `{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,4]}}`, four), "byte range"},
		{"negative shape", encode(t, `{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, four), "invalid shape"},
		{"overlap", encode(t, `{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, four), "overlap"},
		{"trailing", encode(t, `{"a":{"dtype":"F32","shape":[],"data_offsets":[0,4]}}`, make([]byte, 8)), "after the last"},
		{"metadata", encode(t, `{"__metadata__":{"a":1}}`, nil), "strings"},
		{"not an object", encode(t, `[1,2]`, nil), "not a JSON object"},
		{"empty header", encode(t, ``, nil), "not a JSON object"},
		{"duplicate tensor", encode(t, `{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, four), `"a" appears twice`},
		{"duplicate metadata", encode(t, `{"__metadata__":{},"__metadata__":{"a":"b"}}`, nil), `"__metadata__" appears twice`},
		{"empty name", encode(t, `{"":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, four), "empty name"},
		{"after the object", encode(t, `{} {}`, nil), "more after the JSON object"},
		{"garbage after", encode(t, `{}x`, nil), "more after the JSON object"},
		{"padded", encode(t, `{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}   `, four), ""},
		{"no shape", encode(t, `{"a":{"dtype":"F32","data_offsets":[0,4]}}`, four), "no shape"},
		{"one offset", encode(t, `{"a":{"dtype":"F32","shape":[],"data_offsets":[4]}}`, four), "want [begin, end]"},
		{"three offsets", encode(t, `{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}`, four), "want [begin, end]"},
		{"negative offset", encode(t, `{"a":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}`, four), "byte range [-4, 0)"},
		{"reversed range", encode(t, `{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}`, four), "byte range [4, 0)"},
		{"overflowing shape", encode(t, `{"a":{"dtype":"F32","shape":[4294967296,4294967296,4294967296,1],"data_offsets":[0,0]}}`, nil), "invalid shape"},
		{"over 2^31 values", encode(t, `{"a":{"dtype":"F32","shape":[65536,32768],"data_offsets":[0,8589934592]}}`, nil), "invalid shape"},
		{"offset beyond int64", encode(t, `{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,9223372036854775808]}}`, four), "tensor \"a\""},
		{"fractional dim", encode(t, `{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}`, four), "tensor \"a\""},
		{"gap", encode(t, `{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, make([]byte, 8)), "starts at byte 4, want 0"},
		{"zero-size tensors", encode(t, `{"a":{"dtype":"F32","shape":[0,5],"data_offsets":[0,0]},"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, four), ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := c.in
			if c.name == "huge header" {
				binary.LittleEndian.PutUint64(b, 1<<40)
			}
			_, err := Decode(b)
			if c.want == "" {
				if err != nil {
					t.Errorf("error %v, want none", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one mentioning %q", err, c.want)
			}
		})
	}
}

// __metadata__ is null or maps each key, once, to a string.
func TestDecodeMetadata(t *testing.T) {
	cases := []struct {
		name, meta string
		want       map[string]string // nil: none
		err        string            // in the error; "" for success
	}{
		{"strings", `{"seed":"1","format":"diynn/1","":"","é":"\u00e9\n"}`, map[string]string{"seed": "1", "format": "diynn/1", "": "", "é": "é\n"}, ""},
		{"empty", `{}`, map[string]string{}, ""},
		{"null", `null`, nil, ""},
		{"repeated key", `{"seed":"1","data":"x","seed":"7"}`, nil, `safetensors: __metadata__: key "seed" appears twice`},
		{"repeated, same value", `{"seed":"1","seed":"1"}`, nil, `key "seed" appears twice`},
		{"repeated after escaping", `{"seed":"1","se\u0065d":"7"}`, nil, `key "seed" appears twice`},
		{"number", `{"seed":7}`, nil, `__metadata__ must map strings to strings: the value of "seed" is the number 7`},
		{"null value", `{"seed":null}`, nil, `the value of "seed" is null`},
		{"boolean", `{"a":"b","ok":true}`, nil, `the value of "ok" is the boolean true`},
		{"array", `{"seed":["1"]}`, nil, `the value of "seed" is an array`},
		{"object", `{"seed":{"v":"1"}}`, nil, `the value of "seed" is an object`},
		{"a string", `"seed"`, nil, `__metadata__ must map strings to strings, found the string "seed"`},
		{"an array", `[]`, nil, `strings to strings, found an array`},
		{"a number", `1`, nil, `strings to strings, found the number 1`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := Decode(encode(t, `{"__metadata__":`+c.meta+`}`, nil))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one mentioning %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (f.Metadata == nil) != (c.want == nil) || !maps.Equal(f.Metadata, c.want) {
				t.Errorf("metadata %#v, want %#v", f.Metadata, c.want)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	var b bytes.Buffer
	Encode(&b, sample())
	f.Add(b.Bytes())
	f.Add(encode(nil, `{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, make([]byte, 4)))
	f.Add(encode(nil, `{"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},"b":{"dtype":"F32","shape":[],"data_offsets":[0,4]}}`, make([]byte, 4)))
	f.Add(encode(nil, `{"__metadata__":{"k":"v"}}`, nil))
	f.Add(encode(nil, `{"__metadata__":{"k":"v","k":"w"}}`, nil))
	f.Add(encode(nil, `{"__metadata__":{"k":1,"j":null}}`, nil))
	f.Fuzz(func(t *testing.T, in []byte) {
		g, err := Decode(in)
		if err != nil {
			return
		}
		var values int
		for _, tn := range g.Tensors {
			values += len(tn.Data)
		}
		if 4*values > len(in) {
			t.Fatalf("decoded %d values from %d bytes", values, len(in))
		}
		var out bytes.Buffer
		if err := Encode(&out, g); err != nil {
			t.Fatalf("re-encoding a decoded file: %v", err)
		}
		h, err := Decode(out.Bytes())
		if err != nil {
			t.Fatalf("decoding the re-encoded file: %v", err)
		}
		if !sameFile(g, h) {
			t.Fatalf("round trip changed the file:\n%+v\n%+v", g, h)
		}
	})
}

// sameFile compares names, shapes, bits and metadata.
func sameFile(a, b *File) bool {
	if len(a.Tensors) != len(b.Tensors) || len(a.Metadata) != len(b.Metadata) {
		return false
	}
	for k, v := range a.Metadata {
		if w, ok := b.Metadata[k]; !ok || w != v {
			return false
		}
	}
	for i, x := range a.Tensors {
		y := b.Tensors[i]
		if x.Name != y.Name || !slices.Equal(x.Shape, y.Shape) || len(x.Data) != len(y.Data) {
			return false
		}
		for j := range x.Data {
			if math.Float32bits(x.Data[j]) != math.Float32bits(y.Data[j]) {
				return false
			}
		}
	}
	return true
}

// A tensor larger than read's 1 MiB chunk, and one that ends inside a
// chunk, come back intact.
func TestReadSpansChunks(t *testing.T) {
	big := make([]float32, 300_001)
	for i := range big {
		big[i] = float32(i) - 0.5
	}
	f := &File{Tensors: []Tensor{{Name: "big", Shape: []int{300_001}, Data: big}, {Name: "small", Shape: []int{3}, Data: []float32{1, 2, 3}}}}
	path := filepath.Join(t.TempDir(), "big.safetensors")
	if err := WriteFile(path, f); err != nil {
		t.Fatal(err)
	}
	g, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !sameFile(f, g) {
		t.Error("the file read back differs")
	}
}

func TestReadFileRefuses(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.safetensors")
	if err := WriteFile(path, sample()); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)
	size := fi.Size()
	cases := []struct {
		name  string
		path  string
		limit int64
		want  []string // all of these, in the error
	}{
		{"at the limit", path, size, nil},
		{"over the limit", path, size - 1, []string{path, fmt.Sprintf("(%d bytes)", size), fmt.Sprintf("limit of %d B (%d bytes) for a safetensors file", size-1, size-1)}},
		{"zero limit", path, 0, []string{"positive limit"}},
		{"directory", dir, MaxFileBytes, []string{dir, "is a directory"}},
		{"missing", filepath.Join(dir, "nonesuch"), MaxFileBytes, []string{"nonesuch", "no such file"}},
	}
	if _, err := os.Stat("/dev/zero"); err == nil {
		cases = append(cases, struct {
			name  string
			path  string
			limit int64
			want  []string
		}{"device", "/dev/zero", MaxFileBytes, []string{"/dev/zero", "is a character device"}})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ReadFileLimit(c.path, c.limit)
			if c.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want one mentioning %q", c.want)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// ReadFile of the default limit reads what ReadFileLimit does.
func TestReadFileDefaultLimit(t *testing.T) {
	if MaxFileBytes != 16<<30 {
		t.Errorf("MaxFileBytes = %d", MaxFileBytes)
	}
	_, err := ReadFile("/dev/zero")
	if err == nil || !strings.Contains(err.Error(), "character device") {
		t.Errorf("ReadFile(/dev/zero): %v", err)
	}
}

// read knows the size it was promised: a file that changes under it is an
// error, not a wrong tensor.
func TestReadDetectsSizeChange(t *testing.T) {
	var b bytes.Buffer
	Encode(&b, sample())
	good := b.Bytes()
	cases := []struct {
		name string
		in   []byte
		want string
	}{
		{"same", good, ""},
		{"grew", append(slices.Clone(good), 0), "grew while it was read"},
		{"shrank in the data", good[:len(good)-1], "shrank while it was read"},
		{"shrank in the header", good[:20], "shrank while it was read"},
		{"shrank to nothing", nil, "shrank while it was read"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := read(bytes.NewReader(c.in), int64(len(good)))
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, io.ErrUnexpectedEOF) && c.name != "grew" {
				t.Errorf("error %v, want one mentioning %q", err, c.want)
			}
		})
	}
}

// TestNumpyReadsOurFiles runs testdata/check_numpy.py, which reads a file
// we wrote with numpy alone. It needs Debian's python3-numpy; ci/test.sh
// installs it, so in CI a missing numpy is a failure.
func TestNumpyReadsOurFiles(t *testing.T) {
	python := testenv.Python(t, "numpy")
	f := sample()
	f.Tensors[0].Data[3] = 7 // JSON has no infinity
	// PyTorch's num_batches_tracked: a 0-dimensional int64.
	f.Tensors = append(f.Tensors, Tensor{Name: "1.num_batches_tracked", Shape: []int{}, Data: []float32{12}, DType: I64},
		Tensor{Name: "counts", Shape: []int{3}, Data: []float32{-5, 0, 1 << 24}, DType: I64})
	dir := t.TempDir()
	path := filepath.Join(dir, "m.safetensors")
	if err := WriteFile(path, f); err != nil {
		t.Fatal(err)
	}
	expected := map[string]any{"__metadata__": f.Metadata}
	for _, tn := range f.Tensors {
		expected[tn.Name] = map[string]any{"shape": tn.Shape, "data": tn.Data, "dtype": tn.DType.name()}
	}
	js, _ := json.Marshal(expected)
	exp := filepath.Join(dir, "expected.json")
	os.WriteFile(exp, js, 0o644)
	out, err := exec.Command(python, "testdata/check_numpy.py", path, exp).CombinedOutput()
	if err != nil {
		t.Fatalf("check_numpy.py: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}

// An I64 tensor, as PyTorch writes batch norm's num_batches_tracked (a
// 0-dimensional int64), reads into float32 and writes back as the same
// bytes: a known-answer check of the layout beside F32 tensors.
func TestI64KnownBytes(t *testing.T) {
	// Header order is by name; data: "a" F32 [2] at 0..8, "n" I64 [] at 8..16,
	// "v" I64 [2] at 16..32.
	data := []byte{
		0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0, // 1, -2 as float32
		7, 0, 0, 0, 0, 0, 0, 0, // 7
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // -1
		0, 0, 0, 1, 0, 0, 0, 0, // 2²⁴
	}
	header := `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"n":{"dtype":"I64","shape":[],"data_offsets":[8,16]},"v":{"dtype":"I64","shape":[2],"data_offsets":[16,32]}}`
	f, err := Decode(encode(t, header, data))
	if err != nil {
		t.Fatal(err)
	}
	want := []Tensor{
		{Name: "a", Shape: []int{2}, Data: []float32{1, -2}},
		{Name: "n", Shape: []int{}, Data: []float32{7}, DType: I64},
		{Name: "v", Shape: []int{2}, Data: []float32{-1, 1 << 24}, DType: I64},
	}
	for i, w := range want {
		g := f.Tensors[i]
		if g.Name != w.Name || g.DType != w.DType || !slices.Equal(g.Shape, w.Shape) || !slices.Equal(g.Data, w.Data) {
			t.Errorf("tensor %d: got %+v, want %+v", i, g, w)
		}
	}
	var buf bytes.Buffer
	if err := Encode(&buf, f); err != nil {
		t.Fatal(err)
	}
	out := buf.Bytes()
	hlen := binary.LittleEndian.Uint64(out)
	if got := out[8+hlen:]; !bytes.Equal(got, data) {
		t.Errorf("re-encoded data\n% x\nwant\n% x", got, data)
	}
	var h map[string]entry
	if err := json.Unmarshal(out[8:8+hlen], &h); err != nil {
		t.Fatal(err)
	}
	if e := h["n"]; e.Dtype != "I64" || e.Shape == nil || len(e.Shape) != 0 || e.DataOffsets != [2]int64{8, 16} {
		t.Errorf("header entry of n: %+v, want I64, shape [], bytes 8 to 16", e)
	}
	if e := h["a"]; e.Dtype != "F32" {
		t.Errorf("header entry of a: %+v, want F32", e)
	}
}

func TestI64Refused(t *testing.T) {
	eight := make([]byte, 8)
	big := binary.LittleEndian.AppendUint64(nil, 1<<24+1)
	for _, c := range []struct {
		name string
		in   []byte
		want string
	}{
		{"beyond 2^24", encode(t, `{"n":{"dtype":"I64","shape":[],"data_offsets":[0,8]}}`, big), "beyond the ±2²⁴"},
		{"4 bytes", encode(t, `{"n":{"dtype":"I64","shape":[],"data_offsets":[0,4]}}`, eight[:4]), "does not hold I64 shape []"},
		{"F64", encode(t, `{"n":{"dtype":"F64","shape":[],"data_offsets":[0,8]}}`, eight), `"F64"; only F32 and I64`},
	} {
		if _, err := Decode(c.in); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one mentioning %q", c.name, err, c.want)
		}
	}
	for _, c := range []struct {
		v    float32
		want string
	}{{0.5, "0.5, not an integer"}, {1<<24 + 2, "not an integer within"}, {float32(math.NaN()), "NaN"}, {float32(math.Inf(-1)), "-Inf"}} {
		f := &File{Tensors: []Tensor{{Name: "n", Shape: []int{2}, Data: []float32{3, c.v}, DType: I64}}}
		if err := Encode(io.Discard, f); err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), `"n": value 1`) {
			t.Errorf("writing %g as I64: error %v, want one naming value 1 and %q", c.v, err, c.want)
		}
	}
	if err := Encode(io.Discard, &File{Tensors: []Tensor{{Name: "x", Shape: []int{}, Data: []float32{1}, DType: "F16"}}}); err == nil || !strings.Contains(err.Error(), `"F16"`) {
		t.Errorf("writing F16: %v", err)
	}
}
