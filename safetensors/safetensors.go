// Package safetensors reads and writes float32 tensors in the safetensors
// format (huggingface/safetensors), which PyTorch, numpy and many other
// tools read: an 8-byte little-endian header length, a JSON header mapping
// each name to its dtype, shape and byte range, an optional string-to-string
// "__metadata__" object, then the raw little-endian data.
//
// Tensors are F32 in the file, or I64 for the integer counters PyTorch
// keeps beside the weights (batch normalisation's num_batches_tracked, a
// 0-dimensional int64 tensor in every state_dict): those are held in
// memory as float32 too, which is exact up to 2²⁴, and converted on the
// way in and out (see DType).
//
// Files are written to a temporary file in the target's directory and
// renamed into place, so a crash never leaves a half-written file.
package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"

	"github.com/diynn/diynn/internal/atomicfile"
	"github.com/diynn/diynn/internal/inputfile"
)

// Tensor is a named float32 array.
type Tensor struct {
	Name  string
	Shape []int
	Data  []float32
	// DType is how Data is stored in the file: F32 (the zero value, which
	// reading an F32 tensor leaves) or I64.
	DType DType
}

// DType is the element type of a tensor in the file.
type DType string

// The element types this package reads and writes.
const (
	// F32 is float32, the zero value of DType.
	F32 DType = ""
	// I64 is int64. Reading and writing refuse a value beyond ±2²⁴, past
	// which float32 does not hold every integer, and writing one that is
	// not an integer: a count must come back as it was.
	I64 DType = "I64"
)

// MaxExactI64 is the largest magnitude of an I64 value that reads back
// exactly as a float32: 2²⁴.
const MaxExactI64 = 1 << 24

// name is the dtype as the header writes it.
func (d DType) name() string {
	if d == F32 {
		return "F32"
	}
	return string(d)
}

// size is the number of bytes of one element, or 0 for an unknown type.
func (d DType) size() int64 {
	switch d {
	case F32:
		return 4
	case I64:
		return 8
	}
	return 0
}

// File is the content of a safetensors file.
type File struct {
	Tensors  []Tensor // sorted by name when read
	Metadata map[string]string
}

// Get returns the tensor with the given name.
func (f *File) Get(name string) (Tensor, bool) {
	for _, t := range f.Tensors {
		if t.Name == name {
			return t, true
		}
	}
	return Tensor{}, false
}

type entry struct {
	Dtype       string   `json:"dtype"`
	Shape       []int    `json:"shape"`
	DataOffsets [2]int64 `json:"data_offsets"`
}

// maxHeader bounds the JSON header (the reference implementation uses
// 100 MB), so that a corrupt length cannot make us allocate gigabytes.
const maxHeader = 100 << 20

// MaxFileBytes is the size of the largest file ReadFile reads, 16 GiB: a
// model of 4·2³⁰ float32 parameters. Reading a file takes about its size in
// memory; use ReadFileLimit for another bound.
const MaxFileBytes int64 = 16 << 30

