package qrlogin

import (
	"bytes"
	"encoding/hex"
	"testing"

	"github.com/souverain/e2ee/internal/testkit"
)

// fuzzFixture is a fixed pair of channels of each kind, made with the
// deterministic twins, and the next genuine message towards the recipient.
type fuzzFixture struct {
	eciesG       *ECIESChannel
	eciesNext    *ECIESMessage
	eciesFirst   *ECIESInitialMessage
	hpkeG        *HPKEChannel
	hpkeNext     *HPKEMessage
	hpkeFirst    *HPKEInitialMessage
	hpkeResponse *HPKEInitialResponse
	qr4108       *QRCodeData
	qr4388       *QRCodeData
}

func seed(b byte) *[32]byte {
	var s [32]byte
	for i := range s {
		s[i] = b + byte(i)
	}
	return &s
}

func newFuzzFixture(t testing.TB) *fuzzFixture {
	t.Helper()
	var fx fuzzFixture
	g, _ := newECIES(seed(1))
	s, _ := newECIES(seed(2))
	sc, first, err := s.EstablishOutbound(g.PublicKey(), []byte("MATRIX_QR_CODE_LOGIN_INITIATE"))
	if err != nil {
		t.Fatal(err)
	}
	gk := g.PublicKey()
	fx.eciesG, _, err = g.EstablishInbound(first)
	if err != nil {
		t.Fatal(err)
	}
	fx.eciesFirst = first
	fx.eciesNext, _ = sc.Encrypt([]byte(`{"type":"m.login.protocols"}`))

	r, _ := newHPKERecipient(seed(3))
	rk := r.PublicKey()
	sender, hfirst, err := establishHPKESender(rk, []byte("initiate"), nil, seed(4))
	if err != nil {
		t.Fatal(err)
	}
	rc, _, err := r.Establish(hfirst, nil)
	if err != nil {
		t.Fatal(err)
	}
	var nonce [ResponseNonceSize]byte
	copy(nonce[:], seed(5)[:])
	hg, resp, err := rc.respond([]byte("welcome"), nil, &nonce)
	if err != nil {
		t.Fatal(err)
	}
	hs, _, err := sender.Establish(resp, nil)
	if err != nil {
		t.Fatal(err)
	}
	fx.hpkeG, fx.hpkeFirst, fx.hpkeResponse = hg, hfirst, resp
	fx.hpkeNext, _ = hs.Seal([]byte(`{"type":"m.login.protocol"}`), nil)

	fx.qr4108, err = NewQRCodeDataMSC4108(gk, IntentReciprocate, "https://rendezvous.example.org/e8da6355", "example.org")
	if err != nil {
		t.Fatal(err)
	}
	fx.qr4388, err = NewQRCodeDataMSC4388(rk, IntentLogin, "01HX9K00Q1H6KPD47EG4G1T3XG", "https://matrix-client.example.org/")
	if err != nil {
		t.Fatal(err)
	}
	return &fx
}

// cloneECIES copies a channel's state, so that each fuzz input starts from
// the same one.
func cloneECIES(c *ECIESChannel) *ECIESChannel {
	return &ECIESChannel{ours: c.ours, theirs: c.theirs, initiator: c.initiator, checkCode: c.checkCode, enc: c.enc, dec: c.dec}
}

func cloneHPKE(c *HPKEChannel) *HPKEChannel {
	return &HPKEChannel{ours: c.ours, theirs: c.theirs, sender: c.sender, checkCode: c.checkCode, seal: c.seal, open: c.open}
}

// FuzzParseQRCodeData: never panics; whatever decodes encodes back to the
// same bytes and decodes again to the same fields.
func FuzzParseQRCodeData(f *testing.F) {
	fx := newFuzzFixture(f)
	f.Add(fx.qr4108.Bytes())
	f.Add(fx.qr4388.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := ParseQRCodeData(b)
		if err != nil {
			if q != nil {
				t.Fatal("data returned with an error")
			}
			return
		}
		out := q.Bytes()
		if !bytes.Equal(out, b) {
			t.Fatalf("re-encoded %x, decoded %x", out, b)
		}
		q2, err := ParseQRCodeDataBase64(q.String())
		if err != nil || *q2 != *q {
			t.Fatalf("base64 round trip: %v", err)
		}
	})
}

// FuzzECIESMessages: the ECIES decoders never panic, re-encode what they
// accept to the same text, and a channel or an unestablished ECIES given
// anything but the genuine message fails and is unchanged: the genuine
// message still opens it.
func FuzzECIESMessages(f *testing.F) {
	fx := newFuzzFixture(f)
	f.Add(fx.eciesNext.String())
	f.Add(fx.eciesFirst.String())
	f.Fuzz(func(t *testing.T, s string) {
		if m, err := ParseECIESMessage(s); err == nil {
			if m.String() != s {
				t.Fatalf("re-encoded %q, decoded %q", m, s)
			}
			ch := cloneECIES(fx.eciesG)
			pt, err := ch.Decrypt(m)
			if err != nil {
				if pt != nil {
					t.Fatal("plaintext with an error")
				}
				if _, err := ch.Decrypt(fx.eciesNext); err != nil {
					t.Fatalf("genuine message after a failure: %v", err)
				}
			} else if !bytes.Equal(m.Ciphertext, fx.eciesNext.Ciphertext) {
				t.Fatalf("forged message %q decrypted", s)
			}
		}
		if m, err := ParseECIESInitialMessage(s); err == nil {
			if m.String() != s {
				t.Fatalf("re-encoded %q, decoded %q", m, s)
			}
			g, _ := newECIES(seed(1))
			if _, _, err := g.EstablishInbound(m); err != nil {
				if _, _, err := g.EstablishInbound(fx.eciesFirst); err != nil {
					t.Fatalf("genuine initial message after a failure: %v", err)
				}
			} else if m.String() != fx.eciesFirst.String() {
				t.Fatalf("forged initial message %q accepted", s)
			}
		}
	})
}

