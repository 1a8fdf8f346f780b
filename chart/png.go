package chart

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/png"
)

// encodePNG writes m as a PNG: 8-bit RGB when every pixel is opaque
// (always, on the chart's white canvas), each row filtered with PNG's "Up"
// filter and compressed at zlib's best speed. image/png tries five
// filters on every row, which costs more than drawing the chart; a chart is
// mostly runs of one colour and columns of bars, which "Up" turns into
// zeros. Anything else goes through image/png. Lossless either way.
func encodePNG(buf *bytes.Buffer, m image.Image) error {
	img, ok := m.(*image.RGBA)
	if !ok || !img.Opaque() {
		return (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(buf, m)
	}
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	buf.WriteString("\x89PNG\r\n\x1a\n")
	var ihdr [13]byte
	binary.BigEndian.PutUint32(ihdr[0:], uint32(w))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(h))
	ihdr[8], ihdr[9] = 8, 2 // bit depth, colour type RGB; compression, filter, interlace 0
	writeChunk(buf, "IHDR", ihdr[:])

	var idat bytes.Buffer
	zw, err := zlib.NewWriterLevel(&idat, zlib.BestSpeed)
	if err != nil {
		return err
	}
	prev := make([]byte, 1+3*w) // the previous row, unfiltered; zero above the first
	cur := make([]byte, 1+3*w)
	out := make([]byte, 1+3*w)
	out[0] = 2 // Up
	for y := b.Min.Y; y < b.Max.Y; y++ {
		px := img.Pix[img.PixOffset(b.Min.X, y):]
		for x, i := 0, 1; x < w; x, i = x+1, i+3 {
			p := px[4*x : 4*x+3 : 4*x+3]
			cur[i], cur[i+1], cur[i+2] = p[0], p[1], p[2]
			out[i], out[i+1], out[i+2] = p[0]-prev[i], p[1]-prev[i+1], p[2]-prev[i+2]
		}
		if _, err := zw.Write(out); err != nil {
			return err
		}
		prev, cur = cur, prev
	}
	if err := zw.Close(); err != nil {
		return err
	}
	writeChunk(buf, "IDAT", idat.Bytes())
	writeChunk(buf, "IEND", nil)
	return nil
}

func writeChunk(buf *bytes.Buffer, typ string, data []byte) {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(data)))
	buf.Write(n[:])
	crc := crc32.NewIEEE()
	crc.Write([]byte(typ))
	crc.Write(data)
	buf.WriteString(typ)
	buf.Write(data)
	binary.BigEndian.PutUint32(n[:], crc.Sum32())
	buf.Write(n[:])
}