// Encode writes f in safetensors format.
func Encode(w io.Writer, f *File) error {
	header := map[string]any{}
	if len(f.Metadata) > 0 {
		header["__metadata__"] = f.Metadata
	}
	var offset int64
	seen := map[string]bool{}
	for _, t := range f.Tensors {
		if t.Name == "" || t.Name == "__metadata__" || seen[t.Name] {
			return fmt.Errorf("safetensors: invalid or repeated tensor name %q", t.Name)
		}
		seen[t.Name] = true
		n := 1
		for _, d := range t.Shape {
			if d < 0 {
				return fmt.Errorf("safetensors: tensor %q has negative dimension in shape %v", t.Name, t.Shape)
			}
			n *= d
		}
		if n != len(t.Data) {
			return fmt.Errorf("safetensors: tensor %q of shape %v holds %d values", t.Name, t.Shape, len(t.Data))
		}
		size := t.DType.size()
		if size == 0 {
			return fmt.Errorf("safetensors: tensor %q has dtype %q; only F32 and I64 are written", t.Name, t.DType)
		}
		if t.DType == I64 {
			for i, v := range t.Data {
				if !(math.Abs(float64(v)) <= MaxExactI64) || v != float32(int64(v)) {
					return fmt.Errorf("safetensors: I64 tensor %q: value %d is %g, not an integer within ±2²⁴", t.Name, i, v)
				}
			}
		}
		shape := t.Shape
		if shape == nil {
			shape = []int{}
		}
		header[t.Name] = entry{Dtype: t.DType.name(), Shape: shape, DataOffsets: [2]int64{offset, offset + size*int64(n)}}
		offset += size * int64(n)
	}
	js, err := json.Marshal(header)
	if err != nil {
		return err
	}
	// Pad the header with spaces so the data starts 8-byte aligned, as the
	// reference implementation does.
	for len(js)%8 != 0 {
		js = append(js, ' ')
	}
	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(len(js)))
	if _, err := w.Write(lenBuf[:]); err != nil {
		return err
	}
	if _, err := w.Write(js); err != nil {
		return err
	}
	buf := make([]byte, 0, 1<<16)
	for _, t := range f.Tensors {
		for _, v := range t.Data {
			if t.DType == I64 {
				buf = binary.LittleEndian.AppendUint64(buf, uint64(int64(v)))
			} else {
				buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
			}
			if len(buf) >= cap(buf)-8 {
				if _, err := w.Write(buf); err != nil {
					return err
				}
				buf = buf[:0]
			}
		}
	}
	_, err = w.Write(buf)
	return err
}

// Decode parses a safetensors file held in memory. It accepts F32 and I64
// tensors (see DType) and checks, before it allocates any tensor, that the header is
// one JSON object without repeated names, that every byte range is in
// bounds and matches its shape, and that the ranges tile the data exactly.
func Decode(b []byte) (*File, error) {
	return read(bytes.NewReader(b), int64(len(b)))
}

// ReadFile reads and decodes a safetensors file of at most MaxFileBytes;
// errors name the file.
func ReadFile(path string) (*File, error) {
	return ReadFileLimit(path, MaxFileBytes)
}

// ReadFileLimit is ReadFile for files of at most limit bytes. It refuses
// anything but a regular file (a device such as /dev/zero, a FIFO, a
// directory) and a file larger than limit before reading it, then reads
// exactly the size it found, failing if the file grows or shrinks meanwhile.
// The tensors take the file's size in memory; besides them it holds only
// the header while it parses it, and a 1 MiB buffer.
func ReadFileLimit(path string, limit int64) (*File, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("%s: safetensors: limit of %d bytes: want a positive limit", path, limit)
	}
	fh, size, err := inputfile.Open(path, "a safetensors file", limit)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	f, err := read(fh, size)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// tensorInfo is a header entry that passed every check.
type tensorInfo struct {
	name   string
	shape  []int
	dtype  DType
	lo, hi int64 // byte range in the data
}

