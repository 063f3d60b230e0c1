// Package bytesize parses and formats byte counts for people: flags such
// as -max-memory 8GiB, and messages such as "the model needs 12.9 GB".
package bytesize

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// units maps the suffixes Parse accepts, lower-cased, to their sizes.
// Following SI and IEC (and Kubernetes' quantities), the plain prefixes are
// powers of 1000 and the "i" ones powers of 1024.
var units = map[string]int64{
	"": 1, "b": 1,
	"k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6, "g": 1e9, "gb": 1e9, "t": 1e12, "tb": 1e12, "p": 1e15, "pb": 1e15,
	"ki": 1 << 10, "kib": 1 << 10, "mi": 1 << 20, "mib": 1 << 20, "gi": 1 << 30, "gib": 1 << 30,
	"ti": 1 << 40, "tib": 1 << 40, "pi": 1 << 50, "pib": 1 << 50,
}

// Parse reads a byte count: a non-negative number, in decimal or with an
// exponent ("1e9"), optionally followed, with or without a space, by a unit.
// Units are case-insensitive:
//
//	B                  bytes (the default)
//	k, kB, M, MB, G, GB, T, TB, P, PB    powers of 1000 (SI): 1 GB = 10⁹ bytes
//	Ki, KiB, Mi, MiB, Gi, GiB, Ti, TiB, Pi, PiB   powers of 1024 (IEC): 1 GiB = 2³⁰ bytes
//
// A fraction of a byte is dropped ("1.5" is 1). Negative numbers, NaN,
// infinities, unknown units and counts of 2⁶³ bytes or more are errors.
func Parse(s string) (int64, error) {
	t := strings.TrimSpace(s)
	end := len(t)
	for end > 0 && (t[end-1] >= 'a' && t[end-1] <= 'z' || t[end-1] >= 'A' && t[end-1] <= 'Z') {
		end--
	}
	num, unit := strings.TrimSpace(t[:end]), strings.ToLower(t[end:])
	fail := func(why string) (int64, error) {
		return 0, fmt.Errorf("byte count %q: %s (want e.g. 512MB, 8GiB or 1e9)", s, why)
	}
	if num == "" {
		return fail("no number")
	}
	mult, ok := units[unit]
	if !ok {
		return fail(fmt.Sprintf("unknown unit %q", t[end:]))
	}
	if num[0] == '-' {
		return fail("negative")
	}
	if n, err := strconv.ParseInt(num, 10, 64); err == nil {
		if n > math.MaxInt64/mult {
			return fail("too large")
		}
		return n * mult, nil
	} else if errors.Is(err, strconv.ErrRange) {
		return fail("too large")
	}
	// ParseFloat also reads hexadecimal ("0x1p4"), which no one means here.
	v, err := strconv.ParseFloat(num, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) || math.IsNaN(v) || strings.ContainsAny(num, "xX") {
		return fail(fmt.Sprintf("%q is not a number", num))
	}
	// 2⁶³ is the float64 nearest MaxInt64; a range error is ±Inf or a
	// value that underflowed to 0.
	if v *= float64(mult); v >= math.MaxInt64 {
		return fail("too large")
	}
	return int64(v), nil
}

// Format writes n bytes with one decimal in the largest SI unit that keeps
// the number at least 1: "512 B", "2.1 MB", "12.9 GB".
func Format(n int64) string {
	if n < 0 {
		if n == math.MinInt64 {
			return "-9.2 EB"
		}
		return "-" + Format(-n)
	}
	if n < 1000 {
		return strconv.FormatInt(n, 10) + " B"
	}
	v := float64(n)
	for _, u := range []string{"kB", "MB", "GB", "TB", "PB", "EB"} {
		v /= 1000
		// Move up a unit where rounding to one decimal would print 1000.0.
		if v < 999.95 || u == "EB" {
			return strconv.FormatFloat(v, 'f', 1, 64) + " " + u
		}
	}
	panic("unreachable")
}
