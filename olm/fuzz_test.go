package olm

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/souverain/e2ee/internal/testkit"
)

// The fuzz targets live in the package itself so that they can reach the
// pickle bodies under the encryption, where the structure is.

// fuzzFixture is a fixed account pair with sessions in both directions,
// built from fixed randomness so that the seed corpus is stable.
type fuzzFixture struct {
	alice, bob            *Account
	aliceSession, bobSess *Session
	preKey                *PreKeyMessage
	normal                *NormalMessage
	accountBody, sessBody []byte
	accountText, sessText string
}

var pickleKey = []byte("fuzz pickle key")

func seq(start byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = start + byte(i)
	}
	return b
}

func newFuzzFixture(t testing.TB) *fuzzFixture {
	f := &fuzzFixture{}
	var err error
	if f.alice, err = newAccount(seq(1, 64)); err != nil {
		t.Fatal(err)
	}
	if f.bob, err = newAccount(seq(100, 64)); err != nil {
		t.Fatal(err)
	}
	f.bob.st.generateOneTimeKeys(seq(50, 64))
	f.bob.st.generateFallbackKey(seq(7, 32))
	var otk Curve25519PublicKey
	for _, k := range f.bob.OneTimeKeys() {
		otk = k
		break
	}
	if f.aliceSession, err = newOutboundSession(SessionConfigV1(), &f.alice.st.identity, f.bob.st.identity.pub, otk, seq(9, 64)); err != nil {
		t.Fatal(err)
	}
	m, _ := f.aliceSession.st.encrypt([]byte("first"), nil)
	f.preKey = m.(*PreKeyMessage)
	bobCopy, _ := unmarshalAccount(f.bob.st.marshal(MaxOneTimeKeys, false), false)
	if f.bobSess, _, err = bobCopy.NewInboundSession(f.alice.st.identity.pub, f.preKey); err != nil {
		t.Fatal(err)
	}
	r, _ := f.bobSess.st.encrypt([]byte("reply"), seq(33, 32))
	f.aliceSession.Decrypt(r)
	m, _ = f.aliceSession.st.encrypt([]byte("second"), seq(77, 32))
	f.normal = m.(*NormalMessage)
	f.accountBody = f.bob.st.marshal(MaxOneTimeKeys, false)
	w := &pickleWriterForTest{}
	f.sessBody = w.session(f.aliceSession)
	f.accountText, _ = f.bob.PickleLibolm(pickleKey)
	f.sessText, _ = f.aliceSession.PickleLibolm(pickleKey)
	return f
}

type pickleWriterForTest struct{}

func (pickleWriterForTest) session(s *Session) []byte {
	p, _ := s.PickleLibolm(nil)
	body, err := decryptLibolmForTest(p)
	if err != nil {
		panic(err)
	}
	return body
}

func FuzzParseNormalMessage(f *testing.F) {
	fx := newFuzzFixture(f)
	f.Add(fx.normal.Bytes())
	f.Add(fx.preKey.Message().Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseNormalMessage(b)
		if err != nil {
			if !errors.Is(err, ErrBadMessageFormat) && !errors.Is(err, ErrBadMessageVersion) && !errors.Is(err, ErrMessageTooLarge) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			return
		}
		if !bytes.Equal(m.Bytes(), b) {
			t.Fatal("Bytes() differs from the input")
		}
		before := fx.bobSess.marshalForTest()
		if _, err := fx.bobSess.Decrypt(m); err == nil {
			// Only the genuine message may decrypt; restore the state.
			if !bytes.Equal(b, fx.normal.Bytes()) {
				t.Fatalf("forged message decrypted: %x", b)
			}
			fx.bobSess = mustUnmarshalSession(t, before)
			return
		}
		if after := fx.bobSess.marshalForTest(); !bytes.Equal(before, after) {
			t.Fatal("failed decrypt changed the session")
		}
	})
}

