package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
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
		{"out of range", encode(t, `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, four), "byte range"},
		{"shape mismatch", encode(t, `{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,4]}}`, four), "byte range"},
		{"negative shape", encode(t, `{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, four), "invalid shape"},
		{"overlap", encode(t, `{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, four), "overlap"},
		{"trailing", encode(t, `{"a":{"dtype":"F32","shape":[],"data_offsets":[0,4]}}`, make([]byte, 8)), "after the last"},
		{"metadata", encode(t, `{"__metadata__":{"a":1}}`, nil), "strings"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := c.in
			if c.name == "huge header" {
				binary.LittleEndian.PutUint64(b, 1<<40)
			}
			_, err := Decode(b)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one mentioning %q", err, c.want)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	var b bytes.Buffer
	Encode(&b, sample())
	f.Add(b.Bytes())
	f.Add(encode(nil, `{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, make([]byte, 4)))
	f.Fuzz(func(t *testing.T, in []byte) {
		g, err := Decode(in)
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := Encode(&out, g); err != nil {
			t.Fatalf("re-encoding a decoded file: %v", err)
		}
		h, err := Decode(out.Bytes())
		if err != nil || len(h.Tensors) != len(g.Tensors) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

// TestNumpyReadsOurFiles runs testdata/check_numpy.py, which reads a file
// we wrote with numpy alone. It needs Debian's python3-numpy; ci/test.sh
// installs it, so in CI a missing numpy is a failure.
func TestNumpyReadsOurFiles(t *testing.T) {
	python := testenv.Python(t, "numpy")
	f := sample()
	f.Tensors[0].Data[3] = 7 // JSON has no infinity
	dir := t.TempDir()
	path := filepath.Join(dir, "m.safetensors")
	if err := WriteFile(path, f); err != nil {
		t.Fatal(err)
	}
	expected := map[string]any{"__metadata__": f.Metadata}
	for _, tn := range f.Tensors {
		expected[tn.Name] = map[string]any{"shape": tn.Shape, "data": tn.Data}
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
