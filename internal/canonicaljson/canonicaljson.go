// Package canonicaljson encodes JSON in the canonical form that Matrix signs
// and hashes.
//
// Canonical JSON is defined in the Matrix specification, appendix "Canonical
// JSON": the shortest UTF-8 encoding, without insignificant whitespace, with
// object keys sorted by Unicode code point and with integers as the only
// numbers. Sorting UTF-8 strings by bytes gives the same order as sorting by
// code point, so keys are compared as Go strings.
//
// Strings are written raw except for the characters the specification
// escapes: `\"`, `\\`, `\b`, `\t`, `\n`, `\f`, `\r`, and the other control
// characters below U+0020 as `\u00xx` with lowercase hex. In particular
// U+2028, U+2029, '<', '>' and '&' are written raw, unlike encoding/json.
//
// # Numbers
//
// A number is accepted when its exact value is an integer in
// [-(2^53)+1, 2^53-1], whatever its spelling, and it is written in plain
// decimal. This follows the specification's own example, which turns
// {"a":-0,"b":1e10} into {"a":0,"b":10000000000}; so -0 becomes 0, 1e10
// becomes 10000000000 and 1.0 or 100e-2 become 1. Numbers whose value has a
// fractional part, such as 1.5 or 1e-1, and integers out of range are
// rejected with [ErrNumber]. No rounding ever happens.
//
// [CanonicalizeStrict] is for text whose signature is about to be checked:
// it refuses every spelling but the canonical one ([ErrNumberForm]), so that
// a signature over 1700000000000 does not verify for 1.7e12.
//
// # Strictness
//
// [Canonicalize] accepts only well-formed JSON (RFC 8259) and in addition
// rejects duplicate object keys, invalid UTF-8, lone UTF-16 surrogates in
// \u escapes, nesting deeper than [MaxDepth] and inputs longer than
// [MaxInputSize]. It never panics and its recursion is bounded by
// [MaxDepth].
package canonicaljson

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"unicode/utf8"
)

// Limits on the input. They bound memory and recursion for untrusted data;
// Matrix objects are far smaller and flatter than this.
const (
	// MaxDepth is the deepest nesting of arrays and objects accepted. A
	// top-level object or array is at depth 1.
	MaxDepth = 100
	// MaxInputSize is the largest input, in bytes, that Canonicalize accepts.
	MaxInputSize = 1 << 20
)

// The largest magnitude of an integer in canonical JSON, 2^53-1.
const maxSafeInt = 1<<53 - 1

// Errors returned by this package. They are wrapped with context; test for
// them with errors.Is.
var (
	// ErrInvalid means the input is not well-formed JSON text: a syntax
	// error, trailing data, invalid UTF-8, a raw control character or a bad
	// escape in a string, or a lone surrogate.
	ErrInvalid = errors.New("invalid JSON")
	// ErrDuplicateKey means an object has the same key twice (compared
	// after decoding escapes).
	ErrDuplicateKey = errors.New("duplicate object key")
	// ErrNumber means a number is not an integer in [-(2^53)+1, 2^53-1].
	ErrNumber = errors.New("number not allowed in canonical JSON")
	// ErrNumberForm means CanonicalizeStrict found an integer spelt other
	// than as a canonical integer (1.0, 1e3, -0). It wraps ErrNumber.
	ErrNumberForm = fmt.Errorf("number not written as a canonical integer: %w", ErrNumber)
	// ErrTooDeep means arrays and objects are nested deeper than MaxDepth.
	ErrTooDeep = errors.New("nesting too deep")
	// ErrTooLarge means the input is longer than MaxInputSize.
	ErrTooLarge = errors.New("input too large")
	// ErrUnsupportedType means Marshal was given a value it cannot encode.
	ErrUnsupportedType = errors.New("unsupported type")
)

// Canonicalize parses the JSON text data and returns its canonical encoding.
//
// data may hold any JSON value, with whitespace around it. The error wraps
// ErrInvalid, ErrDuplicateKey, ErrNumber, ErrTooDeep or ErrTooLarge.
func Canonicalize(data []byte) ([]byte, error) {
	if len(data) > MaxInputSize {
		return nil, fmt.Errorf("canonicaljson: %w: %d bytes, limit %d", ErrTooLarge, len(data), MaxInputSize)
	}
	return canonicalize(data, false)
}

