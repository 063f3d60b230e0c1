package metrics

import (
	"encoding/json"
	"math"
	"os"
	"strings"
	"testing"
)

type sklearnCase struct {
	Name                                 string
	Classes                              int
	Labels, Predictions                  []int
	Accuracy                             float64
	Precision, Recall, F1                []float64
	Support                              []int
	MacroPrecision, MacroRecall, MacroF1 float64 `json:"-"`
	MP                                   float64 `json:"macro_precision"`
	MR                                   float64 `json:"macro_recall"`
	MF                                   float64 `json:"macro_f1"`
	Confusion                            [][]int
}

func TestAgainstScikitLearn(t *testing.T) {
	raw, err := os.ReadFile("testdata/sklearn.json")
	if err != nil {
		t.Fatal(err)
	}
	var golden struct{ Cases []sklearnCase }
	if err := json.Unmarshal(raw, &golden); err != nil {
		t.Fatal(err)
	}
	if len(golden.Cases) == 0 {
		t.Fatal("no cases in sklearn.json")
	}
	near := func(what string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 1e-12 {
			t.Errorf("%s = %v, scikit-learn %v", what, got, want)
		}
	}
	for _, c := range golden.Cases {
		t.Run(c.Name, func(t *testing.T) {
			names := make([]string, c.Classes)
			for i := range names {
				names[i] = string(rune('a' + i))
			}
			r, err := Evaluate(c.Labels, c.Predictions, names)
			if err != nil {
				t.Fatal(err)
			}
			near("accuracy", r.Accuracy, c.Accuracy)
			near("macro precision", r.MacroPrecision, c.MP)
			near("macro recall", r.MacroRecall, c.MR)
			near("macro F1", r.MacroF1, c.MF)
			for k := 0; k < c.Classes; k++ {
				near("precision", r.Precision[k], c.Precision[k])
				near("recall", r.Recall[k], c.Recall[k])
				near("F1", r.F1[k], c.F1[k])
				if r.Support[k] != c.Support[k] {
					t.Errorf("support[%d] = %d, want %d", k, r.Support[k], c.Support[k])
				}
				for j := 0; j < c.Classes; j++ {
					if r.Confusion[k][j] != c.Confusion[k][j] {
						t.Errorf("confusion[%d][%d] = %d, want %d", k, j, r.Confusion[k][j], c.Confusion[k][j])
					}
				}
			}
		})
	}
}

func TestEvaluateErrors(t *testing.T) {
	for _, c := range []struct {
		labels, preds []int
		want          string
	}{
		{[]int{0, 1}, []int{0}, "2 labels but 1 predictions"},
		{[]int{0, 3}, []int{0, 1}, "label 3"},
		{[]int{0}, []int{-1}, "prediction -1"},
		{nil, nil, "nothing to score"},
	} {
		_, err := Evaluate(c.labels, c.preds, []string{"a", "b"})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Evaluate(%v, %v): %v, want %q", c.labels, c.preds, err, c.want)
		}
	}
}

func TestWriteTable(t *testing.T) {
	r, _ := Evaluate([]int{0, 1, 1}, []int{0, 1, 0}, []string{"cat", "dog"})
	var b strings.Builder
	r.WriteTable(&b)
	for _, want := range []string{"precision", "cat", "macro avg", "accuracy", "0.6667"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}
