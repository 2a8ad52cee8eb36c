package qrlogin_test

import (
	"bytes"
	stdBase64Pkg "encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/souverain/e2ee/qrlogin"
)

// lowOrderKeys are Curve25519 points of small order (and a non-canonical
// encoding of one): DH with them gives the all-zero secret.
var lowOrderKeys = []string{
	"0000000000000000000000000000000000000000000000000000000000000000",
	"0100000000000000000000000000000000000000000000000000000000000000",
	"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
	"5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
	"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
}

func mustKey(t testing.TB, h string) qrlogin.PublicKey {
	b, _ := hex.DecodeString(h)
	k, err := qrlogin.NewPublicKey(b)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// eciesPair establishes an ECIES channel between a recipient (G, showing
// the QR code) and an initiator (S).
func eciesPair(t testing.TB) (g, s *qrlogin.ECIESChannel) {
	t.Helper()
	rec, err := qrlogin.GenerateECIES()
	if err != nil {
		t.Fatal(err)
	}
	ini, err := qrlogin.GenerateECIES()
	if err != nil {
		t.Fatal(err)
	}
	s, first, err := ini.EstablishOutbound(rec.PublicKey(), []byte("MATRIX_QR_CODE_LOGIN_INITIATE"))
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := qrlogin.ParseECIESInitialMessage(first.String())
	if err != nil {
		t.Fatal(err)
	}
	g, pt, err := rec.EstablishInbound(parsed)
	if err != nil {
		t.Fatal(err)
	}
	if string(pt) != "MATRIX_QR_CODE_LOGIN_INITIATE" {
		t.Fatalf("initial plaintext %q", pt)
	}
	return g, s
}

func TestECIESChannel(t *testing.T) {
	g, s := eciesPair(t)
	if !g.CheckCode().Equal(s.CheckCode()) {
		t.Fatalf("check codes differ: %v %v", g.CheckCode(), s.CheckCode())
	}
	for _, mode := range []qrlogin.DigitMode{qrlogin.AllowLeadingZero, qrlogin.NoLeadingZero} {
		if err := s.CheckCode().Verify(g.CheckCode().Digits(mode), mode); err != nil {
			t.Fatal(err)
		}
	}
	if !g.TheirPublicKey().Equal(s.PublicKey()) || !s.TheirPublicKey().Equal(g.PublicKey()) {
		t.Fatal("public keys do not match across the channel")
	}
	// Several messages each way, interleaved, through the text form.
	for i := range 5 {
		for _, dir := range []struct{ from, to *qrlogin.ECIESChannel }{{g, s}, {s, g}} {
			pt := []byte(fmt.Sprintf("message %d", i))
			m, err := dir.from.Encrypt(pt)
			if err != nil {
				t.Fatal(err)
			}
			parsed, err := qrlogin.ParseECIESMessage(m.String())
			if err != nil {
				t.Fatal(err)
			}
			got, err := dir.to.Decrypt(parsed)
			if err != nil || !bytes.Equal(got, pt) {
				t.Fatalf("message %d: %q, %v", i, got, err)
			}
		}
	}
}

// TestECIESMustFail: tampered, replayed, reordered and misdirected
// messages fail with ErrBadMessageMAC, and the channel still takes the
// genuine next message afterwards.
func TestECIESMustFail(t *testing.T) {
	g, s := eciesPair(t)
	m1, _ := s.Encrypt([]byte("one"))
	m2, _ := s.Encrypt([]byte("two"))
	bad := func(name string, m *qrlogin.ECIESMessage) {
		t.Helper()
		if got, err := g.Decrypt(m); !errors.Is(err, qrlogin.ErrBadMessageMAC) {
			t.Errorf("%s: %q, %v; want ErrBadMessageMAC", name, got, err)
		}
	}
	bad("reordered", m2)
	for i := range m1.Ciphertext {
		c := bytes.Clone(m1.Ciphertext)
		c[i] ^= 0x01
		bad(fmt.Sprintf("bit flipped in byte %d", i), &qrlogin.ECIESMessage{Ciphertext: c})
	}
	bad("truncated", &qrlogin.ECIESMessage{Ciphertext: m1.Ciphertext[:len(m1.Ciphertext)-1]})
	bad("extended", &qrlogin.ECIESMessage{Ciphertext: append(bytes.Clone(m1.Ciphertext), 0)})
	own, _ := g.Encrypt([]byte("reflected"))
	bad("reflected", own)
	if got, err := g.Decrypt(m1); err != nil || string(got) != "one" {
		t.Fatalf("genuine message after failures: %q, %v", got, err)
	}
	bad("replayed", m1)
	if got, err := g.Decrypt(m2); err != nil || string(got) != "two" {
		t.Fatalf("second message: %q, %v", got, err)
	}
	if _, err := g.Decrypt(&qrlogin.ECIESMessage{Ciphertext: make([]byte, 3)}); !errors.Is(err, qrlogin.ErrBadMessageFormat) {
		t.Errorf("short ciphertext: %v", err)
	}
	g.Close()
	if _, err := g.Encrypt(nil); !errors.Is(err, qrlogin.ErrClosed) {
		t.Errorf("Encrypt after Close: %v", err)
	}
	if _, err := g.Decrypt(m2); !errors.Is(err, qrlogin.ErrClosed) {
		t.Errorf("Decrypt after Close: %v", err)
	}
}

// TestECIESInbound: an initial message under another key (a man in the
// middle swapping the key) fails and leaves the recipient usable; a used
// ECIES refuses to establish again.
func TestECIESInbound(t *testing.T) {
	rec, _ := qrlogin.GenerateECIES()
	ini, _ := qrlogin.GenerateECIES()
	mallory, _ := qrlogin.GenerateECIES()
	_, first, err := ini.EstablishOutbound(rec.PublicKey(), []byte("hi"))
	if err != nil {
		t.Fatal(err)
	}
	swapped := &qrlogin.ECIESInitialMessage{PublicKey: mallory.PublicKey(), Ciphertext: first.Ciphertext}
	if _, _, err := rec.EstablishInbound(swapped); !errors.Is(err, qrlogin.ErrBadMessageMAC) {
		t.Fatalf("swapped key: %v", err)
	}
	tampered := &qrlogin.ECIESInitialMessage{PublicKey: first.PublicKey, Ciphertext: bytes.Clone(first.Ciphertext)}
	tampered.Ciphertext[0] ^= 1
	if _, _, err := rec.EstablishInbound(tampered); !errors.Is(err, qrlogin.ErrBadMessageMAC) {
		t.Fatalf("tampered: %v", err)
	}
	for _, h := range lowOrderKeys {
		m := &qrlogin.ECIESInitialMessage{PublicKey: mustKey(t, h), Ciphertext: first.Ciphertext}
		if _, _, err := rec.EstablishInbound(m); !errors.Is(err, qrlogin.ErrBadPublicKey) {
			t.Fatalf("low-order key %s: %v", h, err)
		}
	}
	if _, _, err := rec.EstablishInbound(first); err != nil {
		t.Fatalf("genuine message after failures: %v", err)
	}
	if _, _, err := rec.EstablishInbound(first); !errors.Is(err, qrlogin.ErrClosed) {
		t.Fatalf("second establishment: %v", err)
	}
	if _, _, err := ini.EstablishOutbound(rec.PublicKey(), nil); !errors.Is(err, qrlogin.ErrClosed) {
		t.Fatalf("second outbound: %v", err)
	}
	fresh, _ := qrlogin.GenerateECIES()
	for _, h := range lowOrderKeys {
		if _, _, err := fresh.EstablishOutbound(mustKey(t, h), nil); !errors.Is(err, qrlogin.ErrBadPublicKey) {
			t.Fatalf("outbound to low-order key %s: %v", h, err)
		}
	}
	if _, _, err := fresh.EstablishOutbound(qrlogin.PublicKey{}, nil); !errors.Is(err, qrlogin.ErrBadPublicKey) {
		t.Fatalf("outbound to zero PublicKey: %v", err)
	}
	var nilECIES *qrlogin.ECIES
	if _, _, err := nilECIES.EstablishInbound(first); !errors.Is(err, qrlogin.ErrNil) {
		t.Fatalf("nil ECIES: %v", err)
	}
	if _, _, err := fresh.EstablishInbound(nil); !errors.Is(err, qrlogin.ErrNil) {
		t.Fatalf("nil message: %v", err)
	}
}

// hpkePair establishes a bidirectional HPKE channel.
func hpkePair(t testing.TB, aad []byte) (g, s *qrlogin.HPKEChannel) {
	t.Helper()
	rec, err := qrlogin.GenerateHPKERecipient()
	if err != nil {
		t.Fatal(err)
	}
	sender, first, err := qrlogin.EstablishHPKESender(rec.PublicKey(), []byte("initiate"), aad)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := qrlogin.ParseHPKEInitialMessage(first.String())
	if err != nil {
		t.Fatal(err)
	}
	rc, pt, err := rec.Establish(parsed, aad)
	if err != nil || string(pt) != "initiate" {
		t.Fatalf("recipient: %q, %v", pt, err)
	}
	g, resp, err := rc.Respond([]byte("welcome"), aad)
	if err != nil {
		t.Fatal(err)
	}
	parsedResp, err := qrlogin.ParseHPKEInitialResponse(resp.String())
	if err != nil {
		t.Fatal(err)
	}
	s, pt, err = sender.Establish(parsedResp, aad)
	if err != nil || string(pt) != "welcome" {
		t.Fatalf("sender: %q, %v", pt, err)
	}
	return g, s
}

func TestHPKEChannel(t *testing.T) {
	g, s := hpkePair(t, []byte("aad"))
	if !g.CheckCode().Equal(s.CheckCode()) {
		t.Fatal("check codes differ")
	}
	if err := g.CheckCode().Verify(s.CheckCode().Digits(qrlogin.NoLeadingZero), qrlogin.NoLeadingZero); err != nil {
		t.Fatal(err)
	}
	if !g.TheirPublicKey().Equal(s.PublicKey()) || !s.TheirPublicKey().Equal(g.PublicKey()) {
		t.Fatal("public keys do not match")
	}
	for i := range 5 {
		for _, dir := range []struct{ from, to *qrlogin.HPKEChannel }{{g, s}, {s, g}} {
			pt := []byte(fmt.Sprintf("message %d", i))
			aad := []byte{byte(i)}
			m, err := dir.from.Seal(pt, aad)
			if err != nil {
				t.Fatal(err)
			}
			parsed, err := qrlogin.ParseHPKEMessage(m.String())
			if err != nil {
				t.Fatal(err)
			}
			got, err := dir.to.Open(parsed, aad)
			if err != nil || !bytes.Equal(got, pt) {
				t.Fatalf("message %d: %q, %v", i, got, err)
			}
		}
	}
}

func TestHPKEMustFail(t *testing.T) {
	g, s := hpkePair(t, nil)
	m1, _ := s.Seal([]byte("one"), nil)
	m2, _ := s.Seal([]byte("two"), nil)
	bad := func(name string, m *qrlogin.HPKEMessage, aad []byte) {
		t.Helper()
		if got, err := g.Open(m, aad); !errors.Is(err, qrlogin.ErrBadMessageMAC) {
			t.Errorf("%s: %q, %v; want ErrBadMessageMAC", name, got, err)
		}
	}
	bad("reordered", m2, nil)
	bad("wrong associated data", m1, []byte("x"))
	for i := range m1.Ciphertext {
		c := bytes.Clone(m1.Ciphertext)
		c[i] ^= 0x80
		bad(fmt.Sprintf("bit flipped in byte %d", i), &qrlogin.HPKEMessage{Ciphertext: c}, nil)
	}
	own, _ := g.Seal([]byte("reflected"), nil)
	bad("reflected", own, nil)
	if got, err := g.Open(m1, nil); err != nil || string(got) != "one" {
		t.Fatalf("genuine message after failures: %q, %v", got, err)
	}
	bad("replayed", m1, nil)
	if got, err := g.Open(m2, nil); err != nil || string(got) != "two" {
		t.Fatalf("second message: %q, %v", got, err)
	}
	s.Close()
	if _, err := s.Seal(nil, nil); !errors.Is(err, qrlogin.ErrClosed) {
		t.Errorf("Seal after Close: %v", err)
	}
}

// TestHPKEEstablishMustFail covers the two handshake messages.
func TestHPKEEstablishMustFail(t *testing.T) {
	rec, _ := qrlogin.GenerateHPKERecipient()
	other, _ := qrlogin.GenerateHPKERecipient()
	sender, first, err := qrlogin.EstablishHPKESender(rec.PublicKey(), []byte("hi"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := other.Establish(first, nil); !errors.Is(err, qrlogin.ErrBadMessageMAC) {
		t.Fatalf("message to another key: %v", err)
	}
	swapped := &qrlogin.HPKEInitialMessage{EncapsulatedKey: other.PublicKey(), Ciphertext: first.Ciphertext}
	if _, _, err := rec.Establish(swapped, nil); !errors.Is(err, qrlogin.ErrBadMessageMAC) {
		t.Fatalf("swapped key: %v", err)
	}
	if _, _, err := rec.Establish(first, []byte("aad")); !errors.Is(err, qrlogin.ErrBadMessageMAC) {
		t.Fatalf("wrong aad: %v", err)
	}
	for _, h := range lowOrderKeys {
		m := &qrlogin.HPKEInitialMessage{EncapsulatedKey: mustKey(t, h), Ciphertext: first.Ciphertext}
		if _, _, err := rec.Establish(m, nil); !errors.Is(err, qrlogin.ErrBadPublicKey) {
			t.Fatalf("low-order key %s: %v", h, err)
		}
		if _, _, err := qrlogin.EstablishHPKESender(mustKey(t, h), nil, nil); !errors.Is(err, qrlogin.ErrBadPublicKey) {
			t.Fatalf("sender to low-order key %s: %v", h, err)
		}
	}
	rc, _, err := rec.Establish(first, nil)
	if err != nil {
		t.Fatalf("genuine message after failures: %v", err)
	}
	if _, _, err := rec.Establish(first, nil); !errors.Is(err, qrlogin.ErrClosed) {
		t.Fatalf("second establishment: %v", err)
	}
	_, resp, err := rc.Respond([]byte("ok"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := rc.Respond(nil, nil); !errors.Is(err, qrlogin.ErrClosed) {
		t.Fatalf("second response: %v", err)
	}
	tampered := *resp
	tampered.ResponseNonce[0] ^= 1
	if _, _, err := sender.Establish(&tampered, nil); !errors.Is(err, qrlogin.ErrBadMessageMAC) {
		t.Fatalf("tampered response nonce: %v", err)
	}
	tampered = *resp
	tampered.Ciphertext = bytes.Clone(resp.Ciphertext)
	tampered.Ciphertext[len(tampered.Ciphertext)-1] ^= 1
	if _, _, err := sender.Establish(&tampered, nil); !errors.Is(err, qrlogin.ErrBadMessageMAC) {
		t.Fatalf("tampered response tag: %v", err)
	}
	if _, pt, err := sender.Establish(resp, nil); err != nil || string(pt) != "ok" {
		t.Fatalf("genuine response after failures: %q, %v", pt, err)
	}
	if _, _, err := sender.Establish(resp, nil); !errors.Is(err, qrlogin.ErrClosed) {
		t.Fatalf("second response accepted: %v", err)
	}
}

// TestCheckCodeMismatch: a man in the middle who re-encrypts the first
// message to the recipient ends up with different check codes on the two
// genuine devices, and Verify refuses.
func TestCheckCodeMismatch(t *testing.T) {
	rec, _ := qrlogin.GenerateECIES()
	ini, _ := qrlogin.GenerateECIES()
	mitm, _ := qrlogin.GenerateECIES()
	s, _, err := ini.EstablishOutbound(rec.PublicKey(), []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	_, forged, _ := mitm.EstablishOutbound(rec.PublicKey(), []byte("x"))
	g, _, err := rec.EstablishInbound(forged)
	if err != nil {
		t.Fatal(err)
	}
	if g.CheckCode().Equal(s.CheckCode()) {
		t.Skip("check codes collide by chance (1 in 65536)")
	}
	for _, mode := range []qrlogin.DigitMode{qrlogin.AllowLeadingZero, qrlogin.NoLeadingZero} {
		want := s.CheckCode().Digits(mode)
		for _, entered := range []int{(want + 1) % 100, -(want + 1), want + 100, 1 << 40} { // -(want+1): -want is want itself when want is 0
			if err := s.CheckCode().Verify(entered, mode); !errors.Is(err, qrlogin.ErrCheckCodeMismatch) {
				t.Errorf("Verify(%d) in mode %d: %v", entered, mode, err)
			}
		}
	}
}

// TestCheckCodeDigits follows vodozemac's check_code tests.
func TestCheckCodeDigits(t *testing.T) {
	tests := []struct {
		b                  [2]byte
		leading, noLeading int
	}{
		{[2]byte{0, 0}, 0, 10},
		{[2]byte{9, 9}, 99, 19},
		{[2]byte{8, 9}, 89, 99},
		{[2]byte{0xff, 0xff}, 55, 45},
	}
	for _, tt := range tests {
		c := qrlogin.NewCheckCode(tt.b)
		if got := c.Digits(qrlogin.AllowLeadingZero); got != tt.leading {
			t.Errorf("%x AllowLeadingZero = %d, want %d", tt.b, got, tt.leading)
		}
		if got := c.Digits(qrlogin.NoLeadingZero); got != tt.noLeading {
			t.Errorf("%x NoLeadingZero = %d, want %d", tt.b, got, tt.noLeading)
		}
	}
	for b0 := range 256 {
		for b1 := range 256 {
			c := qrlogin.NewCheckCode([2]byte{byte(b0), byte(b1)})
			if d := c.Digits(qrlogin.AllowLeadingZero); d < 0 || d > 99 {
				t.Fatal(d)
			}
			if d := c.Digits(qrlogin.NoLeadingZero); d < 10 || d > 99 {
				t.Fatal(d)
			}
		}
	}
}

type vodozemacValues struct {
	ECIES struct {
		InitialMessage string `json:"initial_message"`
		Message        string `json:"message"`
		PublicKey      string `json:"public_key"`
	} `json:"ecies"`
	HPKE struct {
		InitialMessage  string `json:"initial_message"`
		InitialResponse string `json:"initial_response"`
		Message         string `json:"message"`
		PublicKey       string `json:"public_key"`
	} `json:"hpke"`
	Corpus []string `json:"hpke_fuzz_corpus_hex"`
}

func loadVodozemac(t testing.TB) vodozemacValues {
	data, err := os.ReadFile("testdata/vodozemac.json")
	if err != nil {
		t.Fatal(err)
	}
	var v vodozemacValues
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestVodozemacMessageValues decodes and re-encodes vodozemac's own test
// messages, as its tests do.
func TestVodozemacMessageValues(t *testing.T) {
	v := loadVodozemac(t)
	im, err := qrlogin.ParseECIESInitialMessage(v.ECIES.InitialMessage)
	if err != nil {
		t.Fatal(err)
	}
	if im.PublicKey.String() != v.ECIES.PublicKey || im.String() != v.ECIES.InitialMessage {
		t.Errorf("ECIES initial message: key %s, re-encoded %s", im.PublicKey, im)
	}
	m, err := qrlogin.ParseECIESMessage(v.ECIES.Message)
	if err != nil || m.String() != v.ECIES.Message {
		t.Errorf("ECIES message: %v, %v", m, err)
	}
	hm, err := qrlogin.ParseHPKEInitialMessage(v.HPKE.InitialMessage)
	if err != nil {
		t.Fatal(err)
	}
	if hm.EncapsulatedKey.String() != v.HPKE.PublicKey || hm.String() != v.HPKE.InitialMessage {
		t.Errorf("HPKE initial message: key %s, re-encoded %s", hm.EncapsulatedKey, hm)
	}
	hr, err := qrlogin.ParseHPKEInitialResponse(v.HPKE.InitialResponse)
	if err != nil {
		t.Fatal(err)
	}
	if hr.ResponseNonce != [32]byte{} || hr.String() != v.HPKE.InitialResponse {
		t.Errorf("HPKE initial response: nonce %x, re-encoded %s", hr.ResponseNonce, hr)
	}
	hmsg, err := qrlogin.ParseHPKEMessage(v.HPKE.Message)
	if err != nil || hmsg.String() != v.HPKE.Message {
		t.Errorf("HPKE message: %v, %v", hmsg, err)
	}
	// vodozemac refuses empty messages too.
	for _, f := range []func(string) error{
		func(s string) error { _, err := qrlogin.ParseHPKEInitialMessage(s); return err },
		func(s string) error { _, err := qrlogin.ParseHPKEInitialResponse(s); return err },
		func(s string) error { _, err := qrlogin.ParseHPKEMessage(s); return err },
		func(s string) error { _, err := qrlogin.ParseECIESMessage(s); return err },
		func(s string) error { _, err := qrlogin.ParseECIESInitialMessage(s); return err },
	} {
		if err := f(""); !errors.Is(err, qrlogin.ErrBadMessageFormat) {
			t.Errorf("empty message: %v", err)
		}
	}
}

// TestParseMessagesBad feeds malformed channel messages, by category.
func TestParseMessagesBad(t *testing.T) {
	v := loadVodozemac(t)
	key := v.ECIES.PublicKey
	ct := v.ECIES.Message
	tests := []struct {
		name  string
		parse func(string) error
		in    string
		want  error
	}{
		{"ECIES initial: no separator", parseECIESInitial, ct + key, qrlogin.ErrBadMessageFormat},
		{"ECIES initial: two separators", parseECIESInitial, ct + "|" + key + "|", qrlogin.ErrBadPublicKey},
		{"ECIES initial: short key", parseECIESInitial, ct + "|" + key[:42], qrlogin.ErrBadPublicKey},
		{"ECIES initial: padded key", parseECIESInitial, ct + "|" + key + "=", qrlogin.ErrBadPublicKey},
		{"ECIES initial: key not base64", parseECIESInitial, ct + "|" + strings.Repeat("*", 43), qrlogin.ErrBadPublicKey},
		{"ECIES initial: ciphertext not base64", parseECIESInitial, "!!!!|" + key, qrlogin.ErrBadMessageFormat},
		{"ECIES initial: ciphertext shorter than tag", parseECIESInitial, "AAAA|" + key, qrlogin.ErrBadMessageFormat},
		{"ECIES initial: too large", parseECIESInitial, strings.Repeat("A", qrlogin.MaxMessageSize) + "|" + key, qrlogin.ErrMessageTooLarge},
		{"ECIES message: padded", parseECIES, "AAAAAAAAAAAAAAAAAAAAAA==", qrlogin.ErrBadMessageFormat},
		{"ECIES message: non-canonical last character", parseECIES, "AAAAAAAAAAAAAAAAAAAAAB", qrlogin.ErrBadMessageFormat},
		{"ECIES message: URL alphabet", parseECIES, strings.Repeat("_", 24), qrlogin.ErrBadMessageFormat},
		{"ECIES message: whitespace", parseECIES, " " + ct, qrlogin.ErrBadMessageFormat},
		{"ECIES message: too large", parseECIES, strings.Repeat("A", qrlogin.MaxMessageSize+4), qrlogin.ErrMessageTooLarge},
		{"HPKE initial: key only", parseHPKEInitial, key, qrlogin.ErrBadMessageFormat},
		{"HPKE initial: key and short ciphertext", parseHPKEInitial, strings.Repeat("A", 62), qrlogin.ErrBadMessageFormat},
		{"HPKE response: nonce only", parseHPKEResponse, strings.Repeat("A", 43), qrlogin.ErrBadMessageFormat},
		{"HPKE message: 15 bytes", parseHPKE, strings.Repeat("A", 20), qrlogin.ErrBadMessageFormat},
		{"HPKE message: too large", parseHPKE, strings.Repeat("A", qrlogin.MaxMessageSize+1), qrlogin.ErrMessageTooLarge},
	}
	for _, h := range v.Corpus[1:] { // vodozemac's fuzz seeds that are too short for us
		b, _ := hex.DecodeString(h)
		tests = append(tests, struct {
			name  string
			parse func(string) error
			in    string
			want  error
		}{"HPKE initial: vodozemac fuzz seed " + h[:8], parseHPKEInitial, b64(b), qrlogin.ErrBadMessageFormat})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.parse(tt.in); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
	// vodozemac's first fuzz seed is a well-formed initial message.
	b, _ := hex.DecodeString(v.Corpus[0])
	if err := parseHPKEInitial(b64(b)); err != nil {
		t.Errorf("fuzz seed 1: %v", err)
	}
}

func parseECIESInitial(s string) error { _, err := qrlogin.ParseECIESInitialMessage(s); return err }
func parseECIES(s string) error        { _, err := qrlogin.ParseECIESMessage(s); return err }
func parseHPKEInitial(s string) error  { _, err := qrlogin.ParseHPKEInitialMessage(s); return err }
func parseHPKEResponse(s string) error { _, err := qrlogin.ParseHPKEInitialResponse(s); return err }
func parseHPKE(s string) error         { _, err := qrlogin.ParseHPKEMessage(s); return err }

// TestNoSecretsPrinted: the channels print keys nowhere.
func TestNoSecretsPrinted(t *testing.T) {
	g, _ := eciesPair(t)
	h, _ := hpkePair(t, nil)
	e, _ := qrlogin.GenerateECIES()
	r, _ := qrlogin.GenerateHPKERecipient()
	hs, first, _ := qrlogin.EstablishHPKESender(r.PublicKey(), nil, nil)
	r2, _ := qrlogin.GenerateHPKERecipient()
	_, first2, _ := qrlogin.EstablishHPKESender(r2.PublicKey(), nil, nil)
	hr, _, err := r2.Establish(first2, nil)
	if err != nil || first == nil {
		t.Fatal(err)
	}
	for _, v := range []any{g, h, e, r, hs, hr} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			out := fmt.Sprintf(verb, v)
			if strings.Contains(out, "key:[") || strings.Contains(out, "priv") || len(out) > 300 {
				t.Errorf("%T printed with %s: %s", v, verb, out)
			}
		}
	}
}

// b64 is the test's own unpadded base64, from the standard library.
func b64(b []byte) string { return stdBase64Pkg.RawStdEncoding.EncodeToString(b) }

// TestCloseBeforeEstablishing: the values before a channel refuse to work
// after Close.
func TestCloseBeforeEstablishing(t *testing.T) {
	e, _ := qrlogin.GenerateECIES()
	pk := e.PublicKey()
	e.Close()
	if _, _, err := e.EstablishOutbound(pk, nil); !errors.Is(err, qrlogin.ErrClosed) {
		t.Errorf("ECIES after Close: %v", err)
	}
	r, _ := qrlogin.GenerateHPKERecipient()
	s, first, err := qrlogin.EstablishHPKESender(r.PublicKey(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	r2, _ := qrlogin.GenerateHPKERecipient()
	_, first2, _ := qrlogin.EstablishHPKESender(r2.PublicKey(), nil, nil)
	half, _, err := r2.Establish(first2, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	if _, _, err := r.Establish(first, nil); !errors.Is(err, qrlogin.ErrClosed) {
		t.Errorf("HPKE recipient after Close: %v", err)
	}
	half.Close()
	if _, _, err := half.Respond(nil, nil); !errors.Is(err, qrlogin.ErrClosed) {
		t.Errorf("HPKE recipient channel after Close: %v", err)
	}
	s.Close()
	if _, _, err := s.Establish(&qrlogin.HPKEInitialResponse{}, nil); !errors.Is(err, qrlogin.ErrClosed) {
		t.Errorf("HPKE sender channel after Close: %v", err)
	}
}

// TestNewPublicKeyLengths: every length but 32 is refused, without panic.
func TestNewPublicKeyLengths(t *testing.T) {
	for n := range 71 {
		k, err := qrlogin.NewPublicKey(make([]byte, n))
		if n == qrlogin.KeySize {
			if err != nil || k.IsZero() || len(k.Bytes()) != 32 {
				t.Fatalf("32 bytes: %v", err)
			}
			continue
		}
		if !errors.Is(err, qrlogin.ErrBadPublicKey) || !k.IsZero() {
			t.Fatalf("%d bytes: %v", n, err)
		}
		if _, err := qrlogin.ParsePublicKey(b64(make([]byte, n))); !errors.Is(err, qrlogin.ErrBadPublicKey) {
			t.Fatalf("%d bytes in base64: %v", n, err)
		}
	}
	var zero qrlogin.PublicKey
	if zero.String() != "" || zero.Bytes() != nil {
		t.Fatal("zero PublicKey encodes to something")
	}
}