// FuzzHPKEMessages: the same for the three HPKE messages.
func FuzzHPKEMessages(f *testing.F) {
	fx := newFuzzFixture(f)
	f.Add(fx.hpkeNext.String())
	f.Add(fx.hpkeFirst.String())
	f.Add(fx.hpkeResponse.String())
	f.Fuzz(func(t *testing.T, s string) {
		if m, err := ParseHPKEMessage(s); err == nil {
			if m.String() != s {
				t.Fatalf("re-encoded %q, decoded %q", m, s)
			}
			ch := cloneHPKE(fx.hpkeG)
			if _, err := ch.Open(m, nil); err != nil {
				if _, err := ch.Open(fx.hpkeNext, nil); err != nil {
					t.Fatalf("genuine message after a failure: %v", err)
				}
			} else if !bytes.Equal(m.Ciphertext, fx.hpkeNext.Ciphertext) {
				t.Fatalf("forged message %q opened", s)
			}
		}
		if m, err := ParseHPKEInitialMessage(s); err == nil {
			if m.String() != s {
				t.Fatalf("re-encoded %q, decoded %q", m, s)
			}
			r, _ := newHPKERecipient(seed(3))
			if _, _, err := r.Establish(m, nil); err != nil {
				if _, _, err := r.Establish(fx.hpkeFirst, nil); err != nil {
					t.Fatalf("genuine initial message after a failure: %v", err)
				}
			} else if m.String() != fx.hpkeFirst.String() {
				t.Fatalf("forged initial message %q accepted", s)
			}
		}
		if m, err := ParseHPKEInitialResponse(s); err == nil {
			if m.String() != s {
				t.Fatalf("re-encoded %q, decoded %q", m, s)
			}
		}
	})
}

// TestWriteFuzzCorpus regenerates the checked-in seed corpora under
// testdata/fuzz when SOUVERAIN_WRITE_CORPUS=1.
func TestWriteFuzzCorpus(t *testing.T) {
	testkit.SkipUnlessWritingCorpus(t)
	fx := newFuzzFixture(t)
	write := func(target, name string, v any) { testkit.WriteCorpusEntry(t, target, name, v) }
	q := fx.qr4108.Bytes()
	write("FuzzParseQRCodeData", "msc4108-reciprocate", q)
	write("FuzzParseQRCodeData", "msc4108-truncated", q[:len(q)-3])
	write("FuzzParseQRCodeData", "msc4108-trailing", append(bytes.Clone(q), 0))
	write("FuzzParseQRCodeData", "msc4108-long-length", append(bytes.Clone(q[:40]), 0xff, 0xff))
	write("FuzzParseQRCodeData", "msc4388-login", fx.qr4388.Bytes())
	rust, _ := hex.DecodeString("4d41545249580203d886686ab2197b780e300a9d4a2147480700d7929f39ab31b9e514370248ed6b004768747470733a2f2f72656e64657a766f75732e6c61622e656c656d656e742e6465762f65386461363335352d353530622d346133322d613139332d313631396439383330363638")
	write("FuzzParseQRCodeData", "matrix-rust-sdk-msc4108-login", rust)
	write("FuzzECIESMessages", "message", fx.eciesNext.String())
	write("FuzzECIESMessages", "initial", fx.eciesFirst.String())
	write("FuzzECIESMessages", "vodozemac-initial", "3On7QFJyLQMAErua9K/yIOcJALvuMYax1AW0iWgf64AwtSMZXwAA012Q|9yA/CX8pJKF02Prd75ZyBQHg3fGTVVGDNl86q1z17Us")
	write("FuzzECIESMessages", "padded", fx.eciesNext.String()+"==")
	write("FuzzECIESMessages", "no-separator", "AAAA")
	write("FuzzHPKEMessages", "message", fx.hpkeNext.String())
	write("FuzzHPKEMessages", "initial", fx.hpkeFirst.String())
	write("FuzzHPKEMessages", "response", fx.hpkeResponse.String())
	write("FuzzHPKEMessages", "vodozemac-initial", "9yA/CX8pJKF02Prd75ZyBQHg3fGTVVGDNl86q1z17Uvc6ftAUnItAwASu5r0r/Ig5wkAu+4xhrHUBbSJaB/rgDC1IxlfAADTXZA")
	write("FuzzHPKEMessages", "vodozemac-fuzz-seed-2", "/BgAPw")
	write("FuzzParseText", "qr-msc4108", fx.qr4108.String())
	write("FuzzParseText", "qr-msc4388-padded", fx.qr4388.String()+"=")
	write("FuzzParseText", "key", fx.qr4388.PublicKey().String())
	write("FuzzParseText", "key-trailing-bits", "2IZoarIZe3gOMAqdSiFHSAcA15KfOasxueUUNwJI7Wt")
}

// FuzzParseText: the text decoders of keys and base64 QR code data never
// panic and give back the same text when encoding what they accept.
func FuzzParseText(f *testing.F) {
	fx := newFuzzFixture(f)
	f.Add(fx.qr4108.String())
	f.Add(fx.qr4388.PublicKey().String())
	f.Fuzz(func(t *testing.T, s string) {
		if k, err := ParsePublicKey(s); err == nil && k.String() != s {
			t.Fatalf("key %q re-encoded as %q", s, k)
		}
		if q, err := ParseQRCodeDataBase64(s); err == nil && q.String() != s {
			t.Fatalf("QR code data %q re-encoded as %q", s, q)
		}
	})
}