// read decodes size bytes from r: the header first, checked whole, then
// each tensor's data in file order, so that nothing is allocated for a
// tensor the header does not place within the size.
func read(r io.Reader, size int64) (*File, error) {
	var lenBuf [8]byte
	if size < 8 {
		return nil, errors.New("safetensors: shorter than the 8-byte header length")
	}
	if _, err := io.ReadFull(r, lenBuf[:]); err != nil {
		return nil, shrank(err, size)
	}
	hlen := binary.LittleEndian.Uint64(lenBuf[:])
	if hlen > maxHeader || hlen > uint64(size-8) {
		return nil, fmt.Errorf("safetensors: header length %d exceeds the file (%d bytes) or the %d-byte limit", hlen, size, maxHeader)
	}
	js := make([]byte, hlen)
	if _, err := io.ReadFull(r, js); err != nil {
		return nil, shrank(err, size)
	}
	dataLen := size - 8 - int64(hlen)
	meta, infos, err := parseHeader(js, dataLen)
	if err != nil {
		return nil, err
	}
	f := &File{Metadata: meta, Tensors: make([]Tensor, 0, len(infos))}
	chunk := make([]byte, min(dataLen, 1<<20))
	for _, in := range infos { // in file order, tiling the data
		es := in.dtype.size()
		t := Tensor{Name: in.name, Shape: in.shape, DType: in.dtype, Data: make([]float32, (in.hi-in.lo)/es)}
		for i := 0; i < len(t.Data); {
			// A whole number of elements: the chunk is a multiple of 8 bytes.
			c := chunk[:min(int64(len(chunk)), es*int64(len(t.Data)-i))]
			if _, err := io.ReadFull(r, c); err != nil {
				return nil, shrank(err, size)
			}
			for k := 0; k < len(c); k, i = k+int(es), i+1 {
				if in.dtype == F32 {
					t.Data[i] = math.Float32frombits(binary.LittleEndian.Uint32(c[k:]))
					continue
				}
				v := int64(binary.LittleEndian.Uint64(c[k:]))
				if v > MaxExactI64 || v < -MaxExactI64 {
					return nil, fmt.Errorf("safetensors: I64 tensor %q: value %d is %d, beyond the ±2²⁴ that float32 holds exactly", in.name, i, v)
				}
				t.Data[i] = float32(v)
			}
		}
		f.Tensors = append(f.Tensors, t)
	}
	if n, _ := r.Read(lenBuf[:1]); n > 0 {
		return nil, fmt.Errorf("safetensors: the file grew while it was read (it was %d bytes)", size)
	}
	sort.Slice(f.Tensors, func(i, j int) bool { return f.Tensors[i].Name < f.Tensors[j].Name })
	return f, nil
}

// shrank explains an early end of a file whose size we knew.
func shrank(err error, size int64) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("safetensors: the file shrank while it was read (it was %d bytes): %w", size, io.ErrUnexpectedEOF)
	}
	return fmt.Errorf("safetensors: reading: %w", err)
}

// parseHeader checks the JSON header of a file with dataLen data bytes and
// returns the metadata and the tensors in file order.
func parseHeader(js []byte, dataLen int64) (map[string]string, []tensorInfo, error) {
	dec := json.NewDecoder(bytes.NewReader(js))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, nil, fmt.Errorf("safetensors: header: not a JSON object (%v)", headerErr(tok, err))
	}
	var meta map[string]string
	var infos []tensorInfo
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, fmt.Errorf("safetensors: header: %w", err)
		}
		name := tok.(string) // object keys are strings, or Token fails
		if name == "" {
			return nil, nil, errors.New("safetensors: header: a tensor with an empty name")
		}
		if seen[name] {
			return nil, nil, fmt.Errorf("safetensors: header: %q appears twice", name)
		}
		seen[name] = true
		var msg json.RawMessage
		if err := dec.Decode(&msg); err != nil {
			return nil, nil, fmt.Errorf("safetensors: header: %q: %w", name, err)
		}
		if name == "__metadata__" {
			if meta, err = parseMetadata(msg); err != nil {
				return nil, nil, err
			}
			continue
		}
		in, err := checkEntry(name, msg, dataLen)
		if err != nil {
			return nil, nil, err
		}
		infos = append(infos, in)
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, nil, fmt.Errorf("safetensors: header: %w", err)
	}
	if tok, err := dec.Token(); err != io.EOF {
		return nil, nil, fmt.Errorf("safetensors: header: more after the JSON object (%v)", headerErr(tok, err))
	}
	sort.Slice(infos, func(i, j int) bool {
		return infos[i].lo < infos[j].lo || infos[i].lo == infos[j].lo && infos[i].hi < infos[j].hi
	})
	var end int64
	for _, in := range infos {
		if in.lo != end {
			return nil, nil, fmt.Errorf("safetensors: tensor %q starts at byte %d, want %d (overlap or gap)", in.name, in.lo, end)
		}
		end = in.hi
	}
	if end != dataLen {
		return nil, nil, fmt.Errorf("safetensors: %d data bytes after the last tensor", dataLen-end)
	}
	return meta, infos, nil
}