func FuzzParseMessageBody(f *testing.F) {
	fx := newFuzzFixture(f)
	f.Add(fx.preKey.Body())
	f.Add(fx.normal.Body())
	f.Fuzz(func(t *testing.T, body string) {
		for _, typ := range []MessageType{MessageTypePreKey, MessageTypeNormal} {
			m, err := ParseMessageBody(typ, body)
			if err != nil {
				if !errors.Is(err, ErrBadMessageFormat) && !errors.Is(err, ErrBadMessageVersion) && !errors.Is(err, ErrMessageTooLarge) {
					t.Fatalf("error %v wraps no sentinel", err)
				}
				continue
			}
			again, err := ParseMessageBody(m.Type(), m.Body())
			if err != nil || !bytes.Equal(again.Bytes(), m.Bytes()) {
				t.Fatalf("Body does not parse back: %v", err)
			}
		}
	})
}

func FuzzParsePreKeyMessage(f *testing.F) {
	fx := newFuzzFixture(f)
	f.Add(fx.preKey.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParsePreKeyMessage(b)
		if err != nil {
			if !errors.Is(err, ErrBadMessageFormat) && !errors.Is(err, ErrBadMessageVersion) && !errors.Is(err, ErrMessageTooLarge) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			return
		}
		if !bytes.Equal(m.Bytes(), b) {
			t.Fatal("Bytes() differs from the input")
		}
		before := fx.bob.st.marshal(MaxOneTimeKeys, true)
		if _, _, err := fx.bob.NewInboundSession(m.IdentityKey(), m); err != nil {
			if after := fx.bob.st.marshal(MaxOneTimeKeys, true); !bytes.Equal(before, after) {
				t.Fatal("failed inbound session changed the account")
			}
			return
		}
		// The outer message has no MAC, so unknown fields added to it
		// still decrypt. Restore the one-time key and the record of used
		// pre-key messages for later inputs.
		fx.bob, _ = unmarshalAccount(before, true)
	})
}

func FuzzUnmarshalAccount(f *testing.F) {
	fx := newFuzzFixture(f)
	f.Add(fx.accountBody)
	f.Add(fx.alice.st.marshal(MaxOneTimeKeys, false))
	f.Add(fx.bob.st.marshal(MaxOneTimeKeys, true))
	f.Fuzz(func(t *testing.T, b []byte) {
		if a, err := unmarshalAccount(b, true); err == nil {
			a.Sign([]byte("x")) // the trusted path must not panic either
		}
		a, err := unmarshalAccount(b, false)
		if err != nil {
			if !errors.Is(err, ErrCorruptedPickle) && !errors.Is(err, ErrUnknownPickleVersion) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			return
		}
		if a.NumOneTimeKeys() > MaxOneTimeKeys {
			t.Fatal("cap exceeded")
		}
		a.st.marshal(MaxOneTimeKeys, false)
		a.Sign([]byte("x"))
	})
}

func FuzzUnmarshalSession(f *testing.F) {
	fx := newFuzzFixture(f)
	f.Add(fx.sessBody)
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := unmarshalSession(b, SessionConfigV1(), true)
		if err != nil {
			if !errors.Is(err, ErrCorruptedPickle) && !errors.Is(err, ErrUnknownPickleVersion) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			return
		}
		// Booleans other than 0 and 1 read as true, so compare the
		// second encoding with the first.
		once := s.marshalForTest()
		if !bytes.Equal(mustUnmarshalSession(t, once).marshalForTest(), once) {
			t.Fatal("re-marshalled session differs")
		}
		s.Decrypt(fx.normal)
		s.st.encrypt([]byte("x"), seq(1, 32))
	})
}

func FuzzUnpickleLibolm(f *testing.F) {
	fx := newFuzzFixture(f)
	f.Add(fx.accountText)
	f.Add(fx.sessText)
	f.Fuzz(func(t *testing.T, s string) {
		if _, err := UnpickleLibolmAccount(s, pickleKey); err != nil && !errors.Is(err, ErrBadPickleKey) && !errors.Is(err, ErrCorruptedPickle) && !errors.Is(err, ErrUnknownPickleVersion) {
			t.Fatalf("error %v wraps no sentinel", err)
		}
		if _, err := UnpickleLibolmSession(s, pickleKey); err != nil && !errors.Is(err, ErrBadPickleKey) && !errors.Is(err, ErrCorruptedPickle) && !errors.Is(err, ErrUnknownPickleVersion) {
			t.Fatalf("error %v wraps no sentinel", err)
		}
	})
}

