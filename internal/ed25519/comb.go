package ed25519

import (
	"encoding/binary"
	"math/big"
	"sync"

	"filippo.io/edwards25519"
	"filippo.io/edwards25519/field"
)

// This file computes the verification equation's [S]B − [k]A faster for a
// key that verifies many signatures. Each scalar is cut into four 64-bit
// quarters, so that with the points B_q = [2^(64q)]B and A_q =
// [2^(64q)](−A) the product is a sum of eight 64-bit products, computed
// together with 64 doublings instead of 253 (Straus's method with the
// scalars' signed-digit forms). The multiples of B_q are computed once per
// process, those of A_q once per key. The result is the same point, so the
// accepted signatures are the same.

// extPoint is a point in extended coordinates (X:Y:Z:T): x = X/Z, y = Y/Z,
// xy = T/Z, on −x² + y² = 1 + d·x²·y².
type extPoint struct{ X, Y, Z, T field.Element }

// cachedPoint is a point ready to be added: (Y+X, Y−X, 2Z, 2d·T).
type cachedPoint struct{ YplusX, YminusX, Z2, T2d field.Element }

// d2 is 2d, d = −121665/121666.
var d2 = func() *field.Element {
	p := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))
	d := new(big.Int).Mul(big.NewInt(-121665), new(big.Int).ModInverse(big.NewInt(121666), p))
	d.Mul(d, big.NewInt(2)).Mod(d, p)
	b := make([]byte, 32)
	d.FillBytes(b)
	for i := range 16 {
		b[i], b[31-i] = b[31-i], b[i]
	}
	e, err := new(field.Element).SetBytes(b)
	if err != nil {
		panic("ed25519: internal error: 2d: " + err.Error())
	}
	return e
}()

func (p *extPoint) fromPoint(q *edwards25519.Point) {
	X, Y, Z, T := q.ExtendedCoordinates()
	p.X, p.Y, p.Z, p.T = *X, *Y, *Z, *T
}

func (p *extPoint) identity() {
	p.X.Zero()
	p.Y.One()
	p.Z.One()
	p.T.Zero()
}

func (c *cachedPoint) fromExt(p *extPoint) {
	c.YplusX.Add(&p.Y, &p.X)
	c.YminusX.Subtract(&p.Y, &p.X)
	c.Z2.Add(&p.Z, &p.Z)
	c.T2d.Multiply(&p.T, d2)
}

// double sets p = 2p (dbl-2008-hwcd with a = −1).
func (p *extPoint) double() {
	var a, b, c, e, f, g, h field.Element
	a.Square(&p.X)
	b.Square(&p.Y)
	c.Square(&p.Z)
	c.Add(&c, &c)
	e.Add(&p.X, &p.Y)
	e.Square(&e)
	e.Subtract(&e, &a)
	e.Subtract(&e, &b) // 2XY
	g.Subtract(&b, &a) // −A + B
	f.Subtract(&g, &c)
	h.Add(&a, &b)
	h.Negate(&h) // −A − B
	p.X.Multiply(&e, &f)
	p.Y.Multiply(&g, &h)
	p.T.Multiply(&e, &h)
	p.Z.Multiply(&f, &g)
}

// add sets p = p + q, or p − q if neg (add-2008-hwcd-3 with k = 2d).
func (p *extPoint) add(q *cachedPoint, neg bool) {
	var a, b, c, d, e, f, g, h, ypx, ymx field.Element
	ypx.Add(&p.Y, &p.X)
	ymx.Subtract(&p.Y, &p.X)
	if neg { // −q = (Y−X, Y+X, 2Z, −2dT)
		a.Multiply(&ymx, &q.YplusX)
		b.Multiply(&ypx, &q.YminusX)
	} else {
		a.Multiply(&ymx, &q.YminusX)
		b.Multiply(&ypx, &q.YplusX)
	}
	c.Multiply(&p.T, &q.T2d)
	d.Multiply(&p.Z, &q.Z2)
	e.Subtract(&b, &a)
	h.Add(&b, &a)
	if neg {
		f.Add(&d, &c)
		g.Subtract(&d, &c)
	} else {
		f.Subtract(&d, &c)
		g.Add(&d, &c)
	}
	p.X.Multiply(&e, &f)
	p.Y.Multiply(&g, &h)
	p.T.Multiply(&e, &h)
	p.Z.Multiply(&f, &g)
}

