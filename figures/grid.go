package figures

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// ReconstructionGrid writes a PNG with one column per sample: its label on
// top, the original image below it and the reconstruction under that.
// Pixels are in [0, 1] (clamped), images are w×h, drawn scale times larger.
func ReconstructionGrid(path string, originals, reconstructions [][]float32, labels []string, w, h, scale int) error {
	n := len(originals)
	if n == 0 || len(reconstructions) != n || len(labels) != n {
		return fmt.Errorf("figures: %d originals, %d reconstructions, %d labels", n, len(reconstructions), len(labels))
	}
	const pad, text = 4, 14
	cw, ch := w*scale+pad, h*scale
	img := image.NewGray(image.Rect(0, 0, n*cw+pad, text+2*ch+3*pad))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	face := basicfont.Face7x13
	for i := 0; i < n; i++ {
		for row, px := range [][]float32{originals[i], reconstructions[i]} {
			if len(px) != w*h {
				return fmt.Errorf("figures: image %d has %d pixels, want %d×%d", i, len(px), w, h)
			}
			x0, y0 := pad+i*cw, text+pad+row*(ch+pad)
			for y := 0; y < h*scale; y++ {
				for x := 0; x < w*scale; x++ {
					v := min(max(px[(y/scale)*w+x/scale], 0), 1)
					img.SetGray(x0+x, y0+y, color.Gray{Y: uint8(255 - 255*v)}) // dark ink on white
				}
			}
		}
		label := labels[i]
		for font.MeasureString(face, label).Ceil() > cw && len(label) > 1 {
			label = label[:len(label)-1]
		}
		d := &font.Drawer{Dst: img, Src: image.Black, Face: face,
			Dot: fixed.P(pad+i*cw+(cw-font.MeasureString(face, label).Ceil())/2, text-3)}
		d.DrawString(label)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return err
	}
	return writeFileAtomic(path, buf.Bytes())
}
