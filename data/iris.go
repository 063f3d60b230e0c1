package data

import (
	_ "embed"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// irisCSV is the UCI Iris data (150 rows) with a header line; see
// ../shared/data/iris/README.md for its provenance and checksum.
//
//go:embed iris.csv
var irisCSV string

// Iris returns the 150 Iris samples: 4 features in cm, 3 species.
func Iris() (*Dataset, error) {
	d, err := ReadLabelledCSV(strings.NewReader(irisCSV), "species")
	if err != nil {
		return nil, fmt.Errorf("embedded iris.csv: %w", err)
	}
	d.Name = "iris"
	return d, nil
}

// ReadLabelledCSV reads a CSV file with a header row: every column is a
// numeric feature except labelColumn (if present), whose distinct values
// become the class names in order of first appearance. Errors name the line
// and column. A first row made only of numbers is refused as data rather
// than taken for the header (which would lose a sample), as are an empty
// label and a header naming labelColumn twice.
func ReadLabelledCSV(r io.Reader, labelColumn string) (*Dataset, error) {
	return ReadLabelledCSVMax(r, labelColumn, 0)
}

// ReadLabelledCSVMax is ReadLabelledCSV refusing, as soon as it reads
// them, files of more than maxValues feature values (no limit when
// maxValues <= 0), so that a caller can bound the memory it spends on a
// large file.
func ReadLabelledCSVMax(r io.Reader, labelColumn string, maxValues int) (*Dataset, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty CSV: want a header row")
		}
		return nil, err
	}
	header = append([]string(nil), header...)
	label := -1
	numeric := true
	for i, h := range header {
		h = strings.TrimSpace(h)
		if h == labelColumn {
			if label >= 0 {
				return nil, fmt.Errorf("line 1: columns %d and %d are both named %q", label+1, i+1, labelColumn)
			}
			label = i
		}
		if v, err := strconv.ParseFloat(h, 64); err != nil || !finite(v) {
			numeric = false
		}
	}
	if numeric && label < 0 {
		example := make([]string, len(header))
		for i := range example {
			example[i] = fmt.Sprintf("x%d", i)
		}
		return nil, fmt.Errorf("line 1 looks like data, not a header row (all its %d fields are numbers): "+
			"add a header line naming the columns, such as %q (name a class column %q)",
			len(header), strings.Join(example, ","), labelColumn)
	}
	features := len(header)
	if label >= 0 {
		features--
	}
	if features == 0 {
		return nil, errors.New("CSV has no feature columns")
	}
	d := &Dataset{Features: features, Shape: []int{features}}
	classes := map[string]int{}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if errors.Is(err, csv.ErrFieldCount) {
			line, _ := cr.FieldPos(0)
			return nil, fmt.Errorf("line %d: wrong number of fields: %d, but the header has %d", line, len(rec), len(header))
		}
		if err != nil {
			return nil, err
		}
		if maxValues > 0 && len(d.X)+features > maxValues {
			line, _ := cr.FieldPos(0)
			return nil, fmt.Errorf("line %d: more than %d values in all, the most this reader was allowed", line, maxValues)
		}
		for i, field := range rec {
			field = strings.TrimSpace(field)
			if i == label {
				if field == "" {
					line, _ := cr.FieldPos(i)
					return nil, fmt.Errorf("line %d, column %q: empty label", line, header[i])
				}
				c, ok := classes[field]
				if !ok {
					c = len(d.ClassNames)
					classes[field] = c
					d.ClassNames = append(d.ClassNames, field)
				}
				d.Y = append(d.Y, float32(c))
				continue
			}
			v, err := strconv.ParseFloat(field, 32)
			if err != nil || v != v || v > 3.4e38 || v < -3.4e38 {
				line, _ := cr.FieldPos(i)
				return nil, fmt.Errorf("line %d, column %q: %q is not a finite number", line, header[i], field)
			}
			d.X = append(d.X, float32(v))
		}
		if label < 0 {
			d.Y = append(d.Y, 0)
		}
		d.N++
	}
	if d.N == 0 {
		return nil, errors.New("CSV has a header but no rows")
	}
	if d.ClassNames == nil {
		d.ClassNames = []string{"unlabelled"}
	}
	if err := d.validate(); err != nil {
		return nil, err
	}
	return d, nil
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
