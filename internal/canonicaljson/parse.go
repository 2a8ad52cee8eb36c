package canonicaljson

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// kind is the type of a parsed JSON value.
type kind uint8

const (
	kindNull kind = iota
	kindFalse
	kindTrue
	kindNumber
	kindString
	kindArray
	kindObject
)

// node is a parsed JSON value, already reduced to what canonical JSON keeps:
// numbers are integers, strings are decoded, object members are sorted.
type node struct {
	kind    kind
	num     int64    // kindNumber
	str     string   // kindString
	elems   []node   // kindArray
	members []member // kindObject, sorted by key, keys unique
}

type member struct {
	key string
	val node
}

// appendTo appends the canonical encoding of n to dst. Its recursion is as
// deep as the parsed input, which parse bounds by MaxDepth.
func (n *node) appendTo(dst []byte) []byte {
	switch n.kind {
	case kindNull:
		return append(dst, "null"...)
	case kindFalse:
		return append(dst, "false"...)
	case kindTrue:
		return append(dst, "true"...)
	case kindNumber:
		return strconv.AppendInt(dst, n.num, 10)
	case kindString:
		return appendString(dst, n.str)
	case kindArray:
		dst = append(dst, '[')
		for i := range n.elems {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = n.elems[i].appendTo(dst)
		}
		return append(dst, ']')
	default: // kindObject
		dst = append(dst, '{')
		for i := range n.members {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, n.members[i].key)
			dst = append(dst, ':')
			dst = n.members[i].val.appendTo(dst)
		}
		return append(dst, '}')
	}
}

// parser reads one JSON text. Its methods return errors that already carry
// the package prefix and an offset.
type parser struct {
	data []byte
	pos  int
	// strict refuses numbers not written as canonical integers (see
	// CanonicalizeStrict).
	strict bool
}

// parse parses data as one JSON value with optional surrounding whitespace.
// depth is the number of arrays and objects that enclose data (non-zero
// when Marshal canonicalizes a nested json.RawMessage).
func parse(data []byte, depth int, strict bool) (node, error) {
	p := parser{data: data, strict: strict}
	p.skipSpace()
	v, err := p.value(depth)
	if err != nil {
		return node{}, err
	}
	p.skipSpace()
	if p.pos != len(p.data) {
		return node{}, p.errorf(ErrInvalid, "unexpected %s after the top-level value", p.describe())
	}
	return v, nil
}

func (p *parser) errorf(sentinel error, format string, args ...any) error {
	return fmt.Errorf("canonicaljson: %w at offset %d: %s", sentinel, p.pos, fmt.Sprintf(format, args...))
}

// describe names the byte at p.pos for error messages.
func (p *parser) describe() string {
	if p.pos >= len(p.data) {
		return "end of input"
	}
	return fmt.Sprintf("character %q", p.data[p.pos])
}

func (p *parser) skipSpace() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

// value parses the value at p.pos, which is enclosed by depth containers.
func (p *parser) value(depth int) (node, error) {
	if p.pos >= len(p.data) {
		return node{}, p.errorf(ErrInvalid, "unexpected end of input, want a value")
	}
	switch c := p.data[p.pos]; {
	case c == '{':
		return p.object(depth)
	case c == '[':
		return p.array(depth)
	case c == '"':
		s, err := p.string()
		return node{kind: kindString, str: s}, err
	case c == '-' || ('0' <= c && c <= '9'):
		n, err := p.number()
		return node{kind: kindNumber, num: n}, err
	case c == 't':
		return node{kind: kindTrue}, p.literal("true")
	case c == 'f':
		return node{kind: kindFalse}, p.literal("false")
	case c == 'n':
		return node{kind: kindNull}, p.literal("null")
	default:
		return node{}, p.errorf(ErrInvalid, "unexpected %s, want a value", p.describe())
	}
}

func (p *parser) literal(word string) error {
	if !bytes.HasPrefix(p.data[p.pos:], []byte(word)) {
		return p.errorf(ErrInvalid, "invalid literal, want %q", word)
	}
	p.pos += len(word)
	return nil
}

func (p *parser) enter(depth int) error {
	if depth >= MaxDepth {
		return p.errorf(ErrTooDeep, "more than %d levels", MaxDepth)
	}
	return nil
}

// expect consumes c, which must be the next byte.
func (p *parser) expect(c byte, what string) error {
	if p.pos >= len(p.data) || p.data[p.pos] != c {
		return p.errorf(ErrInvalid, "unexpected %s, want %s", p.describe(), what)
	}
	p.pos++
	return nil
}

func (p *parser) array(depth int) (node, error) {
	if err := p.enter(depth); err != nil {
		return node{}, err
	}
	p.pos++ // '['
	n := node{kind: kindArray}
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		return n, nil
	}
	for {
		p.skipSpace()
		v, err := p.value(depth + 1)
		if err != nil {
			return node{}, err
		}
		n.elems = append(n.elems, v)
		p.skipSpace()
		if p.pos < len(p.data) && p.data[p.pos] == ',' {
			p.pos++
			continue
		}
		if err := p.expect(']', "',' or ']'"); err != nil {
			return node{}, err
		}
		return n, nil
	}
}

