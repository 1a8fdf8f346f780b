package chart

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"testing"
)

// encodePNG is lossless: the decoded pixels are the drawn ones, for the
// chart's opaque RGBA (its own encoder) and for anything else (image/png).
func TestEncodePNG(t *testing.T) {
	opaque := image.NewRGBA(image.Rect(0, 0, 37, 23))
	translucent := image.NewRGBA(image.Rect(0, 0, 37, 23))
	gray := image.NewGray(image.Rect(0, 0, 37, 23))
	for y := range 23 {
		for x := range 37 {
			// Values that wrap around when a row is subtracted from the one above.
			v := uint8(x*53 + y*97)
			opaque.SetRGBA(x, y, color.RGBA{v, 255 - v, uint8(x * y), 0xff})
			translucent.SetRGBA(x, y, color.RGBA{v / 2, 0, 0, uint8(0x80 + x)})
			gray.SetGray(x, y, color.Gray{v})
		}
	}
	for _, tc := range []struct {
		name string
		img  image.Image
	}{{"opaque RGBA", opaque}, {"translucent RGBA", translucent}, {"gray", gray}, {"one pixel", opaque.SubImage(image.Rect(3, 4, 4, 5))}} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := encodePNG(&buf, tc.img); err != nil {
				t.Fatal(err)
			}
			got, err := png.Decode(&buf)
			if err != nil {
				t.Fatalf("png.Decode: %v", err)
			}
			b := tc.img.Bounds()
			if got.Bounds().Size() != b.Size() {
				t.Fatalf("size %v, want %v", got.Bounds().Size(), b.Size())
			}
			for y := range b.Dy() {
				for x := range b.Dx() {
					g := color.NRGBAModel.Convert(got.At(got.Bounds().Min.X+x, got.Bounds().Min.Y+y))
					w := color.NRGBAModel.Convert(tc.img.At(b.Min.X+x, b.Min.Y+y))
					if g != w {
						t.Fatalf("pixel (%d, %d) = %v, want %v", x, y, g, w)
					}
				}
			}
		})
	}
}
