package canonicaljson_test

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/souverain/e2ee/internal/canonicaljson"
)

// TestSpecVectors runs the canonical JSON examples of the Matrix
// specification (appendix "Canonical JSON" > "Examples").
func TestSpecVectors(t *testing.T) {
	data, err := os.ReadFile("../../vectors/data/spec.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Vectors []struct {
			ID     string `json:"id"`
			Kind   string `json:"kind"`
			Inputs struct {
				JSONText string `json:"json_text"`
			} `json:"inputs"`
			Expected struct {
				CanonicalJSON string `json:"canonical_json"`
			} `json:"expected"`
		} `json:"vectors"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, v := range file.Vectors {
		if v.Kind != "canonical-json" {
			continue
		}
		n++
		t.Run(v.ID, func(t *testing.T) {
			got, err := canonicaljson.Canonicalize([]byte(v.Inputs.JSONText))
			if err != nil {
				t.Fatalf("Canonicalize(%q): %v", v.Inputs.JSONText, err)
			}
			if string(got) != v.Expected.CanonicalJSON {
				t.Errorf("Canonicalize(%q) = %q, want %q", v.Inputs.JSONText, got, v.Expected.CanonicalJSON)
			}
		})
	}
	if n != 10 {
		t.Errorf("found %d canonical-json vectors, want the spec's 10", n)
	}
}

func TestCanonicalize(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		// Layout and order.
		{"whitespace", " \t\r\n{ \"a\" : [ 1 , 2 ] }\n ", `{"a":[1,2]}`},
		{"key order is byte order", `{"b":1,"a":2,"B":3,"aa":4,"":5}`, `{"":5,"B":3,"a":2,"aa":4,"b":1}`},
		{"key order is code point order", `{"\uffff":1,"\ud83d\ude00":2,"é":3,"z":4}`, `{"z":4,"é":3,"` + "\uffff" + `":1,"😀":2}`},
		{"nested objects sorted", `{"z":{"y":1,"x":2},"a":[{"d":1,"c":2}]}`, `{"a":[{"c":2,"d":1}],"z":{"x":2,"y":1}}`},
		{"array order kept", `[3,1,2]`, `[3,1,2]`},
		{"empty containers", `[{},[],""]`, `[{},[],""]`},
		// Top-level scalars.
		{"top-level string", `"x"`, `"x"`},
		{"top-level number", ` 42 `, `42`},
		{"literals", `[true,false,null]`, `[true,false,null]`},
		// Strings.
		{"short escapes", `"\" \\ \/ \b \f \n \r \t"`, `"\" \\ / \b \f \n \r \t"`},
		{"other controls lowercase hex", `"\u0000\u0001\u001F\u001e\u000B"`, `"\u0000\u0001\u001f\u001e\u000b"`},
		{"short escapes from \\u", `"\u0008\u0009\u000a\u000C\u000d\u0022\u005c"`, `"\b\t\n\f\r\"\\"`},
		{"DEL raw", `"\u007f"`, "\"\x7f\""},
		{"html characters raw", `"\u003c\u003e\u0026<>&"`, `"<>&<>&"`},
		{"line separators raw", `"\u2028\u2029"`, "\"\u2028\u2029\""},
		{"non-ASCII raw", `"日本語 \u65e5\u65E5"`, `"日本語 日日"`},
		{"surrogate pair combined", `"\ud83d\ude00\uD83D\uDE00"`, `"😀😀"`},
		{"raw supplementary", `"😀"`, `"😀"`},
		{"U+FFFD raw", `"\ufffd�"`, `"��"`},
		{"escaped key", `{"\u0061":1}`, `{"a":1}`},
		// Numbers: exact integer value in range, whatever the spelling.
		{"zero", `0`, `0`},
		{"minus zero", `-0`, `0`},
		{"minus zero fraction", `-0.000e5`, `0`},
		{"zero huge exponent", `0e999999999999999999999`, `0`},
		{"negative", `-17`, `-17`},
		{"exponent", `1e10`, `10000000000`},
		{"exponent upper plus", `1E+2`, `100`},
		{"integral fraction", `1.0`, `1`},
		{"integral negative exponent", `100e-2`, `1`},
		{"fraction scaled", `1.5e1`, `15`},
		{"many trailing zeros", `1` + strings.Repeat("0", 15) + `e-15`, `1`},
		{"max", `9007199254740991`, `9007199254740991`},
		{"min", `-9007199254740991`, `-9007199254740991`},
		{"max by exponent", `9.007199254740991e15`, `9007199254740991`},
		{"leading zeros in fraction", `0.00012e5`, `12`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := canonicaljson.Canonicalize([]byte(tt.in))
			if err != nil {
				t.Fatalf("Canonicalize(%q): %v", tt.in, err)
			}
			if string(got) != tt.want {
				t.Errorf("Canonicalize(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestCanonicalizeRejects(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want error
	}{
		// Syntax.
		{"empty", ``, canonicaljson.ErrInvalid},
		{"only space", ` `, canonicaljson.ErrInvalid},
		{"trailing garbage", `{} x`, canonicaljson.ErrInvalid},
		{"two values", `1 2`, canonicaljson.ErrInvalid},
		{"trailing comma array", `[1,]`, canonicaljson.ErrInvalid},
		{"trailing comma object", `{"a":1,}`, canonicaljson.ErrInvalid},
		{"missing colon", `{"a" 1}`, canonicaljson.ErrInvalid},
		{"unquoted key", `{a:1}`, canonicaljson.ErrInvalid},
		{"single quotes", `'a'`, canonicaljson.ErrInvalid},
		{"unclosed array", `[1`, canonicaljson.ErrInvalid},
		{"unclosed object", `{"a":1`, canonicaljson.ErrInvalid},
		{"bad literal", `tru`, canonicaljson.ErrInvalid},
		{"capital literal", `True`, canonicaljson.ErrInvalid},
		{"byte order mark", "\ufeff{}", canonicaljson.ErrInvalid},
		{"form feed whitespace", "\f{}", canonicaljson.ErrInvalid},
		{"NUL after value", "{}\x00", canonicaljson.ErrInvalid},
		{"comment", `{} // x`, canonicaljson.ErrInvalid},
		// Numbers: syntax.
		{"leading zero", `01`, canonicaljson.ErrInvalid},
		{"plus sign", `+1`, canonicaljson.ErrInvalid},
		{"lone minus", `-`, canonicaljson.ErrInvalid},
		{"bare fraction", `.5`, canonicaljson.ErrInvalid},
		{"empty fraction", `1.`, canonicaljson.ErrInvalid},
		{"empty exponent", `1e`, canonicaljson.ErrInvalid},
		{"signed empty exponent", `1e+`, canonicaljson.ErrInvalid},
		{"hex", `0x10`, canonicaljson.ErrInvalid},
		{"NaN", `NaN`, canonicaljson.ErrInvalid},
		{"Infinity", `-Infinity`, canonicaljson.ErrInvalid},
		// Numbers: value.
		{"fraction", `1.5`, canonicaljson.ErrNumber},
		{"negative exponent", `1e-1`, canonicaljson.ErrNumber},
		{"tiny", `5e-999999999999999999`, canonicaljson.ErrNumber},
		{"2^53", `9007199254740992`, canonicaljson.ErrNumber},
		{"-2^53", `-9007199254740992`, canonicaljson.ErrNumber},
		{"2^53 by exponent", `9.007199254740992e15`, canonicaljson.ErrNumber},
		{"1e16", `1e16`, canonicaljson.ErrNumber},
		{"huge exponent", `1e999999999999999999999`, canonicaljson.ErrNumber},
		{"long integer", strings.Repeat("9", 30), canonicaljson.ErrNumber},
		{"fraction in object", `{"a":[0.5]}`, canonicaljson.ErrNumber},
		// Strings.
		{"unterminated string", `"abc`, canonicaljson.ErrInvalid},
		{"raw newline", "\"a\nb\"", canonicaljson.ErrInvalid},
		{"raw tab", "\"a\tb\"", canonicaljson.ErrInvalid},
		{"raw NUL", "\"\x00\"", canonicaljson.ErrInvalid},
		{"bad escape", `"\x41"`, canonicaljson.ErrInvalid},
		{"escaped single quote", `"\'"`, canonicaljson.ErrInvalid},
		{"short \\u", `"\u12"`, canonicaljson.ErrInvalid},
		{"bad hex", `"\u12g4"`, canonicaljson.ErrInvalid},
		{"backslash at end", `"\`, canonicaljson.ErrInvalid},
		{"lone high surrogate", `"\ud83d"`, canonicaljson.ErrInvalid},
		{"lone high surrogate then text", `"\ud83dx"`, canonicaljson.ErrInvalid},
		{"high surrogate twice", `"\ud83d\ud83d"`, canonicaljson.ErrInvalid},
		{"high surrogate then BMP", `"\ud83d\u0041"`, canonicaljson.ErrInvalid},
		{"lone low surrogate", `"\ude00"`, canonicaljson.ErrInvalid},
		{"swapped surrogates", `"\ude00\ud83d"`, canonicaljson.ErrInvalid},
		{"invalid UTF-8 byte", "\"\xff\"", canonicaljson.ErrInvalid},
		{"truncated UTF-8", "\"\xe6\x97\"", canonicaljson.ErrInvalid},
		{"overlong UTF-8", "\"\xc0\xaf\"", canonicaljson.ErrInvalid},
		{"UTF-8 surrogate", "\"\xed\xa0\x80\"", canonicaljson.ErrInvalid},
		{"invalid UTF-8 in key", "{\"\xff\":1}", canonicaljson.ErrInvalid},
		{"invalid UTF-8 outside string", "[\xff]", canonicaljson.ErrInvalid},
		// Duplicate keys.
		{"duplicate key", `{"a":1,"a":1}`, canonicaljson.ErrDuplicateKey},
		{"duplicate key far apart", `{"a":1,"b":2,"a":3}`, canonicaljson.ErrDuplicateKey},
		{"duplicate key by escape", `{"a":1,"\u0061":2}`, canonicaljson.ErrDuplicateKey},
		{"duplicate empty key", `{"":1,"":2}`, canonicaljson.ErrDuplicateKey},
		{"duplicate nested", `[{"x":{"k":1,"k":2}}]`, canonicaljson.ErrDuplicateKey},
		// Limits.
		{"too deep arrays", strings.Repeat("[", canonicaljson.MaxDepth+1) + strings.Repeat("]", canonicaljson.MaxDepth+1), canonicaljson.ErrTooDeep},
		{"too deep objects", strings.Repeat(`{"a":`, canonicaljson.MaxDepth+1) + "1" + strings.Repeat("}", canonicaljson.MaxDepth+1), canonicaljson.ErrTooDeep},
		{"very deep unclosed", strings.Repeat("[", 1_000_000), canonicaljson.ErrTooDeep},
		{"too large", "\"" + strings.Repeat("a", canonicaljson.MaxInputSize) + "\"", canonicaljson.ErrTooLarge},
	}
	sentinels := []error{
		canonicaljson.ErrInvalid, canonicaljson.ErrDuplicateKey, canonicaljson.ErrNumber,
		canonicaljson.ErrTooDeep, canonicaljson.ErrTooLarge, canonicaljson.ErrUnsupportedType,
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := canonicaljson.Canonicalize([]byte(tt.in))
			if err == nil {
				t.Fatalf("Canonicalize(%.40q) = %q, want error %v", tt.in, got, tt.want)
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Canonicalize(%.40q) error = %v, want %v", tt.in, err, tt.want)
			}
			for _, s := range sentinels {
				if s != tt.want && errors.Is(err, s) {
					t.Errorf("error %v also matches %v", err, s)
				}
			}
			if !strings.HasPrefix(err.Error(), "canonicaljson: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

func TestLimitsInclusive(t *testing.T) {
	deep := strings.Repeat("[", canonicaljson.MaxDepth) + strings.Repeat("]", canonicaljson.MaxDepth)
	if got, err := canonicaljson.Canonicalize([]byte(deep)); err != nil || string(got) != deep {
		t.Errorf("depth %d: got %q, %v; want it unchanged", canonicaljson.MaxDepth, got, err)
	}
	big := "\"" + strings.Repeat("a", canonicaljson.MaxInputSize-2) + "\""
	if got, err := canonicaljson.Canonicalize([]byte(big)); err != nil || string(got) != big {
		t.Errorf("size %d: got %d bytes, %v; want it unchanged", len(big), len(got), err)
	}
}

func TestErrorOffset(t *testing.T) {
	_, err := canonicaljson.Canonicalize([]byte(`{"a": [1, 2, x]}`))
	if err == nil || !strings.Contains(err.Error(), "offset 13") {
		t.Errorf("error = %v, want it to name offset 13", err)
	}
}

func TestMarshal(t *testing.T) {
	type inner struct {
		Text string `json:"text"`
		N    int    `json:"n,omitempty"`
	}
	type outer struct {
		Z     string            `json:"z"`
		A     inner             `json:"a"`
		M     map[string]string `json:"m"`
		Float float64           `json:"f"`
	}
	tests := []struct {
		name string
		in   any
		want string
	}{
		{"nil", nil, `null`},
		{"bool", true, `true`},
		{"string escapes", "\"\\\b\t\n\f\r\x01\x1f\x7f<>&\u2028\u2029日", "\"\\\"\\\\\\b\\t\\n\\f\\r\\u0001\\u001f\x7f<>&\u2028\u2029日\""},
		{"int", -5, `-5`},
		{"int64 max", int64(1<<53 - 1), `9007199254740991`},
		{"int64 min", int64(-(1<<53 - 1)), `-9007199254740991`},
		{"uint32", uint32(math.MaxUint32), `4294967295`},
		{"uint8", uint8(7), `7`},
		{"float integral", 3.0, `3`},
		{"float minus zero", math.Copysign(0, -1), `0`},
		{"float32", float32(16777216), `16777216`},
		{"json.Number", json.Number("1e3"), `1000`},
		{"raw message", json.RawMessage(` { "b" : 1 , "a" : "\u00e9" } `), `{"a":"é","b":1}`},
		{"[]string", []string{"b", "a"}, `["b","a"]`},
		{"[]any", []any{1, "x", nil, []any{}}, `[1,"x",null,[]]`},
		{"map[string]any", map[string]any{"b": 1, "a": map[string]any{"d": true, "c": []string{}}}, `{"a":{"c":[],"d":true},"b":1}`},
		{"map[string]string", map[string]string{"é": "1", "z": "2"}, `{"z":"2","é":"1"}`},
		{"map[string]map[string]string", map[string]map[string]string{"@u:x": {"ed25519:B": "s", "ed25519:A": "r"}}, `{"@u:x":{"ed25519:A":"r","ed25519:B":"s"}}`},
		{"nil map", map[string]any(nil), `null`},
		{"empty map", map[string]any{}, `{}`},
		{"nil raw message", json.RawMessage(nil), `null`},
		{"nested raw message", map[string]any{"k": json.RawMessage(`[2,1]`)}, `{"k":[2,1]}`},
		{"struct fallback", outer{Z: "<z>\u2028", A: inner{Text: "t"}, M: map[string]string{"y": "1", "x": "2"}, Float: 2}, `{"a":{"text":"t"},"f":2,"m":{"x":"2","y":"1"},"z":"<z>` + "\u2028" + `"}`},
		{"pointer fallback", &inner{Text: "p", N: 1}, `{"n":1,"text":"p"}`},
		{"map[string]int fallback", map[string]int{"b": 2, "a": 1}, `{"a":1,"b":2}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := canonicaljson.Marshal(tt.in)
			if err != nil {
				t.Fatalf("Marshal(%#v): %v", tt.in, err)
			}
			if string(got) != tt.want {
				t.Errorf("Marshal(%#v) = %q, want %q", tt.in, got, tt.want)
			}
			again, err := canonicaljson.Canonicalize(got)
			if err != nil || string(again) != string(got) {
				t.Errorf("Canonicalize(Marshal(...)) = %q, %v; want the same bytes", again, err)
			}
		})
	}
}

func TestMarshalRejects(t *testing.T) {
	cyclic := map[string]any{}
	cyclic["self"] = []any{cyclic}
	deep := any("leaf")
	for range canonicaljson.MaxDepth + 1 {
		deep = []any{deep}
	}
	tests := []struct {
		name string
		in   any
		want error
	}{
		{"int64 2^53", int64(1 << 53), canonicaljson.ErrNumber},
		{"int64 -2^53", int64(-(1 << 53)), canonicaljson.ErrNumber},
		{"uint64 max", uint64(math.MaxUint64), canonicaljson.ErrNumber},
		{"float fraction", 1.5, canonicaljson.ErrNumber},
		{"float NaN", math.NaN(), canonicaljson.ErrNumber},
		{"float Inf", math.Inf(1), canonicaljson.ErrNumber},
		{"float too big", 1e16, canonicaljson.ErrNumber},
		{"json.Number fraction", json.Number("0.5"), canonicaljson.ErrNumber},
		{"json.Number garbage", json.Number("12abc"), canonicaljson.ErrInvalid},
		{"json.Number empty", json.Number(""), canonicaljson.ErrInvalid},
		{"json.Number with space", json.Number(" 1"), canonicaljson.ErrInvalid},
		{"raw message duplicate", json.RawMessage(`{"a":1,"a":2}`), canonicaljson.ErrDuplicateKey},
		{"raw message invalid", json.RawMessage(`{`), canonicaljson.ErrInvalid},
		{"raw message empty", json.RawMessage{}, canonicaljson.ErrInvalid},
		{"nested value", map[string]any{"a": []any{int64(1 << 60)}}, canonicaljson.ErrNumber},
		{"invalid UTF-8 string", "\xff", canonicaljson.ErrInvalid},
		{"invalid UTF-8 key", map[string]string{"\xff": ""}, canonicaljson.ErrInvalid},
		{"invalid UTF-8 in []string", []string{"\xc0"}, canonicaljson.ErrInvalid},
		{"bytes", []byte("x"), canonicaljson.ErrUnsupportedType},
		{"nested bytes", map[string]any{"k": []byte("x")}, canonicaljson.ErrUnsupportedType},
		{"chan", make(chan int), canonicaljson.ErrUnsupportedType},
		{"func", func() {}, canonicaljson.ErrUnsupportedType},
		{"complex", complex(1, 2), canonicaljson.ErrUnsupportedType},
		{"cyclic", cyclic, canonicaljson.ErrTooDeep},
		{"too deep", deep, canonicaljson.ErrTooDeep},
		{"too deep raw message", []any{json.RawMessage(strings.Repeat("[", canonicaljson.MaxDepth) + strings.Repeat("]", canonicaljson.MaxDepth))}, canonicaljson.ErrTooDeep},
		{"struct with fraction", struct{ F float64 }{0.25}, canonicaljson.ErrNumber},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := canonicaljson.Marshal(tt.in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Marshal = %q, %v; want error %v", got, err, tt.want)
			}
		})
	}
}