func (p *parser) object(depth int) (node, error) {
	if err := p.enter(depth); err != nil {
		return node{}, err
	}
	start := p.pos
	p.pos++ // '{'
	n := node{kind: kindObject}
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		return n, nil
	}
	for {
		p.skipSpace()
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			return node{}, p.errorf(ErrInvalid, "unexpected %s, want an object key", p.describe())
		}
		key, err := p.string()
		if err != nil {
			return node{}, err
		}
		p.skipSpace()
		if err := p.expect(':', "':'"); err != nil {
			return node{}, err
		}
		p.skipSpace()
		v, err := p.value(depth + 1)
		if err != nil {
			return node{}, err
		}
		n.members = append(n.members, member{key: key, val: v})
		p.skipSpace()
		if p.pos < len(p.data) && p.data[p.pos] == ',' {
			p.pos++
			continue
		}
		if err := p.expect('}', "',' or '}'"); err != nil {
			return node{}, err
		}
		break
	}
	// Byte order of UTF-8 is code point order, as the spec requires.
	slices.SortFunc(n.members, func(a, b member) int { return strings.Compare(a.key, b.key) })
	for i := 1; i < len(n.members); i++ {
		if n.members[i].key == n.members[i-1].key {
			p.pos = start
			return node{}, p.errorf(ErrDuplicateKey, "key %q in the object", n.members[i].key)
		}
	}
	return n, nil
}

// string parses the string at p.pos (an opening quote) and returns it
// decoded.
func (p *parser) string() (string, error) {
	p.pos++ // '"'
	start := p.pos
	var buf []byte // decoded text, once an escape has been seen
	escaped := false
	run := p.pos // start of the raw run not yet copied to buf
	for {
		if p.pos >= len(p.data) {
			return "", p.errorf(ErrInvalid, "unterminated string")
		}
		c := p.data[p.pos]
		switch {
		case c == '"':
			var s string
			if escaped {
				s = string(append(buf, p.data[run:p.pos]...))
			} else {
				s = string(p.data[start:p.pos])
			}
			p.pos++
			return s, nil
		case c == '\\':
			buf = append(buf, p.data[run:p.pos]...)
			escaped = true
			var err error
			if buf, err = p.escape(buf); err != nil {
				return "", err
			}
			run = p.pos
		case c < 0x20:
			return "", p.errorf(ErrInvalid, "control character %q in string", c)
		case c < utf8.RuneSelf:
			p.pos++
		default:
			r, size := utf8.DecodeRune(p.data[p.pos:])
			if r == utf8.RuneError && size == 1 {
				return "", p.errorf(ErrInvalid, "invalid UTF-8 in string")
			}
			p.pos += size
		}
	}
}

// escape decodes the escape sequence at p.pos (a backslash), appends the
// character to buf and moves past the sequence.
func (p *parser) escape(buf []byte) ([]byte, error) {
	if p.pos+1 >= len(p.data) {
		return nil, p.errorf(ErrInvalid, "unterminated escape sequence")
	}
	var c byte
	switch p.data[p.pos+1] {
	case '"':
		c = '"'
	case '\\':
		c = '\\'
	case '/':
		c = '/'
	case 'b':
		c = '\b'
	case 'f':
		c = '\f'
	case 'n':
		c = '\n'
	case 'r':
		c = '\r'
	case 't':
		c = '\t'
	case 'u':
		return p.unicodeEscape(buf)
	default:
		return nil, p.errorf(ErrInvalid, "invalid escape sequence \\%c", p.data[p.pos+1])
	}
	p.pos += 2
	return append(buf, c), nil
}

// unicodeEscape decodes \uXXXX at p.pos, or a surrogate pair of two such
// escapes.
func (p *parser) unicodeEscape(buf []byte) ([]byte, error) {
	r, ok := hex4(p.data[p.pos+2:])
	if !ok {
		return nil, p.errorf(ErrInvalid, "invalid \\u escape")
	}
	switch {
	case 0xdc00 <= r && r <= 0xdfff:
		return nil, p.errorf(ErrInvalid, "lone low surrogate \\u%04x", r)
	case 0xd800 <= r && r <= 0xdbff:
		rest := p.data[p.pos+6:]
		var lo rune
		if len(rest) >= 2 && rest[0] == '\\' && rest[1] == 'u' {
			lo, ok = hex4(rest[2:])
		} else {
			ok = false
		}
		if !ok || lo < 0xdc00 || lo > 0xdfff {
			return nil, p.errorf(ErrInvalid, "lone high surrogate \\u%04x", r)
		}
		p.pos += 12
		return utf8.AppendRune(buf, utf16.DecodeRune(r, lo)), nil
	default:
		p.pos += 6
		return utf8.AppendRune(buf, r), nil
	}
}

