package megolm

import (
	"bytes"
	"errors"
	"testing"

	"github.com/souverain/e2ee/internal/testkit"
)

type fuzzFixture struct {
	out     *GroupSession
	in      *InboundGroupSession
	msg     []byte
	key     *SessionKey
	export  *ExportedSessionKey
	inBody  []byte
	outBody []byte
}

func newFuzzFixture(t testing.TB) *fuzzFixture {
	random := make([]byte, 160)
	for i := range random {
		random[i] = byte(i * 7)
	}
	out, err := newGroupSession(SessionConfigV1(), random)
	if err != nil {
		t.Fatal(err)
	}
	f := &fuzzFixture{out: out, key: out.SessionKey()}
	f.in, _ = NewInboundGroupSession(f.key)
	out.Encrypt([]byte("first"))
	f.msg, _ = out.Encrypt([]byte("second"))
	f.export, _ = f.in.ExportAt(1)
	var w pickleWriter
	f.in.st.d.marshal(&w.Writer)
	f.inBody = w.Buf
	var w2 pickleWriter
	out.st.marshal(&w2.Writer)
	f.outBody = w2.Buf
	return f
}

func sentinel(err error, sentinels ...error) bool {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

func FuzzDecrypt(f *testing.F) {
	fx := newFuzzFixture(f)
	f.Add(fx.msg)
	f.Fuzz(func(t *testing.T, b []byte) {
		before := fx.in.marshalForTest()
		pt, _, err := fx.in.Decrypt(b)
		if err != nil {
			if !sentinel(err, ErrBadMessageFormat, ErrBadMessageVersion, ErrMessageTooLarge, ErrBadSignature, ErrUnknownMessageIndex, ErrBadMessageMAC) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			if !bytes.Equal(before, fx.in.marshalForTest()) {
				t.Fatal("failed decrypt changed the session")
			}
			return
		}
		// Unknown fields inside the signed part are skipped but signed, so
		// only the genuine message can decrypt.
		if !bytes.Equal(b, fx.msg) || string(pt) != "second" {
			t.Fatalf("forged message decrypted: %x", b)
		}
	})
}

func FuzzParseMessage(f *testing.F) {
	fx := newFuzzFixture(f)
	f.Add(fx.msg)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseMessage(b)
		if err != nil {
			if !sentinel(err, ErrBadMessageFormat, ErrBadMessageVersion, ErrMessageTooLarge) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			return
		}
		if !bytes.Equal(m.Bytes(), b) {
			t.Fatal("Bytes differs from input")
		}
	})
}

func FuzzParseSessionKey(f *testing.F) {
	fx := newFuzzFixture(f)
	f.Add(fx.key.Encode())
	f.Add(fx.export.Encode())
	f.Fuzz(func(t *testing.T, s string) {
		if k, err := ParseSessionKey(s); err == nil {
			if k2, err := ParseSessionKey(k.Encode()); err != nil || k2.raw != k.raw {
				t.Fatal("session key does not round-trip")
			}
			in, _ := NewInboundGroupSession(k)
			in.ExportAt(k.Index() + 300)
		} else if !sentinel(err, ErrBadSessionKey, ErrBadSignature) {
			t.Fatalf("error %v wraps no sentinel", err)
		}
		if k, err := ParseExportedSessionKey(s); err == nil {
			in, _ := ImportInboundGroupSession(k)
			if in.Export().raw != k.raw {
				t.Fatal("export does not round-trip")
			}
		} else if !sentinel(err, ErrBadSessionKey) {
			t.Fatalf("error %v wraps no sentinel", err)
		}
	})
}

func FuzzUnmarshal(f *testing.F) {
	fx := newFuzzFixture(f)
	f.Add(fx.inBody)
	f.Add(fx.outBody)
	f.Fuzz(func(t *testing.T, b []byte) {
		if s, err := unmarshalInboundGroupSession(b, SessionConfigV1(), true); err == nil {
			s.Decrypt(fx.msg)
			s.ExportAt(s.FirstKnownIndex())
		} else if !sentinel(err, ErrCorruptedPickle, ErrUnknownPickleVersion) {
			t.Fatalf("error %v wraps no sentinel", err)
		}
		if s, err := unmarshalGroupSession(b, SessionConfigV1()); err == nil {
			s.Encrypt([]byte("x"))
		} else if !sentinel(err, ErrCorruptedPickle, ErrUnknownPickleVersion) {
			t.Fatalf("error %v wraps no sentinel", err)
		}
	})
}

func FuzzUnpickle(f *testing.F) {
	fx := newFuzzFixture(f)
	key := bytes.Repeat([]byte{1}, 32)
	p1, _ := fx.in.PickleLibolm(key)
	p2, _ := fx.out.Pickle(key)
	f.Add(p1)
	f.Add(p2)
	f.Fuzz(func(t *testing.T, s string) {
		for _, fn := range []func() error{
			func() error { _, err := UnpickleLibolmInboundGroupSession(s, key); return err },
			func() error { _, err := UnpickleLibolmGroupSession(s, key); return err },
			func() error { _, err := UnpickleInboundGroupSession(s, key); return err },
			func() error { _, err := UnpickleGroupSession(s, key); return err },
		} {
			if err := fn(); err != nil && !sentinel(err, ErrBadPickleKey, ErrCorruptedPickle, ErrUnknownPickleVersion) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
		}
	})
}

func (s *InboundGroupSession) marshalForTest() []byte {
	var w pickleWriter
	s.st.d.marshal(&w.Writer)
	return w.Buf
}

// TestWriteFuzzCorpus regenerates testdata/fuzz when
// SOUVERAIN_WRITE_CORPUS=1.
func TestWriteFuzzCorpus(t *testing.T) {
	testkit.SkipUnlessWritingCorpus(t)
	fx := newFuzzFixture(t)
	write := func(target, name string, v any) { testkit.WriteCorpusEntry(t, target, name, v) }
	m := fx.msg
	for _, target := range []string{"FuzzDecrypt", "FuzzParseMessage"} {
		write(target, "valid", m)
		write(target, "truncated", m[:len(m)-70])
		write(target, "version4", append([]byte{4}, m[1:]...))
		write(target, "flipped-signature", append(bytes.Clone(m[:len(m)-1]), m[len(m)-1]^1))
		write(target, "huge-length", append([]byte("\x03\x08\x01\x12\xff\xff\xff\xff\x0f"), make([]byte, 72)...))
	}
	write("FuzzParseSessionKey", "session-key", fx.key.Encode())
	write("FuzzParseSessionKey", "export", fx.export.Encode())
	write("FuzzParseSessionKey", "padded", fx.key.Encode()+"=")
	write("FuzzUnmarshal", "inbound", fx.inBody)
	write("FuzzUnmarshal", "outbound", fx.outBody)
	write("FuzzUnmarshal", "inbound-v1", append([]byte{0, 0, 0, 1}, fx.inBody[4:len(fx.inBody)-1]...))
	var w pickleWriter
	fx.in.st.d.marshalOwn(&w.Writer)
	write("FuzzUnmarshal", "inbound-v3", w.Buf)
	key := bytes.Repeat([]byte{1}, 32)
	p, _ := fx.in.PickleLibolm(key)
	write("FuzzUnpickle", "libolm-inbound", p)
	p, _ = fx.out.Pickle(key)
	write("FuzzUnpickle", "own-outbound", p)
	p, _ = fx.in.Pickle(key)
	write("FuzzUnpickle", "own-inbound", p)
	p, _ = fx.out.PickleLibolm(key)
	write("FuzzUnpickle", "libolm-outbound", p)
}
