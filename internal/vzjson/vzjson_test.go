package vzjson

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestBytes32(t *testing.T) {
	good := "[" + strings.Repeat("255, ", 31) + "0 ]"
	var b Bytes32
	if err := json.Unmarshal([]byte(good), &b); err != nil || b[0] != 255 || b[31] != 0 {
		t.Fatalf("%v %x", err, b)
	}
	bad := []string{
		`[]`, "[" + strings.Repeat("1,", 31) + "]", "[" + strings.Repeat("1,", 32) + "1]",
		"[" + strings.Repeat("1,", 31) + "256]", "[" + strings.Repeat("1,", 31) + "01]",
		"[" + strings.Repeat("1,", 31) + "-1]", "[" + strings.Repeat("1,", 31) + "1.0]",
		"[" + strings.Repeat("1,", 31) + "1e0]", `"AAAA"`, `null`, `{}`, "[" + strings.Repeat("1,", 31) + "99999]",
		"[" + strings.Repeat("1,", 31) + "1,]", "[" + strings.Repeat("1 ", 32) + "]",
	}
	for _, s := range bad {
		var b Bytes32
		err := b.UnmarshalJSON([]byte(s))
		if !errors.Is(err, ErrBadBytes) {
			t.Errorf("%q: %v", s, err)
		}
	}
}

func TestConfig(t *testing.T) {
	for s, want := range map[string]int{`{"version":"V1"}`: 1, `{"version":"V2"}`: 2} {
		var c Config
		json.Unmarshal([]byte(s), &c)
		if n, err := c.Number(); n != want || err != nil {
			t.Errorf("%s: %d %v", s, n, err)
		}
	}
	var nilConfig *Config
	if n, _ := nilConfig.Number(); n != 1 {
		t.Error("missing config is not version 1")
	}
	c := Config{Version: "V3"}
	if _, err := c.Number(); err == nil {
		t.Error("V3 accepted")
	}
}

func TestBytesRoundTrip(t *testing.T) {
	b := make([]byte, 32)
	for i := range b {
		b[i] = byte(i * 9)
	}
	out, _ := json.Marshal(Bytes(b))
	var back Bytes32
	if err := json.Unmarshal(out, &back); err != nil || string(back[:]) != string(b) {
		t.Fatalf("%s: %v", out, err)
	}
	if s, _ := json.Marshal(Bytes{0, 9, 10, 99, 100, 255}); string(s) != "[0,9,10,99,100,255]" {
		t.Fatalf("%s", s)
	}
}