// bytes returns the point's encoding: y with the sign of x in the top bit.
func (p *extPoint) bytes() [32]byte {
	var zinv, x, y field.Element
	zinv.Invert(&p.Z)
	x.Multiply(&p.X, &zinv)
	y.Multiply(&p.Y, &zinv)
	var out [32]byte
	copy(out[:], y.Bytes())
	out[31] |= byte(x.IsNegative() << 7)
	return out
}

// Widths of the signed-digit forms: digits are odd and below 2^(w−1) in
// absolute value, so a table holds 2^(w−2) odd multiples.
const (
	baseWidth = 7 // B: 32 multiples per quarter, once per process
	keyWidth  = 5 // A: 8 multiples per quarter, once per key
)

// baseTable and keyTable hold, for each quarter q, the odd multiples P_q,
// 3P_q, 5P_q, … of P_q = [2^(64q)]P.
type (
	baseTable [4][1 << (baseWidth - 2)]cachedPoint
	keyTable  [4][1 << (keyWidth - 2)]cachedPoint
)

var (
	baseOnce   sync.Once
	baseTables *baseTable
)

func basepointTables() *baseTable {
	baseOnce.Do(func() {
		var p extPoint
		p.fromPoint(edwards25519.NewGeneratorPoint())
		t := new(baseTable)
		fillTables(&p, t[0][:], t[1][:], t[2][:], t[3][:])
		baseTables = t
	})
	return baseTables
}

// fillTables fills tables[q][i] with (2i+1)·[2^(64q)]p for every q.
func fillTables(p *extPoint, tables ...[]cachedPoint) {
	q := *p
	for i := range tables {
		if i > 0 {
			for range 64 {
				q.double()
			}
		}
		twice := q
		twice.double()
		var c2 cachedPoint
		c2.fromExt(&twice)
		m := q
		for j := range tables[i] {
			if j > 0 {
				m.add(&c2, false)
			}
			tables[i][j].fromExt(&m)
		}
	}
}

// newKeyTable returns the tables of −A for a decoded key.
func newKeyTable(minusA *edwards25519.Point) *keyTable {
	var p extPoint
	p.fromPoint(minusA)
	t := new(keyTable)
	fillTables(&p, t[0][:], t[1][:], t[2][:], t[3][:])
	return t
}

// signedDigits returns the width-w non-adjacent form of a scalar below
// 2^255 given in little-endian bytes: 256 digits, each zero or odd with
// absolute value below 2^(w−1), any w consecutive ones holding at most one
// non-zero digit (filippo.io/edwards25519's nonAdjacentForm).
func signedDigits(b *[32]byte, w uint) [256]int8 {
	var naf [256]int8
	var words [5]uint64
	for i := range 4 {
		words[i] = binary.LittleEndian.Uint64(b[i*8:])
	}
	width := uint64(1) << w
	mask := width - 1
	carry := uint64(0)
	for pos := uint(0); pos < 256; {
		idx, bit := pos/64, pos%64
		var buf uint64
		if bit < 64-w {
			buf = words[idx] >> bit
		} else {
			buf = words[idx]>>bit | words[1+idx]<<(64-bit)
		}
		window := carry + buf&mask
		if window&1 == 0 {
			pos++
			continue
		}
		if window < width/2 {
			carry = 0
			naf[pos] = int8(window)
		} else {
			carry = 1
			naf[pos] = int8(window) - int8(width)
		}
		pos += w
	}
	return naf
}

// combMult returns the encoding of [s]B + [k]P, where keyTab holds the
// tables of P. s and k are canonical scalars.
func combMult(k *edwards25519.Scalar, keyTab *keyTable, s *edwards25519.Scalar) [32]byte {
	kb, sb := [32]byte(k.Bytes()), [32]byte(s.Bytes())
	kd := signedDigits(&kb, keyWidth)
	sd := signedDigits(&sb, baseWidth)
	base := basepointTables()
	var acc extPoint
	acc.identity()
	started := false
	for j := 63; j >= 0; j-- {
		if started {
			acc.double()
		}
		for q := range 4 {
			if d := kd[64*q+j]; d > 0 {
				acc.add(&keyTab[q][d/2], false)
				started = true
			} else if d < 0 {
				acc.add(&keyTab[q][-d/2], true)
				started = true
			}
			if d := sd[64*q+j]; d > 0 {
				acc.add(&base[q][d/2], false)
				started = true
			} else if d < 0 {
				acc.add(&base[q][-d/2], true)
				started = true
			}
		}
	}
	return acc.bytes()
}
