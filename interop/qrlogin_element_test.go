package interop_test

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/souverain/e2ee/qrlogin"
)

// QR login against Element's crypto stack: vodozemac's ECIES (MSC4108) and
// matrix-rust-sdk's QrCodeData, through @matrix-org/matrix-sdk-crypto-wasm
// (element/qrlogin.mjs), in both roles. Element's wasm package does not
// expose HPKE (MSC4388); qrlogin's own tests check that channel against
// RFC 9180 and vodozemac's test values.

type eciesAnswer struct {
	PublicKey           string `json:"public_key"`
	InitialMessage      string `json:"initial_message"`
	Plaintext           string `json:"plaintext"`
	Message             string `json:"message"`
	CheckCodeHex        string `json:"check_code_hex"`
	Digits              int    `json:"digits"`
	DigitsNoLeadingZero int    `json:"digits_no_leading_zero"`
}

type qrAnswer struct {
	Hex           string `json:"hex"`
	Base64        string `json:"base64"`
	Format        string `json:"format"`
	Intent        string `json:"intent"`
	PublicKey     string `json:"public_key"`
	RendezvousURL string `json:"rendezvous_url"`
	ServerName    string `json:"server_name"`
	RendezvousID  string `json:"rendezvous_id"`
	BaseURL       string `json:"base_url"`
}

