package manifest

import (
	"image"
	"image/color"
)

// The icons of the Teams app, drawn by code so that they can be regenerated
// and checked: manifest_test.go fails when color.png or outline.png differ
// from what ColorIcon and OutlineIcon render (rewrite them with
// `go test ./manifest -run TestManifestIcons -update`).
//
// Teams' rules (apps-package.md):
//   - color.png: 192×192, the symbol inside the central 96×96 (48 px padding
//     on every side), on a solid or transparent background;
//   - outline.png: 32×32, white (255,255,255) on a fully transparent
//     background, no padding, and no other colours or partial transparency.
//
// The symbol is a smartphone with a shield carrying a keyhole: "the phone
// that holds your sign-in key".
//
// Geometry is integer arithmetic in eighths of a pixel, so the pixels are the
// same on every platform and Go version (floating point could differ where a
// compiler fuses multiply-adds).

// Icon sizes in pixels.
const (
	ColorIconSize   = 192
	OutlineIconSize = 32
)

// Colours of the colour icon. AccentColor is also the manifest's accentColor.
var (
	AccentColor = color.NRGBA{0x1F, 0x5A, 0xA6, 0xFF} // #1F5AA6, the background
	phoneColor  = color.NRGBA{0xFF, 0xFF, 0xFF, 0xFF}
	screenColor = color.NRGBA{0xD6, 0xE6, 0xF8, 0xFF}
	shieldColor = color.NRGBA{0x2E, 0x9E, 0x5B, 0xFF}
	white       = color.NRGBA{0xFF, 0xFF, 0xFF, 0xFF}
	// transparent is a fully transparent pixel. Its colour is white so that a
	// client that scales the icon without premultiplying alpha blends
	// towards white, not black.
	transparent = color.NRGBA{0xFF, 0xFF, 0xFF, 0x00}
)

// unit is the number of geometry units per pixel.
const unit = 8

type point struct{ x, y int64 }

// pt makes a point from pixel coordinates given in eighths of a pixel
// exactly (callers pass multiples of 0.125 or integers).
func pt(x, y float64) point { return point{u(x), u(y)} }

// u converts pixels to units. The argument is always a literal with at most
// three binary fraction digits, so the conversion is exact.
func u(v float64) int64 { return int64(v * unit) }

// shape is a set of points.
type shape interface{ contains(p point) bool }

// polygon is a closed polygon, filled with the even-odd rule.
type polygon []point

func (pg polygon) contains(p point) bool {
	in := false
	for i := range pg {
		a, b := pg[i], pg[(i+1)%len(pg)]
		if (a.y > p.y) == (b.y > p.y) {
			continue
		}
		// Is p left of the edge's crossing with the horizontal through p?
		// p.x < a.x + (p.y-a.y)*(b.x-a.x)/(b.y-a.y), multiplied out.
		dy := b.y - a.y
		lhs := (p.x - a.x) * dy
		rhs := (p.y - a.y) * (b.x - a.x)
		if (dy > 0 && lhs < rhs) || (dy < 0 && lhs > rhs) {
			in = !in
		}
	}
	return in
}

// near is every point inside base or within d of its outline: base grown
// by d with round corners.
type near struct {
	base polygon
	d    int64
}

func (n near) contains(p point) bool {
	if n.base.contains(p) {
		return true
	}
	for i := range n.base {
		if segmentNear(p, n.base[i], n.base[(i+1)%len(n.base)], n.d) {
			return true
		}
	}
	return false
}

// segmentNear reports whether p is within d of the segment ab.
func segmentNear(p, a, b point, d int64) bool {
	abx, aby := b.x-a.x, b.y-a.y
	apx, apy := p.x-a.x, p.y-a.y
	t := apx*abx + apy*aby
	ll := abx*abx + aby*aby
	if ll == 0 || t <= 0 {
		return apx*apx+apy*apy <= d*d
	}
	if t >= ll {
		bpx, bpy := p.x-b.x, p.y-b.y
		return bpx*bpx+bpy*bpy <= d*d
	}
	cross := apx*aby - apy*abx
	return cross*cross <= d*d*ll
}

// disc is a filled circle.
type disc struct {
	c point
	r int64
}

func (c disc) contains(p point) bool {
	dx, dy := p.x-c.c.x, p.y-c.c.y
	return dx*dx+dy*dy <= c.r*c.r
}

// roundRect is the rectangle (x0,y0)-(x1,y1) in pixels with corners of
// radius r.
func roundRect(x0, y0, x1, y1, r float64) shape {
	return near{polygon{pt(x0+r, y0+r), pt(x1-r, y0+r), pt(x1-r, y1-r), pt(x0+r, y1-r)}, u(r)}
}

