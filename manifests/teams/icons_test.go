package teams

import (
	"bytes"
	"flag"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"testing"
)

var update = flag.Bool("update", false, "redraw color.png and outline.png")

// The icons are drawn here, so they can be redrawn (go test -update) and
// are checked pixel by pixel against the committed files.

// segDist is the distance from p to the segment ab.
func segDist(px, py, ax, ay, bx, by float64) (d, t float64) {
	dx, dy := bx-ax, by-ay
	t = ((px-ax)*dx + (py-ay)*dy) / (dx*dx + dy*dy)
	t = math.Max(0, math.Min(1, t))
	return math.Hypot(px-(ax+t*dx), py-(ay+t*dy)), t
}

// draw renders size×size pixels, supersampled 4×4: shade says the colour
// of a point, or false outside the shape.
func draw(size int, shade func(x, y float64) (color.NRGBA, bool)) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	const n = 4
	for y := range size {
		for x := range size {
			var r, g, b, a float64
			for sy := range n {
				for sx := range n {
					c, ok := shade(float64(x)+(float64(sx)+0.5)/n, float64(y)+(float64(sy)+0.5)/n)
					if !ok {
						continue
					}
					w := float64(c.A) / 255
					r, g, b, a = r+float64(c.R)*w, g+float64(c.G)*w, b+float64(c.B)*w, a+w
				}
			}
			if a == 0 {
				continue
			}
			img.SetNRGBA(x, y, color.NRGBA{R: uint8(r/a + 0.5), G: uint8(g/a + 0.5), B: uint8(b/a + 0.5), A: uint8(a/(n*n)*255 + 0.5)})
		}
	}
	return img
}

var (
	accent = color.NRGBA{0x3B, 0x5B, 0xDB, 0xFF}
	grip   = color.NRGBA{0x23, 0x3E, 0xA8, 0xFF}
	white  = color.NRGBA{0xFF, 0xFF, 0xFF, 0xFF}
)

// colorIcon is a white relay baton across the accent colour, with a grip
// band and a dot for motion, inside the 120 px safe area.
func colorIcon() *image.NRGBA {
	return draw(192, func(x, y float64) (color.NRGBA, bool) {
		if math.Hypot(x-142, y-50) <= 8 {
			return white, true
		}
		if d, t := segDist(x, y, 58, 134, 118, 74); d <= 15 {
			if math.Abs(t-0.5) < 0.09 {
				return grip, true
			}
			return white, true
		}
		return accent, true
	})
}

// outlineIcon is the same baton as a white outline on transparency.
func outlineIcon() *image.NRGBA {
	return draw(32, func(x, y float64) (color.NRGBA, bool) {
		if d, _ := segDist(x, y, 9, 23, 21, 11); d <= 5 && d >= 3.4 {
			return white, true
		}
		if math.Hypot(x-25.5, y-6.5) <= 2 {
			return white, true
		}
		return color.NRGBA{}, false
	})
}

func TestIcons(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		file string
		img  *image.NRGBA
	}{{"color.png", colorIcon()}, {"outline.png", outlineIcon()}} {
		if *update {
			var buf bytes.Buffer
			if err := png.Encode(&buf, tc.img); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(tc.file, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		data, err := Files.ReadFile(tc.file)
		if *update {
			data, err = os.ReadFile(tc.file)
		}
		if err != nil {
			t.Fatal(err)
		}
		got, err := png.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		if got.Bounds() != tc.img.Bounds() {
			t.Fatalf("%s is %v, want %v", tc.file, got.Bounds(), tc.img.Bounds())
		}
		for y := range tc.img.Bounds().Dy() {
			for x := range tc.img.Bounds().Dx() {
				if c := color.NRGBAModel.Convert(got.At(x, y)); c != tc.img.NRGBAAt(x, y) {
					t.Fatalf("%s differs from the drawing at (%d,%d): %v, want %v; run go test -update ./manifests/teams/", tc.file, x, y, c, tc.img.NRGBAAt(x, y))
				}
			}
		}
	}
}