// TestCanonicalizeStrict: the strict form accepts integers written as
// integers only, and whatever else Canonicalize accepts.
func TestCanonicalizeStrict(t *testing.T) {
	for _, in := range []string{`0`, `-1`, `9007199254740991`, `-9007199254740991`, ` {"b":[1, 20],"a":"x"} `} {
		want, err := canonicaljson.Canonicalize([]byte(in))
		if err != nil {
			t.Fatal(err)
		}
		got, err := canonicaljson.CanonicalizeStrict([]byte(in))
		if err != nil || string(got) != string(want) {
			t.Errorf("CanonicalizeStrict(%s) = %s, %v; want %s", in, got, err, want)
		}
	}
	for _, tt := range []struct {
		in   string
		want error
	}{
		{`-0`, canonicaljson.ErrNumberForm},
		{`[1.0]`, canonicaljson.ErrNumberForm},
		{`{"a":1e3}`, canonicaljson.ErrNumberForm},
		{`1.7e12`, canonicaljson.ErrNumberForm},
		{`1700000000000.000`, canonicaljson.ErrNumberForm},
		{`0e0`, canonicaljson.ErrNumberForm},
		{`-0.0`, canonicaljson.ErrNumberForm},
		{`1.5`, canonicaljson.ErrNumber},
		{`9007199254740992`, canonicaljson.ErrNumber},
		{`01`, canonicaljson.ErrInvalid},
	} {
		_, err := canonicaljson.CanonicalizeStrict([]byte(tt.in))
		if !errors.Is(err, tt.want) || !errors.Is(err, canonicaljson.ErrNumber) && tt.want != canonicaljson.ErrInvalid {
			t.Errorf("CanonicalizeStrict(%s): %v, want %v", tt.in, err, tt.want)
		}
		if tt.want == canonicaljson.ErrNumber && errors.Is(err, canonicaljson.ErrNumberForm) {
			t.Errorf("CanonicalizeStrict(%s): %v is not a spelling error", tt.in, err)
		}
	}
}
