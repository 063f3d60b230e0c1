// Package figures draws training curves and confusion matrices as PNG
// images with gonum.org/v1/plot.
package figures

import (
	"bytes"
	"fmt"
	"image/color"
	"math"

	"github.com/diynn/diynn/internal/atomicfile"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/palette"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Series is one named curve over epochs (NaN values are left out).
type Series struct {
	Name   string
	Values []float64
}

// Curves writes a PNG with two panels side by side: the loss series and
// the accuracy series against the epoch number (from 1); with no accuracy
// series (an autoencoder), only the loss panel.
func Curves(path, title string, losses, accuracies []Series) error {
	lp, err := linePlot(title+": loss", "loss", losses, true)
	if err != nil {
		return err
	}
	if len(accuracies) == 0 {
		img := vgimg.New(6*vg.Inch, 4*vg.Inch)
		lp.Draw(draw.New(img))
		return writePNG(path, img)
	}
	ap, err := linePlot(title+": accuracy", "accuracy", accuracies, false)
	if err != nil {
		return err
	}
	const w, h = 10 * vg.Inch, 4 * vg.Inch
	img := vgimg.New(w, h)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Millimeter * 4, PadY: vg.Millimeter * 2,
		PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	plots := [][]*plot.Plot{{lp, ap}}
	canvases := plot.Align(plots, tiles, dc)
	lp.Draw(canvases[0][0])
	ap.Draw(canvases[0][1])
	return writePNG(path, img)
}

var lineColors = []color.Color{
	color.RGBA{31, 119, 180, 255}, color.RGBA{255, 127, 14, 255}, color.RGBA{44, 160, 44, 255}, color.RGBA{214, 39, 40, 255},
}

// linePlot draws series against epochs, with the legend at the top (where
// a falling loss leaves room) or at the bottom (for a rising accuracy).
func linePlot(title, ylabel string, series []Series, legendTop bool) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "epoch"
	p.Y.Label.Text = ylabel
	p.Add(plotter.NewGrid())
	for i, s := range series {
		var pts plotter.XYs
		for e, v := range s.Values {
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				pts = append(pts, plotter.XY{X: float64(e + 1), Y: v})
			}
		}
		if len(pts) == 0 {
			continue
		}
		l, sc, err := plotter.NewLinePoints(pts)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.Name, err)
		}
		c := lineColors[i%len(lineColors)]
		l.Color, sc.Color = c, c
		sc.Radius = vg.Points(2)
		p.Add(l, sc)
		p.Legend.Add(s.Name, l, sc)
	}
	p.Legend.Top = legendTop
	return p, nil
}

// confusionGrid adapts a confusion matrix to plotter.GridXYZ: x is the
// predicted class, y the true class, drawn with the first class on top.
type confusionGrid struct{ m [][]int }

func (g confusionGrid) Dims() (c, r int)   { return len(g.m), len(g.m) }
func (g confusionGrid) X(c int) float64    { return float64(c) }
func (g confusionGrid) Y(r int) float64    { return float64(r) }
func (g confusionGrid) Z(c, r int) float64 { return float64(g.m[len(g.m)-1-r][c]) }

// classTicks labels integer positions with class names.
type classTicks struct {
	names    []string
	reversed bool
}

func (t classTicks) Ticks(min, max float64) []plot.Tick {
	ticks := make([]plot.Tick, len(t.names))
	for i, n := range t.names {
		if t.reversed {
			n = t.names[len(t.names)-1-i]
		}
		ticks[i] = plot.Tick{Value: float64(i), Label: n}
	}
	return ticks
}

// Confusion writes a PNG of a confusion matrix (rows: true class, columns:
// predicted class), with the counts written in the cells.
func Confusion(path, title string, matrix [][]int, classes []string) error {
	k := len(classes)
	if len(matrix) != k {
		return fmt.Errorf("figures: %d×? confusion matrix for %d classes", len(matrix), k)
	}
	maxCount := 0
	for _, row := range matrix {
		if len(row) != k {
			return fmt.Errorf("figures: confusion matrix row of %d for %d classes", len(row), k)
		}
		for _, v := range row {
			maxCount = max(maxCount, v)
		}
	}
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "predicted"
	p.Y.Label.Text = "true"
	p.X.Tick.Marker = classTicks{names: classes}
	p.Y.Tick.Marker = classTicks{names: classes, reversed: true}
	p.X.Tick.Label.Rotation = math.Pi / 4
	p.X.Tick.Label.XAlign = draw.XRight
	pal := palette.Heat(64, 1)
	cols := pal.Colors()
	// Reverse: white for zero, dark for large counts.
	for i, j := 0, len(cols)-1; i < j; i, j = i+1, j-1 {
		cols[i], cols[j] = cols[j], cols[i]
	}
	hm := plotter.NewHeatMap(confusionGrid{matrix}, reversed{cols})
	hm.Min, hm.Max = 0, float64(max(maxCount, 1))
	p.Add(hm)
	var labels plotter.XYLabels
	for r := 0; r < k; r++ {
		for c := 0; c < k; c++ {
			labels.XYs = append(labels.XYs, plotter.XY{X: float64(c), Y: float64(k - 1 - r)})
			labels.Labels = append(labels.Labels, fmt.Sprint(matrix[r][c]))
		}
	}
	lp, err := plotter.NewLabels(labels)
	if err != nil {
		return err
	}
	for i := range lp.TextStyle {
		lp.TextStyle[i].XAlign, lp.TextStyle[i].YAlign = draw.XCenter, draw.YCenter
	}
	p.Add(lp)
	size := vg.Length(2.5+0.6*float64(k)) * vg.Inch
	img := vgimg.New(size, size)
	p.Draw(draw.New(img))
	return writePNG(path, img)
}

type reversed struct{ c []color.Color }

func (r reversed) Colors() []color.Color { return r.c }

// writePNG encodes img and writes it atomically.
func writePNG(path string, img *vgimg.Canvas) error {
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
		return err
	}
	return writeFileAtomic(path, buf.Bytes())
}

// writeFileAtomic writes b to path atomically.
func writeFileAtomic(path string, b []byte) error { return atomicfile.Write(path, b) }
