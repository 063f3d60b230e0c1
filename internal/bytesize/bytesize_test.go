package bytesize

import (
	"math"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	cases := []struct {
		in      string
		want    int64
		wantErr string
	}{
		{"0", 0, ""},
		{"4096", 4096, ""},
		{"+12", 12, ""},
		{"9223372036854775807", math.MaxInt64, ""}, // exact: not through float64
		{"512B", 512, ""},
		{"1e9", 1e9, ""},
		{"1.5e3", 1500, ""},
		{"1.5", 1, ""},
		{"8G", 8e9, ""},
		{"8GB", 8e9, ""},
		{"8gb", 8e9, ""},
		{"8 GB", 8e9, ""},
		{" 8GiB ", 8 << 30, ""},
		{"8Gi", 8 << 30, ""},
		{"512MB", 512e6, ""},
		{"512MiB", 512 << 20, ""},
		{"1.5GiB", 3 << 29, ""},
		{"2k", 2000, ""},
		{"2KiB", 2048, ""},
		{"1TB", 1e12, ""},
		{"1TiB", 1 << 40, ""},
		{"3PiB", 3 << 50, ""},
		{"1e-400", 0, ""},
		{"", 0, "no number"},
		{"GB", 0, "no number"},
		{"-1", 0, "negative"},
		{"-1GB", 0, "negative"},
		{"NaN", 0, "no number"},
		{"1e", 0, `unknown unit "e"`},
		{"1EB", 0, `unknown unit "EB"`},
		{"8Gb/s", 0, `unknown unit "s"`},
		{"8 bananas", 0, `unknown unit "bananas"`},
		{"1.2.3", 0, "not a number"},
		{"0x10", 0, "not a number"},
		{"0x1p4", 0, "not a number"},
		{"1e400", 0, "too large"},
		{"9223372036854775808", 0, "too large"},
		{"8EiB", 0, "unknown unit"},
		{"8192PiB", 0, "too large"},
		{"9e18", 9e18, ""},
		{"9.3e18", 0, "too large"},
	}
	for _, c := range cases {
		got, err := Parse(c.in)
		if c.wantErr == "" {
			if err != nil || got != c.want {
				t.Errorf("Parse(%q) = %d, %v; want %d", c.in, got, err, c.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.wantErr) || !strings.Contains(err.Error(), `"`+c.in+`"`) {
			t.Errorf("Parse(%q) = %d, %v; want an error naming the input and mentioning %q", c.in, got, err, c.wantErr)
		}
	}
}

func TestFormat(t *testing.T) {
	cases := []struct {
		n    int64
		want string
	}{
		{0, "0 B"},
		{999, "999 B"},
		{1000, "1.0 kB"},
		{2_100_000, "2.1 MB"},
		{12_884_901_888, "12.9 GB"},
		{4 << 30, "4.3 GB"},
		{999_949, "999.9 kB"},
		{999_950, "1.0 MB"},
		{999_999_999, "1.0 GB"},
		{-1500, "-1.5 kB"},
		{math.MaxInt64, "9.2 EB"},
		{math.MinInt64, "-9.2 EB"},
	}
	for _, c := range cases {
		if got := Format(c.n); got != c.want {
			t.Errorf("Format(%d) = %q, want %q", c.n, got, c.want)
		}
	}
}

// Format's output parses back to within its rounding (0.05 of the unit).
func FuzzFormatParse(f *testing.F) {
	f.Add(int64(12_884_901_888))
	f.Add(int64(999_950))
	f.Fuzz(func(t *testing.T, n int64) {
		if n < 0 || n >= 999e15 { // Parse has no EB
			return
		}
		s := Format(n)
		got, err := Parse(s)
		if err != nil {
			t.Fatalf("Parse(Format(%d) = %q): %v", n, s, err)
		}
		if d := math.Abs(float64(got) - float64(n)); d > 0.051*float64(n) {
			t.Fatalf("Parse(Format(%d) = %q) = %d", n, s, got)
		}
	})
}