// CanonicalizeStrict is Canonicalize for text whose signature is about to
// be checked: in addition, every number must already be written as a
// canonical integer (an optional minus sign, no leading zero, no fraction,
// no exponent, not -0), in [-(2^53)+1, 2^53-1]. Other spellings of an
// integer, such as 1.7e12, 1700000000000.000 or -0, give an error wrapping
// ErrNumberForm (and ErrNumber): a signature over 1700000000000 must not
// verify for a text that says 1.7e12, since a reader of the text may not
// see the value the signer saw (SECURITY requirement 43).
func CanonicalizeStrict(data []byte) ([]byte, error) {
	return canonicalize(data, true)
}

func canonicalize(data []byte, strict bool) ([]byte, error) {
	if len(data) > MaxInputSize {
		return nil, fmt.Errorf("canonicaljson: %w: %d bytes, limit %d", ErrTooLarge, len(data), MaxInputSize)
	}
	v, err := parse(data, 0, strict)
	if err != nil {
		return nil, err
	}
	return v.appendTo(make([]byte, 0, len(data))), nil
}

// Marshal returns the canonical JSON encoding of v.
//
// It encodes nil, bool, string, the integer types, float32 and float64
// holding integral values, json.Number, json.RawMessage (canonicalized; nil
// is null), []any, []string, and maps with string keys whose values are
// any, string or map[string]string, recursively. Integers must lie in
// [-(2^53)+1, 2^53-1]; strings and keys must be valid UTF-8. A []byte is
// refused with ErrUnsupportedType, because Matrix wants unpadded base64
// where encoding/json writes padded base64: encode it first. Any other value
// is encoded with encoding/json and the result canonicalized, so structs,
// pointers and json.Marshaler values work as they do with json.Marshal;
// note that encoding/json replaces invalid UTF-8 in them with U+FFFD
// instead of failing.
//
// The error wraps ErrInvalid, ErrNumber, ErrTooDeep, ErrTooLarge,
// ErrUnsupportedType or an error from encoding/json.
func Marshal(v any) ([]byte, error) {
	return appendValue(nil, v, 0)
}

// appendValue appends the canonical encoding of v, found at nesting depth
// depth, to dst.
func appendValue(dst []byte, v any, depth int) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(dst, "null"...), nil
	case bool:
		return strconv.AppendBool(dst, v), nil
	case string:
		return appendCheckedString(dst, v)
	case int:
		return appendInt(dst, int64(v))
	case int8:
		return appendInt(dst, int64(v))
	case int16:
		return appendInt(dst, int64(v))
	case int32:
		return appendInt(dst, int64(v))
	case int64:
		return appendInt(dst, v)
	case uint:
		return appendUint(dst, uint64(v))
	case uint8:
		return appendUint(dst, uint64(v))
	case uint16:
		return appendUint(dst, uint64(v))
	case uint32:
		return appendUint(dst, uint64(v))
	case uint64:
		return appendUint(dst, v)
	case float32:
		return appendFloat(dst, float64(v))
	case float64:
		return appendFloat(dst, v)
	case json.Number:
		n, err := parseNumberText(string(v))
		if err != nil {
			return nil, err
		}
		return strconv.AppendInt(dst, n, 10), nil
	case json.RawMessage:
		if v == nil {
			return append(dst, "null"...), nil // as encoding/json does
		}
		if len(v) > MaxInputSize {
			return nil, fmt.Errorf("canonicaljson: %w: raw message of %d bytes, limit %d", ErrTooLarge, len(v), MaxInputSize)
		}
		n, err := parse(v, depth, false)
		if err != nil {
			return nil, err
		}
		return n.appendTo(dst), nil
	case []byte:
		return nil, fmt.Errorf("canonicaljson: %w: []byte (encode it as unpadded base64 first)", ErrUnsupportedType)
	case []string:
		if depth >= MaxDepth {
			return nil, errTooDeep()
		}
		dst = append(dst, '[')
		for i, s := range v {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = appendCheckedString(dst, s); err != nil {
				return nil, err
			}
		}
		return append(dst, ']'), nil
	case []any:
		if depth >= MaxDepth {
			return nil, errTooDeep()
		}
		dst = append(dst, '[')
		for i, e := range v {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = appendValue(dst, e, depth+1); err != nil {
				return nil, err
			}
		}
		return append(dst, ']'), nil
	case map[string]any:
		return appendMap(dst, v, depth)
	case map[string]string:
		return appendMap(dst, v, depth)
	case map[string]map[string]string:
		return appendMap(dst, v, depth)
	default:
		return appendFallback(dst, v, depth)
	}
}

