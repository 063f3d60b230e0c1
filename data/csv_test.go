package data

import (
	"strings"
	"testing"
)

// A CSV without a header must not silently lose its first row to being
// taken for the header; a CSV with one must keep every row.
func TestReadLabelledCSVHeader(t *testing.T) {
	cases := []struct {
		name, in string
		wantErr  string // empty: the read succeeds with n rows
		n, k     int
	}{
		{"headerless", "1,2,3\n4,5,6\n", `line 1 looks like data, not a header row (all its 3 fields are numbers): add a header line naming the columns, such as "x0,x1,x2"`, 0, 0},
		{"headerless one column", "0.5\n1e3\n", "line 1 looks like data", 0, 0},
		{"headerless with spaces and signs", " -1 , +2.5e-3 ,0x1p-2\n1,2,3\n", "line 1 looks like data", 0, 0},
		{"headered", "z0,z1,label\n1,2,a\n3,4,b\n5,6,a\n7,8,c\n", "", 4, 3},
		{"headered unlabelled", "z0,z1\n1,2\n3,4\n", "", 2, 1},
		{"numeric names with a label", "0,1,label\n1,2,a\n", "", 1, 1},
		{"infinite name is not a number", "Inf,1\n1,2\n", "", 1, 1},
		{"empty label", "z0,label\n1,a\n2, \n", `line 3, column "label": empty label`, 0, 0},
		{"label twice", "label,z0,label\na,1,b\n", `columns 1 and 3 are both named "label"`, 0, 0},
		{"short row", "z0,z1,label\n1,2,a\n3,b\n", "line 3: wrong number of fields: 2, but the header has 3", 0, 0},
		{"long row", "z0,z1\n1,2\n3,4\n5,6,7\n", "line 4: wrong number of fields: 3, but the header has 2", 0, 0},
		// A quoted label spanning lines: errors give the file's line, not the record's number.
		{"line numbers", "z0,label\n1,\"two\nlines\"\nx,a\n", `line 4, column "z0": "x"`, 0, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := ReadLabelledCSV(strings.NewReader(c.in), "label")
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d.N != c.n || len(d.X) != c.n*d.Features || d.Classes() != c.k {
				t.Errorf("got %d rows (%d values), %d classes; want %d rows, %d classes", d.N, len(d.X), d.Classes(), c.n, c.k)
			}
		})
	}
}

func TestReadLabelledCSVMax(t *testing.T) {
	in := "a,b,label\n1,2,x\n3,4,y\n5,6,x\n"
	if d, err := ReadLabelledCSVMax(strings.NewReader(in), "label", 6); err != nil || d.N != 3 {
		t.Fatalf("6 values with a limit of 6: %v", err)
	}
	_, err := ReadLabelledCSVMax(strings.NewReader(in), "label", 5)
	if err == nil || !strings.Contains(err.Error(), "line 4: more than 5 values") {
		t.Fatalf("6 values with a limit of 5: error %v", err)
	}
}
