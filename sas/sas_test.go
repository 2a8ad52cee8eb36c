package sas_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/souverain/e2ee/sas"
)

// RFC 7748 section 6.1 key pair, the keys of libolm's SAS tests.
const (
	alicePrivHex = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"
	bobPrivHex   = "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"
	alicePubB64  = "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo"
	bobPubB64    = "3p7bfXt9wbTTW2HC7OQ1Nz+DQ8hbeGdNrfx+FG+IK08"
	sharedHex    = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"

	// Computed by libolm 3.2.13 (interop TestSASRFC7748Vectors) for the
	// info and MAC inputs of TestRFC7748Vectors.
	rfc7748SASBytes = "e5e2d737ff61"
	rfc7748MACv2    = "ibprB71wWGPfEW97eGcWscBDa7OIrgakPqka80SgS+M"
	rfc7748MACv1    = "ibprcr1wMXffWGZmV0dabVYwZGFiVll3WkdGaVZsbDM"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func fixedSAS(t testing.TB, privHex string) *sas.SAS {
	t.Helper()
	s, err := sas.NewFromRandom(mustHex(t, privHex))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func establish(t testing.TB, s *sas.SAS, theirs string) *sas.EstablishedSAS {
	t.Helper()
	k, err := sas.ParsePublicKey(theirs)
	if err != nil {
		t.Fatal(err)
	}
	e, err := s.Establish(k)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestRFC7748Vectors checks the key agreement, SAS bytes and both MAC
// encodings against values libolm computes for the same keys.
func TestRFC7748Vectors(t *testing.T) {
	alice, bob := fixedSAS(t, alicePrivHex), fixedSAS(t, bobPrivHex)
	if alice.PublicKey().String() != alicePubB64 || bob.PublicKey().String() != bobPubB64 {
		t.Fatalf("public keys %s %s", alice.PublicKey(), bob.PublicKey())
	}
	ea, eb := establish(t, alice, bobPubB64), establish(t, bob, alicePubB64)
	info := sas.SASInfo(sas.Party{UserID: "@alice:example.org", DeviceID: "ALICEDEV"}, ea.OurPublicKey(),
		sas.Party{UserID: "@bob:example.org", DeviceID: "BOBDEV"}, eb.OurPublicKey(), "txn-7748")
	macInfo := sas.MACInfo(sas.Party{UserID: "@alice:example.org", DeviceID: "ALICEDEV"},
		sas.Party{UserID: "@bob:example.org", DeviceID: "BOBDEV"}, "txn-7748", "ed25519:ALICEDEV")
	for name, e := range map[string]*sas.EstablishedSAS{"alice": ea, "bob": eb} {
		if got := hex.EncodeToString(e.SharedSecret()); got != sharedHex {
			t.Errorf("%s: shared secret %s", name, got)
		}
		b, err := e.Bytes(info, 6)
		if err != nil || hex.EncodeToString(b) != rfc7748SASBytes {
			t.Errorf("%s: bytes %x %v, want %s", name, b, err, rfc7748SASBytes)
		}
		if s := e.ShortAuthString(info); hex.EncodeToString(s[:]) != rfc7748SASBytes {
			t.Errorf("%s: short string %x", name, s)
		}
		for method, want := range map[string]string{sas.MACHKDFHMACSHA256V2: rfc7748MACv2, sas.MACHKDFHMACSHA256: rfc7748MACv1} {
			got, err := e.MAC(method, alicePubB64, macInfo)
			if err != nil || got != want {
				t.Errorf("%s %s: %q %v, want %q", name, method, got, err, want)
			}
			if err := e.VerifyMAC(method, alicePubB64, macInfo, want); err != nil {
				t.Errorf("%s %s: verify: %v", name, method, err)
			}
		}
	}
}

// TestBytesPrefix: 5 bytes for decimals are the prefix of the 6 for
// emojis, as libolm's HKDF gives them.
func TestBytesPrefix(t *testing.T) {
	e := establish(t, fixedSAS(t, alicePrivHex), bobPubB64)
	five, _ := e.Bytes("info", 5)
	six, _ := e.Bytes("info", 6)
	if !bytes.Equal(five, six[:5]) {
		t.Fatalf("%x is not a prefix of %x", five, six)
	}
}

func TestBytesCount(t *testing.T) {
	e := establish(t, fixedSAS(t, alicePrivHex), bobPubB64)
	for _, n := range []int{-1, 0, sas.MaxBytes + 1, 1 << 40} {
		if _, err := e.Bytes("x", n); !errors.Is(err, sas.ErrInvalidCount) {
			t.Errorf("Bytes(%d): %v, want ErrInvalidCount", n, err)
		}
	}
	for _, n := range []int{1, 6, 32, sas.MaxBytes} {
		b, err := e.Bytes("x", n)
		if err != nil || len(b) != n {
			t.Errorf("Bytes(%d): %d bytes, %v", n, len(b), err)
		}
	}
}

// TestLowOrderKeys: every public key that gives the all-zero shared secret
// is refused, and the SAS cannot be used afterwards.
func TestLowOrderKeys(t *testing.T) {
	lowOrder := []string{
		"0000000000000000000000000000000000000000000000000000000000000000",
		"0100000000000000000000000000000000000000000000000000000000000000",
		"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
		"5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		// The same points with the top bit set, which X25519 ignores.
		"0000000000000000000000000000000000000000000000000000000000000080",
		"0100000000000000000000000000000000000000000000000000000000000080",
		"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b880",
		"5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f11d7",
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
		"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
		"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
	}
	for _, h := range lowOrder {
		k, err := sas.NewPublicKey(mustHex(t, h))
		if err != nil {
			t.Fatal(err)
		}
		s, _ := sas.New()
		if _, err := s.Establish(k); !errors.Is(err, sas.ErrBadPublicKey) {
			t.Errorf("%s: %v, want ErrBadPublicKey", h, err)
		}
		if _, err := s.Establish(k); !errors.Is(err, sas.ErrKeyUsed) {
			t.Errorf("%s: second Establish: %v, want ErrKeyUsed", h, err)
		}
	}
}

func TestEstablishOnce(t *testing.T) {
	s := fixedSAS(t, alicePrivHex)
	establish(t, s, bobPubB64)
	k, _ := sas.ParsePublicKey(bobPubB64)
	if _, err := s.Establish(k); !errors.Is(err, sas.ErrKeyUsed) {
		t.Fatalf("second Establish: %v", err)
	}
}

// TestParsePublicKey feeds keys of every length from 0 to 70 bytes, and
// malformed base64.
func TestParsePublicKey(t *testing.T) {
	for n := 0; n <= 70; n++ {
		b := bytes.Repeat([]byte{9}, n)
		_, err := sas.NewPublicKey(b)
		_, err2 := sas.ParsePublicKey(base64.RawStdEncoding.EncodeToString(b))
		if n == 32 {
			if err != nil || err2 != nil {
				t.Errorf("32 bytes: %v %v", err, err2)
			}
			continue
		}
		if !errors.Is(err, sas.ErrBadPublicKey) || !errors.Is(err2, sas.ErrBadPublicKey) {
			t.Errorf("%d bytes: %v %v", n, err, err2)
		}
	}
	for _, s := range []string{"", "!", alicePubB64[:42] + "-", alicePubB64 + "A", " " + alicePubB64} {
		if _, err := sas.ParsePublicKey(s); !errors.Is(err, sas.ErrBadPublicKey) {
			t.Errorf("%q: %v", s, err)
		}
	}
	padded, err := sas.ParsePublicKey(alicePubB64 + "=")
	if err != nil || padded.String() != alicePubB64 {
		t.Errorf("padded key: %v %v", padded, err)
	}
}

// TestShortAuthString checks the bit arithmetic of the spec on fixed
// strings.
func TestShortAuthString(t *testing.T) {
	cases := []struct {
		bytes    string
		emoji    [7]int
		decimals [3]int
	}{
		{"000000000000", [7]int{0, 0, 0, 0, 0, 0, 0}, [3]int{1000, 1000, 1000}},
		{"ffffffffffff", [7]int{63, 63, 63, 63, 63, 63, 63}, [3]int{9191, 9191, 9191}},
		// 000001 000010 000011 000100 000101 000110 000111 001000
		{"0420c41461c8", [7]int{1, 2, 3, 4, 5, 6, 7}, [3]int{1000 + 0x0084, 1000 + 0x0310, 1000 + 0x0a30}},
		{"fc0000000000", [7]int{63, 0, 0, 0, 0, 0, 0}, [3]int{1000 + 0x1f80, 1000, 1000}},
		{"00000000003f", [7]int{0, 0, 0, 0, 0, 0, 0}, [3]int{1000, 1000, 1000}},
		{"000000000fc0", [7]int{0, 0, 0, 0, 0, 0, 63}, [3]int{1000, 1000, 1007}},
	}
	for _, c := range cases {
		var s sas.ShortAuthString
		copy(s[:], mustHex(t, c.bytes))
		if got := s.EmojiIndices(); got != c.emoji {
			t.Errorf("%s: emoji %v, want %v", c.bytes, got, c.emoji)
		}
		if got := s.Decimals(); got != c.decimals {
			t.Errorf("%s: decimals %v, want %v", c.bytes, got, c.decimals)
		}
		for i, e := range s.Emojis() {
			if e.Index != c.emoji[i] {
				t.Errorf("%s: emoji %d is %v", c.bytes, i, e)
			}
		}
	}
	var s sas.ShortAuthString
	copy(s[:], mustHex(t, "0420c41461c8"))
	if got := s.String(); got != "1132-1784-3608" {
		t.Errorf("String = %q", got)
	}
}

// TestEmojiTable checks the table against the copy of the spec's
// sas-emoji.json in the vectors file.
func TestEmojiTable(t *testing.T) {
	raw, err := os.ReadFile("../vectors/data/spec.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Vectors []struct {
			ID       string `json:"id"`
			Expected struct {
				Table []struct {
					Index       int      `json:"index"`
					Emoji       string   `json:"emoji"`
					Codepoints  []string `json:"codepoints"`
					Description string   `json:"description"`
				} `json:"table"`
			} `json:"expected"`
		} `json:"vectors"`
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	table := sas.EmojiTable()
	found := false
	for _, v := range file.Vectors {
		if v.ID != "spec-sas-emoji-table" {
			continue
		}
		found = true
		if len(v.Expected.Table) != 64 {
			t.Fatalf("vector table has %d entries", len(v.Expected.Table))
		}
		for i, want := range v.Expected.Table {
			got := table[i]
			var cps []string
			for _, r := range got.Symbol {
				cps = append(cps, fmt.Sprintf("U+%X", r))
			}
			if got.Index != i || want.Index != i || got.Symbol != want.Emoji || got.Description != want.Description ||
				strings.Join(cps, " ") != strings.Join(want.Codepoints, " ") {
				t.Errorf("entry %d: %+v (%v), want %+v", i, got, cps, want)
			}
		}
	}
	if !found {
		t.Fatal("spec-sas-emoji-table not in vectors/data/spec.json")
	}
}

// TestLegacyBase64Vector checks libolm's in-place base64 against the
// example published with libolm merge request 16.
func TestLegacyBase64Vector(t *testing.T) {
	mac := [32]byte{121, 105, 187, 19, 37, 94, 119, 248, 224, 34, 94, 29, 157, 5, 15, 230, 246, 115, 236, 217, 80, 78, 56, 200, 80, 200, 82, 158, 168, 179, 10, 230}
	if got := sas.LibolmInPlaceBase64(mac); got != "eWm7NyVeVmXgbVhnYlZobllsWm9ibGxzV205aWJHeHo" {
		t.Errorf("in-place base64 %q", got)
	}
	if got := base64.RawStdEncoding.EncodeToString(mac[:]); got != "eWm7EyVed/jgIl4dnQUP5vZz7NlQTjjIUMhSnqizCuY" {
		t.Errorf("correct base64 %q", got)
	}
}

func TestMAC(t *testing.T) {
	e := establish(t, fixedSAS(t, alicePrivHex), bobPubB64)
	v2, err := e.MAC(sas.MACHKDFHMACSHA256V2, "input", "info")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.RawStdEncoding.DecodeString(v2)
	if len(raw) != sas.MACSize {
		t.Fatalf("v2 MAC of %d bytes", len(raw))
	}
	cases := []struct {
		name, method, mac string
		want              error
	}{
		{"v2", sas.MACHKDFHMACSHA256V2, v2, nil},
		{"v2 padded", sas.MACHKDFHMACSHA256V2, v2 + "=", nil},
		{"v2 truncated", sas.MACHKDFHMACSHA256V2, v2[:40], sas.ErrMACMismatch},
		{"v2 empty", sas.MACHKDFHMACSHA256V2, "", sas.ErrMACMismatch},
		{"v2 not base64", sas.MACHKDFHMACSHA256V2, "!!!!", sas.ErrMACMismatch},
		{"v2 given the legacy string", sas.MACHKDFHMACSHA256V2, mustMAC(t, e, sas.MACHKDFHMACSHA256), sas.ErrMACMismatch},
		{"legacy", sas.MACHKDFHMACSHA256, mustMAC(t, e, sas.MACHKDFHMACSHA256), nil},
		{"legacy given the v2 string", sas.MACHKDFHMACSHA256, v2, sas.ErrMACMismatch},
		{"unknown", "hmac-sha256", v2, sas.ErrUnknownMACMethod},
		{"long kdf is not offered", "org.matrix.long-kdf", v2, sas.ErrUnknownMACMethod},
	}
	for _, c := range cases {
		err := e.VerifyMAC(c.method, "input", "info", c.mac)
		if !errors.Is(err, c.want) || (c.want == nil && err != nil) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	if _, err := e.MAC("nope", "a", "b"); !errors.Is(err, sas.ErrUnknownMACMethod) {
		t.Errorf("MAC with unknown method: %v", err)
	}
}

func mustMAC(t *testing.T, e *sas.EstablishedSAS, method string) string {
	m, err := e.MAC(method, "input", "info")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestInfoStrings checks the exact info strings of the spec.
func TestInfoStrings(t *testing.T) {
	a := sas.Party{UserID: "@alice:example.org", DeviceID: "AAA"}
	b := sas.Party{UserID: "@bob:example.org", DeviceID: "BBB"}
	ka, _ := sas.ParsePublicKey(alicePubB64)
	kb, _ := sas.ParsePublicKey(bobPubB64)
	if got, want := sas.SASInfo(a, ka, b, kb, "T1"), "MATRIX_KEY_VERIFICATION_SAS|@alice:example.org|AAA|"+alicePubB64+"|@bob:example.org|BBB|"+bobPubB64+"|T1"; got != want {
		t.Errorf("SASInfo = %q\nwant     %q", got, want)
	}
	if got, want := sas.MACInfo(a, b, "T1", "ed25519:AAA"), "MATRIX_KEY_VERIFICATION_MAC@alice:example.orgAAA@bob:example.orgBBBT1ed25519:AAA"; got != want {
		t.Errorf("MACInfo = %q", got)
	}
	if got := sas.MACInfo(a, b, "T1", sas.KeyIDsInfo); !strings.HasSuffix(got, "T1KEY_IDS") {
		t.Errorf("MACInfo for key IDs = %q", got)
	}
	ids := []string{"ed25519:DEVICEID", "ed25519:Cross+Signing+Key"}
	if got := sas.KeyIDList(ids); got != "ed25519:Cross+Signing+Key,ed25519:DEVICEID" {
		t.Errorf("KeyIDList = %q", got)
	}
	if ids[0] != "ed25519:DEVICEID" {
		t.Error("KeyIDList sorted its argument")
	}
}

// TestInfoBindsEveryComponent: changing any component of the SAS info
// changes the short authentication string, so it binds both users, both
// devices, both keys in starter order and the transaction.
func TestInfoBindsEveryComponent(t *testing.T) {
	e := establish(t, fixedSAS(t, alicePrivHex), bobPubB64)
	a := sas.Party{UserID: "@alice:example.org", DeviceID: "AAA"}
	b := sas.Party{UserID: "@bob:example.org", DeviceID: "BBB"}
	ka, _ := sas.ParsePublicKey(alicePubB64)
	kb, _ := sas.ParsePublicKey(bobPubB64)
	base := e.ShortAuthString(sas.SASInfo(a, ka, b, kb, "T1"))
	other := func(p sas.Party, user bool) sas.Party {
		if user {
			p.UserID += "x"
		} else {
			p.DeviceID += "x"
		}
		return p
	}
	variants := map[string]string{
		"starter user":    sas.SASInfo(other(a, true), ka, b, kb, "T1"),
		"starter device":  sas.SASInfo(other(a, false), ka, b, kb, "T1"),
		"accepter user":   sas.SASInfo(a, ka, other(b, true), kb, "T1"),
		"accepter device": sas.SASInfo(a, ka, other(b, false), kb, "T1"),
		"keys swapped":    sas.SASInfo(a, kb, b, ka, "T1"),
		"roles swapped":   sas.SASInfo(b, kb, a, ka, "T1"),
		"transaction":     sas.SASInfo(a, ka, b, kb, "T2"),
	}
	for name, info := range variants {
		if s := e.ShortAuthString(info); s == base {
			t.Errorf("%s: same SAS", name)
		}
	}
	// The MAC info binds sender, receiver, transaction and key ID.
	mi := sas.MACInfo(a, b, "T1", "ed25519:AAA")
	m0, _ := e.MAC(sas.MACHKDFHMACSHA256V2, "key", mi)
	for name, info := range map[string]string{
		"swapped":     sas.MACInfo(b, a, "T1", "ed25519:AAA"),
		"transaction": sas.MACInfo(a, b, "T2", "ed25519:AAA"),
		"key ID":      sas.MACInfo(a, b, "T1", "ed25519:BBB"),
	} {
		if m, _ := e.MAC(sas.MACHKDFHMACSHA256V2, "key", info); m == m0 {
			t.Errorf("MAC info %s: same MAC", name)
		}
	}
}

// TestCommitment: SHA-256 of the key's base64 and the canonical JSON of
// the start content, whatever the key order and spacing of the content.
func TestCommitment(t *testing.T) {
	k, _ := sas.ParsePublicKey(bobPubB64)
	canon := `{"from_device":"AAA","hashes":["sha256"],"method":"m.sas.v1","transaction_id":"T1"}`
	sum := sha256.Sum256([]byte(bobPubB64 + canon))
	want := base64.RawStdEncoding.EncodeToString(sum[:])
	for _, content := range []string{
		canon,
		`{ "transaction_id": "T1", "method": "m.sas.v1", "hashes": [ "sha256" ], "from_device": "AAA" }`,
		`{"method":"m.sas.v1","from_device":"A\u0041A","hashes":["sha256"],"transaction_id":"T1"}`,
	} {
		got, err := sas.Commitment(k, []byte(content))
		if err != nil || got != want {
			t.Errorf("Commitment(%s) = %q %v, want %q", content, got, err, want)
		}
	}
	for _, bad := range []string{``, `{`, `{"a":1.5}`, `{"a":1,"a":2}`, `[1,]`} {
		if _, err := sas.Commitment(k, []byte(bad)); !errors.Is(err, sas.ErrInvalidEvent) {
			t.Errorf("Commitment(%q): %v", bad, err)
		}
	}
}

// render prints v with an fmt verb, or with encoding/json ("json"), or
// through log/slog's JSON or text handler ("slog-json", "slog-text").
func render(t *testing.T, how string, v any) string {
	t.Helper()
	var buf bytes.Buffer
	switch how {
	case "json":
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("json.Marshal(%T): %v", v, err)
		}
		return string(b)
	case "slog-json":
		slog.New(slog.NewJSONHandler(&buf, nil)).Info("m", "v", v)
	case "slog-text":
		slog.New(slog.NewTextHandler(&buf, nil)).Info("m", "v", v)
	default:
		return fmt.Sprintf(how, v)
	}
	return buf.String()
}

// TestFormatHidesSecrets: printing SAS values with any verb, encoding/json
// or log/slog shows no secret bytes.
func TestFormatHidesSecrets(t *testing.T) {
	s := fixedSAS(t, alicePrivHex)
	priv := mustHex(t, alicePrivHex)
	e := establish(t, fixedSAS(t, alicePrivHex), bobPubB64)
	q := &sas.QRCode{Mode: sas.QRModeCrossSigning, FlowID: "T", Secret: []byte("0123456789abcdef")}
	secrets := [][]byte{priv, mustHex(t, sharedHex), q.Secret}
	for _, v := range []any{s, *s, e, *e, q, *q, []*sas.QRCode{q}} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q", "json", "slog-json", "slog-text"} {
			out := render(t, verb, v)
			for _, sec := range secrets {
				for _, enc := range []string{hex.EncodeToString(sec), base64.RawStdEncoding.EncodeToString(sec), string(sec), fmt.Sprint(sec)} {
					if strings.Contains(out, enc) {
						t.Errorf("%s of %T shows a secret: %s", verb, v, out)
					}
				}
			}
		}
	}
}

func BenchmarkSAS(b *testing.B) {
	bob, _ := sas.New()
	bobKey := bob.PublicKey()
	info := "MATRIX_KEY_VERIFICATION_SAS|@alice:example.org|AAA|" + alicePubB64 + "|@bob:example.org|BBB|" + bobPubB64 + "|T1"
	b.Run("establish+bytes+mac", func(b *testing.B) {
		for b.Loop() {
			s, _ := sas.New()
			e, err := s.Establish(bobKey)
			if err != nil {
				b.Fatal(err)
			}
			_ = e.ShortAuthString(info).Emojis()
			if _, err := e.MAC(sas.MACHKDFHMACSHA256V2, alicePubB64, "MATRIX_KEY_VERIFICATION_MAC..."); err != nil {
				b.Fatal(err)
			}
		}
	})
	e := establish(b, fixedSAS(b, alicePrivHex), bobPubB64)
	b.Run("bytes", func(b *testing.B) {
		for b.Loop() {
			e.ShortAuthString(info)
		}
	})
	for _, method := range []string{sas.MACHKDFHMACSHA256V2, sas.MACHKDFHMACSHA256} {
		b.Run("mac/"+method, func(b *testing.B) {
			for b.Loop() {
				e.MAC(method, alicePubB64, "info")
			}
		})
		mac, _ := e.MAC(method, alicePubB64, "info")
		b.Run("verify/"+method, func(b *testing.B) {
			for b.Loop() {
				if err := e.VerifyMAC(method, alicePubB64, "info", mac); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