// hex4 decodes four hex digits at the start of b.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// number parses the number at p.pos. It follows the RFC 8259 grammar and
// then requires the exact value to be an integer in canonical range.
func (p *parser) number() (int64, error) {
	start := p.pos
	neg := false
	if p.data[p.pos] == '-' {
		neg = true
		p.pos++
	}
	intStart := p.pos
	switch {
	case p.pos < len(p.data) && p.data[p.pos] == '0':
		p.pos++
		if p.pos < len(p.data) && isDigit(p.data[p.pos]) {
			return 0, p.errorf(ErrInvalid, "leading zero in number")
		}
	case p.pos < len(p.data) && isDigit(p.data[p.pos]):
		p.skipDigits()
	default:
		return 0, p.errorf(ErrInvalid, "unexpected %s in number, want a digit", p.describe())
	}
	intDigits := p.data[intStart:p.pos]
	var fracDigits []byte
	if p.pos < len(p.data) && p.data[p.pos] == '.' {
		p.pos++
		fracStart := p.pos
		if p.skipDigits() == 0 {
			return 0, p.errorf(ErrInvalid, "unexpected %s in number, want a digit", p.describe())
		}
		fracDigits = p.data[fracStart:p.pos]
	}
	var exp int64
	if p.pos < len(p.data) && (p.data[p.pos] == 'e' || p.data[p.pos] == 'E') {
		p.pos++
		expNeg := false
		if p.pos < len(p.data) && (p.data[p.pos] == '+' || p.data[p.pos] == '-') {
			expNeg = p.data[p.pos] == '-'
			p.pos++
		}
		expStart := p.pos
		if p.skipDigits() == 0 {
			return 0, p.errorf(ErrInvalid, "unexpected %s in number, want a digit", p.describe())
		}
		for _, c := range p.data[expStart:p.pos] {
			// Saturate: any exponent this large decides the outcome alone,
			// and saturation keeps the arithmetic below from overflowing.
			if exp < 1e12 {
				exp = exp*10 + int64(c-'0')
			}
		}
		if expNeg {
			exp = -exp
		}
	}
	n, err := integerValue(neg, intDigits, fracDigits, exp)
	if err == nil && p.strict && (p.pos-start != len(intDigits)+b2i(neg) || neg && n == 0) {
		// Another spelling of an integer: 1.0, 1e3, -0. The value is
		// allowed, the text is not what was signed.
		err = errSpelling
	}
	if err != nil {
		text := p.data[start:p.pos]
		if len(text) > 40 {
			text = append(text[:37:37], "..."...)
		}
		p.pos = start
		if errors.Is(err, errSpelling) {
			return 0, p.errorf(ErrNumberForm, "%s is not written as a canonical integer", text)
		}
		return 0, p.errorf(ErrNumber, "%s %s", text, err)
	}
	return n, nil
}

func (p *parser) skipDigits() int {
	start := p.pos
	for p.pos < len(p.data) && isDigit(p.data[p.pos]) {
		p.pos++
	}
	return p.pos - start
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// Reasons integerValue gives, completed by the caller's context.
type numberReason string

func (r numberReason) Error() string { return string(r) }

const (
	errNotInteger numberReason = "is not an integer"
	errOutOfRange numberReason = "is out of range [-(2^53)+1, 2^53-1]"
)

// errSpelling is integerValue's verdict for an integer written with a
// fraction, an exponent or a minus sign on zero, refused in strict mode.
var errSpelling = fmt.Errorf("is not written as a canonical integer: %w", ErrNumberForm)

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// integerValue returns the exact value of the decimal number
// (-)intDigits.fracDigits × 10^exp, if it is an integer in canonical range.
func integerValue(neg bool, intDigits, fracDigits []byte, exp int64) (int64, error) {
	digits := strings.TrimLeft(string(intDigits)+string(fracDigits), "0")
	if digits == "" {
		return 0, nil // any spelling of zero, including -0 and 0e99
	}
	e := exp - int64(len(fracDigits))
	sig := strings.TrimRight(digits, "0")
	e += int64(len(digits) - len(sig))
	// Now value = sig × 10^e and sig does not end in 0.
	if e < 0 {
		return 0, errNotInteger
	}
	// 2^53-1 has 16 digits.
	if int64(len(sig))+e > 16 {
		return 0, errOutOfRange
	}
	v, err := strconv.ParseUint(sig, 10, 64)
	if err != nil {
		return 0, errOutOfRange // unreachable: at most 16 digits
	}
	for ; e > 0; e-- {
		v *= 10
	}
	if v > maxSafeInt {
		return 0, errOutOfRange
	}
	if neg {
		return -int64(v), nil
	}
	return int64(v), nil
}

// parseNumberText parses s, the text of a json.Number, as a canonical
// integer.
func parseNumberText(s string) (int64, error) {
	p := parser{data: []byte(s)}
	if len(s) == 0 || !(s[0] == '-' || isDigit(s[0])) {
		return 0, fmt.Errorf("canonicaljson: %w: json.Number %q is not a number", ErrInvalid, s)
	}
	n, err := p.number()
	if err != nil {
		return 0, err
	}
	if p.pos != len(p.data) {
		return 0, fmt.Errorf("canonicaljson: %w: json.Number %q is not a number", ErrInvalid, s)
	}
	return n, nil
}