// appendMap appends the map m as a canonical JSON object.
func appendMap[V any](dst []byte, m map[string]V, depth int) ([]byte, error) {
	if depth >= MaxDepth {
		return nil, errTooDeep()
	}
	if m == nil {
		// As encoding/json does for a nil map.
		return append(dst, "null"...), nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		var err error
		if dst, err = appendCheckedString(dst, k); err != nil {
			return nil, err
		}
		dst = append(dst, ':')
		if dst, err = appendValue(dst, m[k], depth+1); err != nil {
			return nil, err
		}
	}
	return append(dst, '}'), nil
}

// appendFallback encodes v with encoding/json and canonicalizes the result.
func appendFallback(dst []byte, v any, depth int) ([]byte, error) {
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Func || rv.Kind() == reflect.Chan ||
		rv.Kind() == reflect.Complex64 || rv.Kind() == reflect.Complex128 {
		return nil, fmt.Errorf("canonicaljson: %w: %T", ErrUnsupportedType, v)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("canonicaljson: marshal %T: %w", v, err)
	}
	if len(b) > MaxInputSize {
		return nil, fmt.Errorf("canonicaljson: %w: %T encodes to %d bytes, limit %d", ErrTooLarge, v, len(b), MaxInputSize)
	}
	n, err := parse(b, depth, false)
	if err != nil {
		return nil, fmt.Errorf("canonicaljson: marshal %T: %w", v, err)
	}
	return n.appendTo(dst), nil
}

func errTooDeep() error {
	return fmt.Errorf("canonicaljson: %w: more than %d levels", ErrTooDeep, MaxDepth)
}

func appendInt(dst []byte, n int64) ([]byte, error) {
	if n < -maxSafeInt || n > maxSafeInt {
		return nil, fmt.Errorf("canonicaljson: %w: %d is out of range", ErrNumber, n)
	}
	return strconv.AppendInt(dst, n, 10), nil
}

func appendUint(dst []byte, n uint64) ([]byte, error) {
	if n > maxSafeInt {
		return nil, fmt.Errorf("canonicaljson: %w: %d is out of range", ErrNumber, n)
	}
	return strconv.AppendUint(dst, n, 10), nil
}

func appendFloat(dst []byte, f float64) ([]byte, error) {
	// NaN and the infinities fail the range test; -0 becomes 0.
	if !(f >= -maxSafeInt && f <= maxSafeInt) || f != math.Trunc(f) {
		return nil, fmt.Errorf("canonicaljson: %w: %v is not an integer in range", ErrNumber, f)
	}
	return strconv.AppendInt(dst, int64(f), 10), nil
}

// appendCheckedString appends s as a canonical JSON string after checking
// that it is valid UTF-8.
func appendCheckedString(dst []byte, s string) ([]byte, error) {
	if !utf8.ValidString(s) {
		return nil, fmt.Errorf("canonicaljson: %w: string %q is not valid UTF-8", ErrInvalid, s)
	}
	return appendString(dst, s), nil
}

// appendString appends s, which must be valid UTF-8, as a canonical JSON
// string.
func appendString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"':
			dst = append(dst, '\\', '"')
		case '\\':
			dst = append(dst, '\\', '\\')
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\t':
			dst = append(dst, '\\', 't')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\f':
			dst = append(dst, '\\', 'f')
		case '\r':
			dst = append(dst, '\\', 'r')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