// try sends a command that may be refused and returns the refusal as an
// error instead of failing the test.
func (e *elementNode) try(res any, cmd string, args map[string]any) error {
	e.t.Helper()
	e.seq++
	msg := map[string]any{"id": e.seq, "cmd": cmd}
	for k, v := range args {
		msg[k] = v
	}
	b, _ := json.Marshal(msg)
	if _, err := e.in.Write(append(b, '\n')); err != nil {
		e.t.Fatalf("write to node: %v", err)
	}
	if !e.out.Scan() {
		e.t.Fatalf("node exited: %v", e.out.Err())
	}
	var head struct {
		ID    int    `json:"id"`
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	line := e.out.Bytes()
	if err := json.Unmarshal(line, &head); err != nil || head.ID != e.seq {
		e.t.Fatalf("bad answer %q to command %d: %v", line, e.seq, err)
	}
	if !head.OK {
		return errors.New(head.Error)
	}
	if res != nil {
		if err := json.Unmarshal(line, res); err != nil {
			e.t.Fatalf("decode %s answer: %v", cmd, err)
		}
	}
	return nil
}

// checkSameCode compares our check code with Element's, bytes and digits.
func checkSameCode(t *testing.T, ours qrlogin.CheckCode, theirs eciesAnswer) {
	t.Helper()
	b := ours.Bytes()
	if got := hex.EncodeToString(b[:]); got != theirs.CheckCodeHex {
		t.Fatalf("check code %s, Element's %s", got, theirs.CheckCodeHex)
	}
	if ours.Digits(qrlogin.AllowLeadingZero) != theirs.Digits || ours.Digits(qrlogin.NoLeadingZero) != theirs.DigitsNoLeadingZero {
		t.Fatalf("digits %d/%d, Element's %d/%d", ours.Digits(qrlogin.AllowLeadingZero), ours.Digits(qrlogin.NoLeadingZero), theirs.Digits, theirs.DigitsNoLeadingZero)
	}
	// The user types Element's digits on our side: accepted; any other
	// number: refused.
	if err := ours.Verify(theirs.DigitsNoLeadingZero, qrlogin.NoLeadingZero); err != nil {
		t.Fatal(err)
	}
	if err := ours.Verify((theirs.DigitsNoLeadingZero+1)%100, qrlogin.NoLeadingZero); !errors.Is(err, qrlogin.ErrCheckCodeMismatch) {
		t.Fatalf("wrong check code accepted: %v", err)
	}
}

// eciesExchange sends messages both ways, in order, and checks a replayed and a
// reordered message of Element's are refused by us without harm.
func eciesExchange(t *testing.T, el *elementNode, handle string, ch *qrlogin.ECIESChannel) {
	t.Helper()
	for i := range 4 {
		text := fmt.Sprintf("souverain → Element %d: {\"type\":\"m.login.protocols\"}", i)
		m, err := ch.Encrypt([]byte(text))
		if err != nil {
			t.Fatal(err)
		}
		var a eciesAnswer
		el.call(&a, "decrypt", map[string]any{"handle": handle, "message": m.String()})
		if a.Plaintext != text {
			t.Fatalf("Element decrypted %q, want %q", a.Plaintext, text)
		}
		text = fmt.Sprintf("Element → souverain %d: ✓", i)
		el.call(&a, "encrypt", map[string]any{"handle": handle, "plaintext": text})
		em, err := qrlogin.ParseECIESMessage(a.Message)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ch.Decrypt(em)
		if err != nil || string(got) != text {
			t.Fatalf("decrypt Element's message %d: %q, %v", i, got, err)
		}
		if _, err := ch.Decrypt(em); !errors.Is(err, qrlogin.ErrBadMessageMAC) {
			t.Fatalf("replayed Element message accepted: %v", err)
		}
	}
	var a1, a2 eciesAnswer
	el.call(&a1, "encrypt", map[string]any{"handle": handle, "plaintext": "first"})
	el.call(&a2, "encrypt", map[string]any{"handle": handle, "plaintext": "second"})
	m1, _ := qrlogin.ParseECIESMessage(a1.Message)
	m2, _ := qrlogin.ParseECIESMessage(a2.Message)
	if _, err := ch.Decrypt(m2); !errors.Is(err, qrlogin.ErrBadMessageMAC) {
		t.Fatalf("reordered Element message accepted: %v", err)
	}
	for _, m := range []*qrlogin.ECIESMessage{m1, m2} {
		if _, err := ch.Decrypt(m); err != nil {
			t.Fatalf("in-order Element message after a refusal: %v", err)
		}
	}
	// Element refuses what we tamper with, replay and reorder (it burns
	// its counter on a failure, so these come last).
	m, _ := ch.Encrypt([]byte("tampered"))
	m.Ciphertext[3] ^= 0x40
	if err := el.try(nil, "decrypt", map[string]any{"handle": handle, "message": m.String()}); err == nil {
		t.Fatal("Element accepted a tampered message")
	}
}

// TestQRLoginECIESElementShowsCode: Element is the recipient (device G):
// it shows an MSC4108 QR code, we scan it and open the channel.
func TestQRLoginECIESElementShowsCode(t *testing.T) {
	el := startNodeHarness(t, "qrlogin.mjs")
	var e eciesAnswer
	el.call(&e, "ecies_new", map[string]any{"handle": "g"})
	var q qrAnswer
	el.call(&q, "qr_new", map[string]any{"public_key": e.PublicKey, "rendezvous_url": "https://rendezvous.example.org/abc-123"})
	raw, _ := hex.DecodeString(q.Hex)
	qr, err := qrlogin.ParseQRCodeData(raw)
	if err != nil {
		t.Fatal(err)
	}
	if qr.Intent() != qrlogin.IntentLogin || qr.PublicKey().String() != e.PublicKey || qr.RendezvousURL() != "https://rendezvous.example.org/abc-123" {
		t.Fatalf("Element's QR code read as %v %s %s", qr.Intent(), qr.PublicKey(), qr.RendezvousURL())
	}
	s, err := qrlogin.GenerateECIES()
	if err != nil {
		t.Fatal(err)
	}
	ch, first, err := s.EstablishOutbound(qr.PublicKey(), []byte("MATRIX_QR_CODE_LOGIN_INITIATE"))
	if err != nil {
		t.Fatal(err)
	}
	var in eciesAnswer
	el.call(&in, "ecies_inbound", map[string]any{"handle": "g", "initial_message": first.String()})
	if in.Plaintext != "MATRIX_QR_CODE_LOGIN_INITIATE" {
		t.Fatalf("Element read the first message as %q", in.Plaintext)
	}
	checkSameCode(t, ch.CheckCode(), in)
	eciesExchange(t, el, "g", ch)
}

// TestQRLoginECIESSouverainShowsCode: we are the recipient (device G) and
// show a reciprocate QR code; Element scans it and opens the channel.
func TestQRLoginECIESSouverainShowsCode(t *testing.T) {
	el := startNodeHarness(t, "qrlogin.mjs")
	g, err := qrlogin.GenerateECIES()
	if err != nil {
		t.Fatal(err)
	}
	qr, err := qrlogin.NewQRCodeDataMSC4108(g.PublicKey(), qrlogin.IntentReciprocate, "https://rendezvous.example.org/e8da6355", "example.org")
	if err != nil {
		t.Fatal(err)
	}
	var q qrAnswer
	el.call(&q, "qr_parse", map[string]any{"hex": hex.EncodeToString(qr.Bytes())})
	if q.Intent != "reciprocate" || q.PublicKey != g.PublicKey().String() || q.ServerName != "example.org" || q.RendezvousURL != qr.RendezvousURL() || q.Hex != hex.EncodeToString(qr.Bytes()) {
		t.Fatalf("Element read our QR code as %+v", q)
	}
	var e, out eciesAnswer
	el.call(&e, "ecies_new", map[string]any{"handle": "s"})
	el.call(&out, "ecies_outbound", map[string]any{"handle": "s", "their_key": q.PublicKey, "plaintext": "MATRIX_QR_CODE_LOGIN_INITIATE"})
	first, err := qrlogin.ParseECIESInitialMessage(out.InitialMessage)
	if err != nil {
		t.Fatal(err)
	}
	// A man in the middle swapping the key is refused; the genuine message
	// still opens the channel afterwards.
	mallory, _ := qrlogin.GenerateECIES()
	if _, _, err := g.EstablishInbound(&qrlogin.ECIESInitialMessage{PublicKey: mallory.PublicKey(), Ciphertext: first.Ciphertext}); !errors.Is(err, qrlogin.ErrBadMessageMAC) {
		t.Fatalf("swapped key: %v", err)
	}
	ch, pt, err := g.EstablishInbound(first)
	if err != nil || string(pt) != "MATRIX_QR_CODE_LOGIN_INITIATE" {
		t.Fatalf("EstablishInbound: %q, %v", pt, err)
	}
	if ch.TheirPublicKey().String() != out.PublicKey {
		t.Fatal("their key differs from Element's")
	}
	checkSameCode(t, ch.CheckCode(), out)
	eciesExchange(t, el, "s", ch)
}

// TestQRCodeDataElement: QR code data in both formats and both intents,
// built on one side and read on the other, byte for byte.
func TestQRCodeDataElement(t *testing.T) {
	el := startNodeHarness(t, "qrlogin.mjs")
	key := "2IZoarIZe3gOMAqdSiFHSAcA15KfOasxueUUNwJI7Ws"
	cases := []map[string]any{
		{"format": "MSC4108", "intent": "login", "rendezvous_url": "https://rendezvous.lab.element.dev/e8da6355-550b-4a32-a193-1619d9830668"},
		{"format": "MSC4108", "intent": "reciprocate", "rendezvous_url": "https://synapse.example/_synapse/client/rendezvous/01HX9K", "server_name": "https://synapse.example/"},
		{"format": "MSC4388", "intent": "login", "rendezvous_id": "e8da6355-550b-4a32-a193-1619d9830668", "base_url": "https://matrix-client.matrix.org/"},
		{"format": "MSC4388", "intent": "reciprocate", "rendezvous_id": "01HX9K00Q1H6KPD47EG4G1T3XG", "base_url": "https://synapse.example/matrix/"},
	}
	k, _ := qrlogin.ParsePublicKey(key)
	for _, c := range cases {
		t.Run(fmt.Sprint(c["format"], "-", c["intent"]), func(t *testing.T) {
			c["public_key"] = key
			var q qrAnswer
			el.call(&q, "qr_new", c)
			intent := qrlogin.IntentLogin
			if c["intent"] == "reciprocate" {
				intent = qrlogin.IntentReciprocate
			}
			var ours *qrlogin.QRCodeData
			var err error
			if c["format"] == "MSC4108" {
				sn, _ := c["server_name"].(string)
				ours, err = qrlogin.NewQRCodeDataMSC4108(k, intent, c["rendezvous_url"].(string), sn)
			} else {
				ours, err = qrlogin.NewQRCodeDataMSC4388(k, intent, c["rendezvous_id"].(string), c["base_url"].(string))
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(ours.Bytes()); got != q.Hex {
				t.Fatalf("we build %s\nElement builds %s", got, q.Hex)
			}
			if ours.String() != q.Base64 {
				t.Fatalf("base64 %s, Element's %s", ours, q.Base64)
			}
			raw, _ := hex.DecodeString(q.Hex)
			parsed, err := qrlogin.ParseQRCodeData(raw)
			if err != nil {
				t.Fatal(err)
			}
			if parsed.Intent().String() != q.Intent || parsed.Format().String() != q.Format || parsed.PublicKey().String() != q.PublicKey ||
				parsed.RendezvousURL() != q.RendezvousURL || parsed.ServerName() != q.ServerName || parsed.RendezvousID() != q.RendezvousID {
				t.Fatalf("we read %v/%v/%s/%s/%s/%s, Element %+v", parsed.Format(), parsed.Intent(), parsed.PublicKey(), parsed.RendezvousURL(), parsed.ServerName(), parsed.RendezvousID(), q)
			}
			var back qrAnswer
			el.call(&back, "qr_parse", map[string]any{"hex": hex.EncodeToString(ours.Bytes())})
			if back.Hex != q.Hex {
				t.Fatalf("Element re-encodes our bytes as %s", back.Hex)
			}
		})
	}
	// Malformed data both refuse, and where they differ: Element ignores
	// trailing bytes, which we refuse.
	good, _ := qrlogin.NewQRCodeDataMSC4108(k, qrlogin.IntentLogin, "https://rendezvous.example.org/x", "")
	b := good.Bytes()
	for name, bad := range map[string][]byte{
		"unknown version": append(append([]byte("MATRIX"), 0x01), b[7:]...),
		"unknown intent":  append(append([]byte("MATRIX\x02"), 0x05), b[8:]...),
		"truncated":       b[:len(b)-2],
		"bad prefix":      append([]byte("MATRIY"), b[6:]...),
	} {
		if _, err := qrlogin.ParseQRCodeData(bad); !errors.Is(err, qrlogin.ErrBadQRCode) {
			t.Errorf("%s: we accept it: %v", name, err)
		}
		if err := el.try(nil, "qr_parse", map[string]any{"hex": hex.EncodeToString(bad)}); err == nil {
			t.Errorf("%s: Element accepts it", name)
		}
	}
	trailing := append(append([]byte(nil), b...), 0x00)
	if _, err := qrlogin.ParseQRCodeData(trailing); !errors.Is(err, qrlogin.ErrBadQRCode) {
		t.Errorf("trailing byte: we accept it: %v", err)
	}
	if err := el.try(nil, "qr_parse", map[string]any{"hex": hex.EncodeToString(trailing)}); err != nil {
		t.Logf("Element now refuses trailing bytes too: %v", err)
	}
}
