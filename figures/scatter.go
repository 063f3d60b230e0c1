package figures

import (
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// classColors is a qualitative palette (matplotlib's tab10, then tab20's
// light shades), so that up to 20 classes are told apart.
var classColors = []color.RGBA{
	{31, 119, 180, 255}, {255, 127, 14, 255}, {44, 160, 44, 255}, {214, 39, 40, 255}, {148, 103, 189, 255},
	{140, 86, 75, 255}, {227, 119, 194, 255}, {127, 127, 127, 255}, {188, 189, 34, 255}, {23, 190, 207, 255},
	{174, 199, 232, 255}, {255, 187, 120, 255}, {152, 223, 138, 255}, {255, 152, 150, 255}, {197, 176, 213, 255},
	{196, 156, 148, 255}, {247, 182, 210, 255}, {199, 199, 199, 255}, {219, 219, 141, 255}, {158, 218, 229, 255},
}

// Scatter writes a PNG of points coloured by class with a legend of class
// names. y holds n points of dims 2 or 3 values; a 3-D embedding is drawn
// as two views, rotated 90° apart about the vertical axis.
func Scatter(path, title string, y []float64, dims int, labels []int, classes []string) error {
	n := len(labels)
	if dims != 2 && dims != 3 || len(y) != n*dims {
		return fmt.Errorf("figures: %d values for %d points of %d dimensions", len(y), n, dims)
	}
	if dims == 2 {
		p, err := scatterPlot(title, y, labels, classes, identity)
		if err != nil {
			return err
		}
		img := vgimg.New(7*vg.Inch, 6*vg.Inch)
		p.Draw(draw.New(img))
		return writePNG(path, img)
	}
	views := [2]func([]float64) (float64, float64){rotated(30, 20), rotated(120, 20)}
	var plots [2]*plot.Plot
	for v, view := range views {
		p, err := scatterPlot(fmt.Sprintf("%s (view %d)", title, v+1), y, labels, classes, view)
		if err != nil {
			return err
		}
		plots[v] = p
	}
	img := vgimg.New(13*vg.Inch, 6*vg.Inch)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Millimeter * 4, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2,
		PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	canvases := plot.Align([][]*plot.Plot{plots[:]}, tiles, dc)
	plots[0].Draw(canvases[0][0])
	plots[1].Draw(canvases[0][1])
	return writePNG(path, img)
}

func identity(p []float64) (float64, float64) { return p[0], p[1] }

// rotated projects 3-D points after turning them yaw degrees about the
// vertical (z) axis and pitch degrees about the horizontal one.
func rotated(yaw, pitch float64) func([]float64) (float64, float64) {
	a, b := yaw*math.Pi/180, pitch*math.Pi/180
	return func(p []float64) (float64, float64) {
		x := p[0]*math.Cos(a) - p[1]*math.Sin(a)
		y := p[0]*math.Sin(a) + p[1]*math.Cos(a)
		return x, p[2]*math.Cos(b) - y*math.Sin(b)
	}
}

func scatterPlot(title string, y []float64, labels []int, classes []string, project func([]float64) (float64, float64)) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.HideAxes()
	dims := len(y) / len(labels)
	groups := make([]plotter.XYs, len(classes))
	for i, c := range labels {
		if c < 0 || c >= len(classes) {
			return nil, fmt.Errorf("figures: label %d of point %d is not one of %d classes", c, i, len(classes))
		}
		px, py := project(y[i*dims : (i+1)*dims])
		groups[c] = append(groups[c], plotter.XY{X: px, Y: py})
	}
	for c, pts := range groups {
		if len(pts) == 0 {
			continue
		}
		s, err := plotter.NewScatter(pts)
		if err != nil {
			return nil, err
		}
		s.GlyphStyle.Color = classColors[c%len(classColors)]
		s.GlyphStyle.Radius = vg.Points(1.2)
		s.GlyphStyle.Shape = draw.CircleGlyph{}
		p.Add(s)
		p.Legend.Add(classes[c], s)
	}
	// Leave an empty band on the right for the legend, so that it covers
	// no points.
	xmin, xmax := math.Inf(1), math.Inf(-1)
	for _, pts := range groups {
		for _, pt := range pts {
			xmin, xmax = math.Min(xmin, pt.X), math.Max(xmax, pt.X)
		}
	}
	if xmax > xmin {
		p.X.Min, p.X.Max = xmin, xmax+0.3*(xmax-xmin)
	}
	p.Legend.Top = true
	p.Legend.Left = false
	return p, nil
}
