// Package metrics scores a classifier's predictions: accuracy, per-class
// and macro-averaged precision, recall and F1, and the confusion matrix,
// with scikit-learn's definitions (a class never predicted has precision 0).
package metrics

import (
	"fmt"
	"io"
	"strings"
)

// Report holds the scores of one set of predictions.
type Report struct {
	Classes   []string
	Confusion [][]int // Confusion[true][predicted]
	Accuracy  float64
	// Per class, in Classes order.
	Precision, Recall, F1 []float64
	Support               []int
	// Unweighted means over classes (scikit-learn's average="macro").
	MacroPrecision, MacroRecall, MacroF1 float64
}

// Evaluate scores predictions against labels; both hold class indices in
// [0, len(classes)).
func Evaluate(labels, predictions []int, classes []string) (*Report, error) {
	k := len(classes)
	if len(labels) != len(predictions) {
		return nil, fmt.Errorf("metrics: %d labels but %d predictions", len(labels), len(predictions))
	}
	if len(labels) == 0 || k == 0 {
		return nil, fmt.Errorf("metrics: nothing to score (%d samples, %d classes)", len(labels), k)
	}
	r := &Report{Classes: classes, Confusion: make([][]int, k),
		Precision: make([]float64, k), Recall: make([]float64, k), F1: make([]float64, k), Support: make([]int, k)}
	for i := range r.Confusion {
		r.Confusion[i] = make([]int, k)
	}
	right := 0
	for i, y := range labels {
		p := predictions[i]
		if y < 0 || y >= k || p < 0 || p >= k {
			return nil, fmt.Errorf("metrics: sample %d has label %d and prediction %d, want classes in [0, %d)", i, y, p, k)
		}
		r.Confusion[y][p]++
		if y == p {
			right++
		}
	}
	r.Accuracy = float64(right) / float64(len(labels))
	for c := 0; c < k; c++ {
		tp, predicted := r.Confusion[c][c], 0
		for t := 0; t < k; t++ {
			predicted += r.Confusion[t][c]
			r.Support[c] += r.Confusion[c][t]
		}
		if predicted > 0 {
			r.Precision[c] = float64(tp) / float64(predicted)
		}
		if r.Support[c] > 0 {
			r.Recall[c] = float64(tp) / float64(r.Support[c])
		}
		if s := r.Precision[c] + r.Recall[c]; s > 0 {
			r.F1[c] = 2 * r.Precision[c] * r.Recall[c] / s
		}
		r.MacroPrecision += r.Precision[c] / float64(k)
		r.MacroRecall += r.Recall[c] / float64(k)
		r.MacroF1 += r.F1[c] / float64(k)
	}
	return r, nil
}

// WriteTable prints the per-class scores, the macro averages and the
// accuracy as an aligned text table.
func (r *Report) WriteTable(w io.Writer) error {
	width := len("macro avg")
	for _, c := range r.Classes {
		width = max(width, len(c))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%*s  %9s  %9s  %9s  %7s\n", width, "", "precision", "recall", "f1", "support")
	total := 0
	for c, name := range r.Classes {
		fmt.Fprintf(&b, "%*s  %9.4f  %9.4f  %9.4f  %7d\n", width, name, r.Precision[c], r.Recall[c], r.F1[c], r.Support[c])
		total += r.Support[c]
	}
	fmt.Fprintf(&b, "%*s  %9.4f  %9.4f  %9.4f  %7d\n", width, "macro avg", r.MacroPrecision, r.MacroRecall, r.MacroF1, total)
	fmt.Fprintf(&b, "%*s  %9s  %9s  %9.4f  %7d\n", width, "accuracy", "", "", r.Accuracy, total)
	_, err := io.WriteString(w, b.String())
	return err
}