func FuzzUnpickle(f *testing.F) {
	fx := newFuzzFixture(f)
	key := bytes.Repeat([]byte{1}, 32)
	a, _ := fx.bob.Pickle(key)
	s, _ := fx.aliceSession.Pickle(key)
	f.Add(a)
	f.Add(s)
	f.Fuzz(func(t *testing.T, text string) {
		if _, err := UnpickleAccount(text, key); err != nil && !errors.Is(err, ErrBadPickleKey) && !errors.Is(err, ErrCorruptedPickle) && !errors.Is(err, ErrUnknownPickleVersion) {
			t.Fatalf("error %v wraps no sentinel", err)
		}
		if _, err := UnpickleSession(text, key); err != nil && !errors.Is(err, ErrBadPickleKey) && !errors.Is(err, ErrCorruptedPickle) && !errors.Is(err, ErrUnknownPickleVersion) {
			t.Fatalf("error %v wraps no sentinel", err)
		}
	})
}

func FuzzParseKeys(f *testing.F) {
	f.Add("hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo")
	f.Add("hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=")
	f.Add("K8280/U9SSy9IVtjBuVeLr+HpOB4BQFWbg+UZaADMtTdGYI7Geitb76LTrr5QV/7Xg4ahLwYGYZzuHGZKM5ZAQ")
	f.Add("AAAAAQ")
	f.Fuzz(func(t *testing.T, s string) {
		if k, err := ParseCurve25519PublicKey(s); err == nil {
			if k2, err := ParseCurve25519PublicKey(k.String()); err != nil || k2 != k {
				t.Fatal("curve25519 key does not round-trip")
			}
		} else if !errors.Is(err, ErrBadPublicKey) {
			t.Fatalf("error %v wraps no sentinel", err)
		}
		if k, err := ParseEd25519PublicKey(s); err == nil {
			k.Verify([]byte("m"), Ed25519Signature{})
		}
		if sig, err := ParseEd25519Signature(s); err == nil {
			if sig2, err := ParseEd25519Signature(sig.String()); err != nil || sig2 != sig {
				t.Fatal("signature does not round-trip")
			}
		} else if !errors.Is(err, ErrBadSignature) {
			t.Fatalf("error %v wraps no sentinel", err)
		}
		if id, err := ParseKeyID(s); err == nil {
			if id2, err := ParseKeyID(id.String()); err != nil || id2 != id {
				t.Fatalf("key ID %q does not round-trip", s)
			}
		}
	})
}

func (s *Session) marshalForTest() []byte {
	return pickleWriterForTest{}.session(s)
}

