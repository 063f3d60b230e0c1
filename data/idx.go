package data

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/diynn/diynn/internal/inputfile"
)

// IDX is an array read from an IDX file, the format of MNIST and its
// relatives: a magic number (two zero bytes, a type code, the rank), the
// dimensions as big-endian uint32, then the values in row-major order.
type IDX struct {
	Dims []int
	Data []byte // unsigned bytes, the only type these datasets use
}

// maxIDXValues bounds what ReadIDX accepts, so that a corrupt header cannot
// make it allocate gigabytes: 1<<31 bytes is 45 times MNIST's training set.
const maxIDXValues = 1 << 31

// growFrom is how many bytes of data readIDX allocates before they arrive
// when its caller allows no more; a variable so that tests can lower it.
var growFrom int64 = 64 << 20

// ReadIDX parses an IDX stream of unsigned bytes, gzip-compressed or not.
// It checks the magic number, the rank, every dimension, and that the data
// fill the dimensions exactly.
func ReadIDX(r io.Reader) (*IDX, error) {
	return readIDX(r, nil, 0)
}

// readIDX is ReadIDX with a check of the dimensions before any data is
// allocated: check returns an error for dimensions the input cannot hold.
// upFront is how many bytes the caller allows allocating before they
// arrive, beyond the growFrom (64 MiB) always allowed: a caller whose check
// has bounded the dimensions by a memory budget passes that budget, so that
// the data is read into one buffer of exactly its size, with no growing
// copies.
func readIDX(r io.Reader, check func(dims []int, total int, gzipped bool) error, upFront int64) (*IDX, error) {
	br := bufio.NewReader(r)
	gzipped := false
	if head, err := br.Peek(2); err == nil && head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("decompressing: %w", err) // err says "gzip: …"
		}
		defer zr.Close()
		br = bufio.NewReader(zr)
		gzipped = true
	}
	var magic [4]byte
	if _, err := io.ReadFull(br, magic[:]); err != nil {
		return nil, fmt.Errorf("reading the IDX magic number: %w", noEOF(err))
	}
	if magic[0] != 0 || magic[1] != 0 {
		return nil, fmt.Errorf("not an IDX file: magic number %x does not start with two zero bytes", magic)
	}
	if magic[2] != 0x08 {
		return nil, fmt.Errorf("IDX type 0x%02x is not supported (only 0x08, unsigned bytes)", magic[2])
	}
	rank := int(magic[3])
	if rank < 1 || rank > 4 {
		return nil, fmt.Errorf("IDX rank %d: want 1 to 4 dimensions", rank)
	}
	dims := make([]int, rank)
	total := 1
	for i := range dims {
		var d uint32
		if err := binary.Read(br, binary.BigEndian, &d); err != nil {
			return nil, fmt.Errorf("reading IDX dimension %d of %d: %w", i+1, rank, noEOF(err))
		}
		if d == 0 {
			return nil, fmt.Errorf("IDX dimension %d is 0", i+1)
		}
		if uint64(total)*uint64(d) > maxIDXValues {
			return nil, fmt.Errorf("IDX dimensions %v… exceed %d values", append(dims[:i:i], int(d)), maxIDXValues)
		}
		dims[i] = int(d)
		total *= int(d)
	}
	if check != nil {
		if err := check(dims, total, gzipped); err != nil {
			return nil, err
		}
	}
	// Allocate what the header declares, up to growFrom or upFront, so that
	// the data is read with no doubling copies; a larger claim grows only as
	// bytes actually arrive, so a corrupt header cannot reserve gigabytes.
	buf := make([]byte, 0, int(min(int64(total), max(growFrom, upFront))))
	for len(buf) < total {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := br.Read(buf[len(buf):min(cap(buf), total)])
		buf = buf[:len(buf)+n]
		if err == io.EOF && len(buf) < total {
			return nil, fmt.Errorf("IDX data truncated: dimensions %v need %d bytes, file has %d", dims, total, len(buf))
		}
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("reading IDX data: %w", err)
		}
	}
	if n, _ := br.Read(make([]byte, 1)); n > 0 {
		return nil, fmt.Errorf("IDX data longer than dimensions %v (%d bytes)", dims, total)
	}
	return &IDX{Dims: dims, Data: buf}, nil
}

func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// maxDeflateRatio bounds how far deflate expands: a stream of maximal
// matches gives 258 bytes for every 2 bits, about 1032:1.
const maxDeflateRatio = 1032

// ReadIDXFile reads an IDX file, gzip-compressed or not; errors name the
// file. Before it allocates the data it refuses what is not a regular file,
// an uncompressed file whose size is not exactly what its dimensions need,
// and a gzip file whose dimensions need more than its compressed size can
// inflate to, or than its trailer records (the size mod 2³², of a file of
// one gzip member, as gzip writes them).
func ReadIDXFile(path string) (*IDX, error) {
	return readIDXFile(path, nil, 0)
}

// readIDXFile is ReadIDXFile with a further check of the dimensions, run
// after ReadIDXFile's own and still before the data is allocated (its
// error follows the path in the message), and readIDX's upFront.
func readIDXFile(path string, check func(dims []int, total int) error, upFront int64) (*IDX, error) {
	f, size, err := inputfile.Open(path, "an IDX file", 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	checkSize := func(dims []int, total int, gzipped bool) error {
		header := int64(4 + 4*len(dims))
		if !gzipped {
			if size-header != int64(total) {
				return fmt.Errorf("IDX dimensions %v need %d bytes of data, the file has %d after its %d-byte header",
					dims, total, size-header, header)
			}
			return nil
		}
		if need := header + int64(total); need > maxDeflateRatio*size {
			return fmt.Errorf("IDX dimensions %v need %d bytes, more than the %d compressed bytes can hold (deflate expands at most %d:1)",
				dims, need, size, maxDeflateRatio)
		}
		var trailer [4]byte
		if _, err := f.ReadAt(trailer[:], size-4); err != nil {
			return fmt.Errorf("reading the gzip trailer: %w", noEOF(err))
		}
		if isize, need := binary.LittleEndian.Uint32(trailer[:]), uint32(header+int64(total)); isize != need {
			return fmt.Errorf("IDX dimensions %v need %d bytes uncompressed, but the gzip trailer records %d (mod 2³²)",
				dims, header+int64(total), isize)
		}
		return nil
	}
	checkAll := func(dims []int, total int, gzipped bool) error {
		if err := checkSize(dims, total, gzipped); err != nil {
			return err
		}
		if check != nil {
			return check(dims, total)
		}
		return nil
	}
	idx, err := readIDX(f, checkAll, upFront)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return idx, nil
}
