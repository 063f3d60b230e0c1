package data

import (
	_ "embed"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
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
// and column.
func ReadLabelledCSV(r io.Reader, labelColumn string) (*Dataset, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty CSV: want a header row")
		}
		return nil, err
	}
	label := -1
	for i, h := range header {
		if strings.TrimSpace(h) == labelColumn {
			label = i
		}
	}
	features := len(header)
	if label >= 0 {
		features--
	}
	if features == 0 {
		return nil, errors.New("CSV has no feature columns")
	}
	header = append([]string(nil), header...)
	d := &Dataset{Features: features}
	classes := map[string]int{}
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		for i, field := range rec {
			field = strings.TrimSpace(field)
			if i == label {
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