// shield is a shield outline whose top edge spans x0..x1 at y0 (the centre
// of the top rises by lift), whose sides run straight down to y0+side and
// then curve into the tip at (centre, y1).
func shield(x0, y0, x1, y1, lift, side float64) polygon {
	cx := (x0 + x1) / 2
	pg := polygon{pt(x0, y0), pt(cx, y0-lift), pt(x1, y0), pt(x1, y0+side)}
	// Right side: a quadratic Bézier from (x1, y0+side) through the control
	// (x1, y1-(y1-y0-side)/4) to the tip, sampled in integer arithmetic.
	p0, p1, p2 := pt(x1, y0+side), pt(x1, y1-(y1-y0-side)/4), pt(cx, y1)
	right := bezier(p0, p1, p2, 12)
	pg = append(pg, right[1:]...)
	// Left side: the mirror image, from the tip back up.
	mirror := func(p point) point { return point{2*u(cx) - p.x, p.y} }
	for i := len(right) - 2; i >= 0; i-- {
		pg = append(pg, mirror(right[i]))
	}
	return pg
}

// bezier samples a quadratic Bézier curve at n+1 points, rounding to units.
func bezier(p0, p1, p2 point, n int64) []point {
	pts := make([]point, 0, n+1)
	nn := n * n
	for i := int64(0); i <= n; i++ {
		a, b, c := (n-i)*(n-i), 2*(n-i)*i, i*i
		x := a*p0.x + b*p1.x + c*p2.x
		y := a*p0.y + b*p1.y + c*p2.y
		pts = append(pts, point{(x + nn/2) / nn, (y + nn/2) / nn})
	}
	return pts
}

// layer paints a shape in one colour; later layers cover earlier ones.
type layer struct {
	s shape
	c color.NRGBA
}

// rasterize renders the layers on a size×size image with ss×ss samples per
// pixel (2*ss divides unit). A sample takes the colour of the topmost layer
// containing it, transparent if none; a pixel averages its samples with
// premultiplied alpha, in integers.
func rasterize(size, ss int, layers []layer) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	// Sample sx of a pixel sits at (2*sx+1)/(2*ss) of its width.
	offset := func(s int) int64 { return int64(2*s+1) * unit / int64(2*ss) }
	for py := 0; py < size; py++ {
		for px := 0; px < size; px++ {
			var sa, sr, sg, sb int64
			for sy := 0; sy < ss; sy++ {
				for sx := 0; sx < ss; sx++ {
					p := point{int64(px)*unit + offset(sx), int64(py)*unit + offset(sy)}
					c := transparent
					for i := len(layers) - 1; i >= 0; i-- {
						if layers[i].s.contains(p) {
							c = layers[i].c
							break
						}
					}
					a := int64(c.A)
					sa += a
					sr += int64(c.R) * a
					sg += int64(c.G) * a
					sb += int64(c.B) * a
				}
			}
			n := int64(ss * ss)
			out := transparent
			if sa > 0 {
				out = color.NRGBA{
					R: uint8((sr + sa/2) / sa),
					G: uint8((sg + sa/2) / sa),
					B: uint8((sb + sa/2) / sa),
					A: uint8((sa + n/2) / n),
				}
			}
			img.SetNRGBA(px, py, out)
		}
	}
	return img
}

// ColorIcon renders color.png: on a solid AccentColor square, a white phone
// with a light screen, overlapped at its lower right by a green shield with a
// white keyhole, all inside the central 96×96 pixels.
func ColorIcon() *image.NRGBA {
	const ss = 4 // 16 samples per pixel: smooth edges
	sh := shield(96, 88, 144, 144, 6, 20)
	layers := []layer{
		{roundRect(0, 0, ColorIconSize, ColorIconSize, 0), AccentColor},
		// the phone
		{roundRect(52, 48, 110, 144, 10), phoneColor},
		{roundRect(58, 62, 104, 128, 3), screenColor},
		{roundRect(72, 53, 90, 57, 2), AccentColor}, // speaker
		{disc{pt(81, 136), u(4)}, screenColor},      // home button
		// the shield, cut out of the phone by a ring of background
		{near{sh, u(5)}, AccentColor},
		{sh, shieldColor},
		// its keyhole
		{disc{pt(120, 106), u(7)}, white},
		{polygon{pt(116.5, 108), pt(123.5, 108), pt(126, 128), pt(114, 128)}, white},
	}
	return rasterize(ColorIconSize, ss, layers)
}

// OutlineIcon renders outline.png: the same symbol as a white outline of the
// phone and a solid white shield with a transparent keyhole, sampled once
// per pixel so that every pixel is either opaque white or fully
// transparent, as Teams requires.
func OutlineIcon() *image.NRGBA {
	const ss = 1 // one sample per pixel: no partial transparency
	sh := shield(14, 14, 32, 32, 2, 7)
	layers := []layer{
		// the phone: a 2 px outline
		{roundRect(2, 0, 22, 32, 4), white},
		{roundRect(4, 2, 20, 30, 2), transparent},
		{roundRect(9, 4, 15, 5, 0), white}, // speaker
		// the shield, cut out of the phone by a transparent gap
		{near{sh, u(2)}, transparent},
		{sh, white},
		// its keyhole
		{disc{pt(23, 19), u(3)}, transparent},
		{polygon{pt(22, 21), pt(24, 21), pt(24, 27), pt(22, 27)}, transparent},
	}
	return rasterize(OutlineIconSize, ss, layers)
}