func mustUnmarshalSession(t *testing.T, body []byte) *Session {
	s, err := unmarshalSession(body, SessionConfigV1(), true)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestWriteFuzzCorpus regenerates the checked-in seed corpora under
// testdata/fuzz when SOUVERAIN_WRITE_CORPUS=1.
func TestWriteFuzzCorpus(t *testing.T) {
	testkit.SkipUnlessWritingCorpus(t)
	fx := newFuzzFixture(t)
	write := func(target, name string, v any) { testkit.WriteCorpusEntry(t, target, name, v) }
	nm := fx.normal.Bytes()
	write("FuzzParseNormalMessage", "valid", nm)
	write("FuzzParseNormalMessage", "truncated", nm[:len(nm)/2])
	write("FuzzParseNormalMessage", "version2", append([]byte{4}, nm[1:]...))
	write("FuzzParseNormalMessage", "huge-length", []byte("\x03\x0a\xff\xff\xff\xff\xff\xff\xff\xff\x7f01234567"))
	write("FuzzParseNormalMessage", "fixed64-tag", append([]byte("\x03\x29\x00\x00\x00\x00\x00\x00\x00\x00"), nm[1:]...))
	write("FuzzParseMessageBody", "pre-key", fx.preKey.Body())
	write("FuzzParseMessageBody", "normal", fx.normal.Body())
	write("FuzzParseMessageBody", "padded", fx.normal.Body()+"=")
	write("FuzzParseMessageBody", "raw-bytes", string(fx.normal.Bytes()))
	pk := fx.preKey.Bytes()
	write("FuzzParsePreKeyMessage", "valid", pk)
	write("FuzzParsePreKeyMessage", "truncated", pk[:len(pk)-3])
	write("FuzzParsePreKeyMessage", "bad-version", append([]byte{2}, pk[1:]...))
	write("FuzzUnmarshalAccount", "bob", fx.accountBody)
	write("FuzzUnmarshalAccount", "truncated", fx.accountBody[:len(fx.accountBody)-5])
	write("FuzzUnmarshalAccount", "own-format", fx.bob.st.marshal(MaxOneTimeKeys, true))
	write("FuzzUnmarshalAccount", "huge-count", append(append([]byte{}, fx.accountBody[:4+32+64+64]...), 0xff, 0xff, 0xff, 0xff))
	write("FuzzUnmarshalSession", "alice", fx.sessBody)
	write("FuzzUnmarshalSession", "truncated", fx.sessBody[:len(fx.sessBody)-1])
	write("FuzzUnpickleLibolm", "account", fx.accountText)
	write("FuzzUnpickleLibolm", "session", fx.sessText)
	write("FuzzUnpickleLibolm", "padded", fx.sessText+"=")
	write("FuzzParseKeys", "curve", "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo")
	write("FuzzParseKeys", "bad-char", "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066Spjqqb-mo")
	key := bytes.Repeat([]byte{1}, 32)
	a, _ := fx.bob.Pickle(key)
	write("FuzzUnpickle", "account", a)
	p, _ := NewPayload(fx.alice, "@a:x", "@b:x", fx.bob.Ed25519Key(), "m.room_key", []byte(`{"k":1}`))
	write("FuzzParsePayload", "payload", p)
	dk, _ := fx.alice.DeviceKeys("@a:x", "A")
	var obj map[string]json.RawMessage
	json.Unmarshal(p, &obj)
	obj["sender_device_keys"] = dk
	withKeys, _ := json.Marshal(obj)
	write("FuzzParsePayload", "with-device-keys", withKeys)
	otks, _ := fx.bob.SignedOneTimeKeys("@a:x", "A")
	for _, k := range otks {
		write("FuzzParsePayload", "signed-key", []byte(k))
		break
	}
}

func decryptLibolmForTest(p string) ([]byte, error) {
	return pickleDecryptLibolm(nil, p)
}

func FuzzParsePayload(f *testing.F) {
	fx := newFuzzFixture(f)
	p, _ := NewPayload(fx.alice, "@a:x", "@b:x", fx.bob.Ed25519Key(), "m.room_key", []byte(`{"k":1}`))
	f.Add(p)
	dk, _ := fx.alice.DeviceKeys("@a:x", "A")
	f.Add(dk)
	check := PayloadCheck{Sender: "@a:x", SenderKey: fx.alice.Curve25519Key(), Recipient: "@b:x", RecipientEd25519: fx.bob.Ed25519Key()}
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := ParsePayload(b, check); err != nil && !errors.Is(err, ErrPayloadMismatch) && !errors.Is(err, ErrBadMessageFormat) {
			t.Fatalf("error %v wraps no sentinel", err)
		}
		if _, _, err := VerifySignedKey(b, "@a:x", "A", fx.alice.Ed25519Key()); err != nil && !errors.Is(err, ErrUnsignedKey) && !errors.Is(err, ErrBadPublicKey) {
			t.Fatalf("error %v wraps no sentinel", err)
		}
	})
}
