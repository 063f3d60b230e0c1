package train

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/diynn/diynn/internal/atomicfile"
)

// csvHeader names the history's columns. The evaluation set's are
// eval_loss and eval_accuracy, whatever the set (test split or
// validation hold-out); oldCSVHeader, with test_ for eval_, is what
// earlier versions wrote, and ReadCSV still reads it (old checkpoints
// carry their history in it).
var (
	csvHeader    = []string{"epoch", "lr", "train_loss", "train_accuracy", "eval_loss", "eval_accuracy", "seconds"}
	oldCSVHeader = []string{"epoch", "lr", "train_loss", "train_accuracy", "test_loss", "test_accuracy", "seconds"}
)

func formatFloat(v float64) string {
	if math.IsNaN(v) {
		return ""
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// csv renders the history as CSV with a header row; unmeasured values are
// empty fields.
func (h History) csv() string {
	var b strings.Builder
	w := csv.NewWriter(&b)
	w.Write(csvHeader)
	for _, e := range h {
		w.Write([]string{strconv.Itoa(e.Epoch), formatFloat(e.LR), formatFloat(e.TrainLoss), formatFloat(e.TrainAcc),
			formatFloat(e.EvalLoss), formatFloat(e.EvalAcc), formatFloat(e.Seconds)})
	}
	w.Flush()
	return b.String()
}

// WriteCSVFile writes the history to path atomically.
func (h History) WriteCSVFile(path string) error { return atomicfile.Write(path, []byte(h.csv())) }

// ReadCSV parses a history written by WriteCSVFile, or by an earlier
// version (test_loss and test_accuracy for the evaluation columns).
func ReadCSV(r io.Reader) (History, error) {
	rows, err := csv.NewReader(r).ReadAll()
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, errors.New("empty history")
	}
	if h := strings.Join(rows[0], ","); h != strings.Join(csvHeader, ",") && h != strings.Join(oldCSVHeader, ",") {
		return nil, fmt.Errorf("history header %v, want %v", rows[0], csvHeader)
	}
	var h History
	for i, row := range rows[1:] {
		var v [7]float64
		if len(row) != len(v) {
			return nil, fmt.Errorf("history line %d has %d fields, want %d", i+2, len(row), len(v))
		}
		for j, f := range row {
			if f == "" {
				v[j] = math.NaN()
				continue
			}
			if v[j], err = strconv.ParseFloat(f, 64); err != nil {
				return nil, fmt.Errorf("history line %d, column %s: %q is not a number", i+2, csvHeader[j], f)
			}
		}
		h = append(h, Epoch{Epoch: int(v[0]), LR: v[1], TrainLoss: v[2], TrainAcc: v[3], EvalLoss: v[4], EvalAcc: v[5], Seconds: v[6]})
	}
	return h, nil
}