// parseMetadata parses the __metadata__ object: null, or an object of
// string values whose keys each appear once. (encoding/json would keep the
// last of repeated keys, and turn a null value into "".)
func parseMetadata(msg json.RawMessage) (map[string]string, error) {
	const must = "safetensors: __metadata__ must map strings to strings"
	dec := json.NewDecoder(bytes.NewReader(msg))
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", must, err)
	}
	if tok == nil {
		return nil, nil
	}
	if tok != json.Delim('{') {
		return nil, fmt.Errorf("%s, found %s", must, jsonKind(tok))
	}
	meta := map[string]string{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", must, err)
		}
		key := tok.(string) // object keys are strings, or Token fails
		if _, ok := meta[key]; ok {
			return nil, fmt.Errorf("safetensors: __metadata__: key %q appears twice", key)
		}
		if tok, err = dec.Token(); err != nil {
			return nil, fmt.Errorf("%s: %q: %w", must, key, err)
		}
		v, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("%s: the value of %q is %s", must, key, jsonKind(tok))
		}
		meta[key] = v
	}
	return meta, nil // msg is one JSON value, so the object ends here
}

// jsonKind describes the JSON value that starts with tok, for messages.
func jsonKind(tok json.Token) string {
	switch v := tok.(type) {
	case nil:
		return "null"
	case bool:
		return fmt.Sprintf("the boolean %v", v)
	case float64:
		return fmt.Sprintf("the number %v", v)
	case string:
		return fmt.Sprintf("the string %q", v)
	case json.Delim:
		if v == '[' {
			return "an array"
		}
		return "an object"
	}
	return fmt.Sprintf("%v", tok)
}

func headerErr(tok json.Token, err error) string {
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("found %v", tok)
}

// checkEntry parses one tensor's entry and checks it against the data.
func checkEntry(name string, msg json.RawMessage, dataLen int64) (tensorInfo, error) {
	var e struct {
		Dtype       string  `json:"dtype"`
		Shape       []int   `json:"shape"`
		DataOffsets []int64 `json:"data_offsets"`
	}
	if err := json.Unmarshal(msg, &e); err != nil {
		return tensorInfo{}, fmt.Errorf("safetensors: tensor %q: %w", name, err)
	}
	var dtype DType
	switch e.Dtype {
	case "F32":
	case "I64":
		dtype = I64
	default:
		return tensorInfo{}, fmt.Errorf("safetensors: tensor %q has dtype %q; only F32 and I64 are supported (convert half or double precision to float32 before saving: .float() in PyTorch)", name, e.Dtype)
	}
	if e.Shape == nil {
		return tensorInfo{}, fmt.Errorf("safetensors: tensor %q has no shape", name)
	}
	if len(e.DataOffsets) != 2 {
		return tensorInfo{}, fmt.Errorf("safetensors: tensor %q: data_offsets %v: want [begin, end]", name, e.DataOffsets)
	}
	// At most 2³¹-1 values, which the backends index with 32-bit ints; the
	// bound also keeps the product from overflowing.
	n := int64(1)
	for _, d := range e.Shape {
		if d < 0 || (d > 0 && n > math.MaxInt32/int64(d)) {
			return tensorInfo{}, fmt.Errorf("safetensors: tensor %q has invalid shape %v (negative, or over %d values)", name, e.Shape, math.MaxInt32)
		}
		n *= int64(d)
	}
	lo, hi := e.DataOffsets[0], e.DataOffsets[1]
	if lo < 0 || hi < lo || hi > dataLen || hi-lo != dtype.size()*n {
		return tensorInfo{}, fmt.Errorf("safetensors: tensor %q: byte range [%d, %d) does not hold %s shape %v within %d data bytes",
			name, lo, hi, dtype.name(), e.Shape, dataLen)
	}
	return tensorInfo{name: name, shape: e.Shape, dtype: dtype, lo: lo, hi: hi}, nil
}

// WriteFile writes f to path atomically: a temporary file in the same
// directory, synced, then renamed over path.
func WriteFile(path string, f *File) error {
	return atomicfile.WriteFunc(path, func(w io.Writer) error { return Encode(w, f) })
}
