// Package npy writes float32 matrices in numpy's .npy format (version 1.0),
// which numpy.load reads directly: a magic string, a header dictionary
// giving dtype, order and shape, padded to a multiple of 64 bytes, then the
// little-endian values.
package npy

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// Write writes rows×cols float32 values (row-major) as a .npy array.
func Write(w io.Writer, data []float32, rows, cols int) error {
	if rows < 0 || cols < 0 || rows*cols != len(data) {
		return fmt.Errorf("npy: %d values for shape (%d, %d)", len(data), rows, cols)
	}
	header := "{'descr': '<f4', 'fortran_order': False, 'shape': (" + strconv.Itoa(rows) + ", " + strconv.Itoa(cols) + "), }"
	// magic (6) + version (2) + length (2) + header + '\n' must be a
	// multiple of 64.
	pad := 64 - (10+len(header)+1)%64
	if pad == 64 {
		pad = 0
	}
	header += strings.Repeat(" ", pad) + "\n"
	bw := bufio.NewWriter(w)
	bw.WriteString("\x93NUMPY\x01\x00")
	binary.Write(bw, binary.LittleEndian, uint16(len(header)))
	bw.WriteString(header)
	var b [4]byte
	for _, v := range data {
		binary.LittleEndian.PutUint32(b[:], math.Float32bits(v))
		bw.Write(b[:])
	}
	return bw.Flush()
}
