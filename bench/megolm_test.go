package bench_test

import (
	"bytes"
	"testing"

	gsession "maunium.net/go/mautrix/crypto/goolm/session"

	"github.com/souverain/e2ee/internal/pickle"
	"github.com/souverain/e2ee/interop/libolm"
	"github.com/souverain/e2ee/megolm"
)

const megolmPlaintextSize = 1024

// megolmMessageLen is the length of a Megolm message carrying n bytes at a
// small index: the MAC covers it, the signature covers it and the MAC.
func megolmMessageLen(n int) int { return 1 + 1 + 1 + 1 + 2 + n + 16 - n%16 }

// floorMegolmEncrypt is the cost of one Megolm message: a ratchet step,
// the message keys, the encryption, the MAC and the signature.
func floorMegolmEncrypt(st *floorState, n int) {
	st.hmac(1)
	st.hkdf(80, len("MEGOLM_KEYS"))
	st.cbcEncrypt(n)
	st.hmac(megolmMessageLen(n))
	st.sign(megolmMessageLen(n) + 8)
}

// floorMegolmDecrypt is the cost of decrypting one Megolm message whose
// ratchet is at hand: the signature, the message keys, the MAC, the
// decryption.
func floorMegolmDecrypt(st *floorState, n int) {
	st.verify(megolmMessageLen(n) + 8)
	st.hkdf(80, len("MEGOLM_KEYS"))
	st.hmac(megolmMessageLen(n))
	st.cbcDecrypt(n)
}

func BenchmarkMegolmEncrypt(b *testing.B) {
	pt := make([]byte, megolmPlaintextSize)
	runImpl(b, implSouverain, func(b *testing.B) {
		s := mustV[*megolm.GroupSession](b)(megolm.NewGroupSession())
		b.SetBytes(megolmPlaintextSize)
		for b.Loop() {
			m := mustV[[]byte](b)(s.Encrypt(pt))
			_ = b64.EncodeToString(m)
		}
	})
	runImpl(b, implGoolm, func(b *testing.B) {
		s := mustV[*gsession.MegolmOutboundSession](b)(gsession.NewMegolmOutboundSession())
		b.SetBytes(megolmPlaintextSize)
		for b.Loop() {
			mustV[[]byte](b)(s.Encrypt(pt))
		}
	})
	runImpl(b, implLibolm, func(b *testing.B) {
		s := mustV[*libolm.OutboundGroupSession](b)(libolm.NewOutboundGroupSessionRand())
		defer s.Free()
		b.SetBytes(megolmPlaintextSize)
		for b.Loop() {
			mustV[string](b)(s.Encrypt(pt))
		}
	})
	runImpl(b, implFloor, func(b *testing.B) {
		b.SetBytes(megolmPlaintextSize)
		for b.Loop() {
			floorMegolmEncrypt(fl, megolmPlaintextSize)
		}
	})
}

// megolmFixture is one outbound session with its session key and export at
// index 0, as base64, and one message at a chosen index, as base64.
type megolmFixture struct {
	sessionKey, export, message string
}

func newMegolmFixture(tb testing.TB, index uint32, n int) megolmFixture {
	s := mustV[*megolm.GroupSession](tb)(megolm.NewGroupSession())
	key := s.SessionKey()
	in := mustV[*megolm.InboundGroupSession](tb)(megolm.NewInboundGroupSession(key))
	f := megolmFixture{sessionKey: key.Encode(), export: in.Export().Encode()}
	if index != 0 {
		s = groupSessionAt(tb, s, in, index)
	}
	f.message = b64.EncodeToString(mustV[[]byte](tb)(s.Encrypt(make([]byte, n))))
	return f
}

// groupSessionAt returns a copy of s moved to index, by rewriting its
// libolm pickle with the ratchet at index, which the inbound session in
// computes. Encrypting 2^20 messages to get there would take seconds.
func groupSessionAt(tb testing.TB, s *megolm.GroupSession, in *megolm.InboundGroupSession, index uint32) *megolm.GroupSession {
	key := []byte("bench")
	body := mustV[[]byte](tb)(pickle.DecryptLibolm(key, mustV[string](tb)(s.PickleLibolm(key))))
	exp := mustV[*megolm.ExportedSessionKey](tb)(in.ExportAt(index)).Bytes()
	// Pickle: version (4) ‖ ratchet (128) ‖ counter (4) ‖ keys.
	// Export: version (1) ‖ counter (4) ‖ ratchet (128) ‖ signing key.
	copy(body[4:132], exp[5:133])
	copy(body[132:136], exp[1:5])
	out := mustV[*megolm.GroupSession](tb)(megolm.UnpickleLibolmGroupSession(pickle.EncryptLibolm(key, body), key))
	if out.MessageIndex() != index {
		tb.Fatalf("session at %d, want %d", out.MessageIndex(), index)
	}
	return out
}

func BenchmarkMegolmDecrypt(b *testing.B) {
	f := newMegolmFixture(b, 0, megolmPlaintextSize)
	runImpl(b, implSouverain, func(b *testing.B) {
		in := mustV[*megolm.InboundGroupSession](b)(megolm.NewInboundGroupSession(mustV[*megolm.SessionKey](b)(megolm.ParseSessionKey(f.sessionKey))))
		b.SetBytes(megolmPlaintextSize)
		for b.Loop() {
			raw := mustV[[]byte](b)(b64.DecodeString(f.message))
			pt, _, err := in.Decrypt(raw)
			must(b, err)
			if len(pt) != megolmPlaintextSize {
				b.Fatal("wrong plaintext")
			}
		}
	})
	runImpl(b, implGoolm, func(b *testing.B) {
		in := mustV[*gsession.MegolmInboundSession](b)(gsession.NewMegolmInboundSession([]byte(f.sessionKey)))
		msg := []byte(f.message)
		b.SetBytes(megolmPlaintextSize)
		for b.Loop() {
			pt, _, err := in.Decrypt(msg)
			must(b, err)
			if len(pt) != megolmPlaintextSize {
				b.Fatal("wrong plaintext")
			}
		}
	})
	runImpl(b, implLibolm, func(b *testing.B) {
		in := mustV[*libolm.InboundGroupSession](b)(libolm.NewInboundGroupSession(f.sessionKey))
		defer in.Free()
		b.SetBytes(megolmPlaintextSize)
		for b.Loop() {
			pt, _, err := in.Decrypt(f.message)
			must(b, err)
			if len(pt) != megolmPlaintextSize {
				b.Fatal("wrong plaintext")
			}
		}
	})
	runImpl(b, implFloor, func(b *testing.B) {
		b.SetBytes(megolmPlaintextSize)
		for b.Loop() {
			floorMegolmDecrypt(fl, megolmPlaintextSize)
		}
	})
}

// BenchmarkMegolmDecryptFar decrypts a 1 KiB message at index 2^20 with a
// session imported at index 0, a fresh one each time so that no
// implementation can reuse a ratchet it advanced before.
func BenchmarkMegolmDecryptFar(b *testing.B) {
	const index = 1 << 20
	f := newMegolmFixture(b, index, megolmPlaintextSize)
	check := func(b *testing.B, pt []byte, i uint) {
		if len(pt) != megolmPlaintextSize || i != index {
			b.Fatalf("wrong plaintext or index %d", i)
		}
	}
	runImpl(b, implSouverain, func(b *testing.B) {
		for b.Loop() {
			in := mustV[*megolm.InboundGroupSession](b)(megolm.ImportInboundGroupSession(mustV[*megolm.ExportedSessionKey](b)(megolm.ParseExportedSessionKey(f.export))))
			raw := mustV[[]byte](b)(b64.DecodeString(f.message))
			pt, i, err := in.Decrypt(raw)
			must(b, err)
			check(b, pt, uint(i))
		}
	})
	runImpl(b, implGoolm, func(b *testing.B) {
		for b.Loop() {
			in := mustV[*gsession.MegolmInboundSession](b)(gsession.NewMegolmInboundSessionFromExport([]byte(f.export)))
			pt, i, err := in.Decrypt([]byte(f.message))
			must(b, err)
			check(b, pt, i)
		}
	})
	runImpl(b, implLibolm, func(b *testing.B) {
		for b.Loop() {
			in := mustV[*libolm.InboundGroupSession](b)(libolm.ImportInboundGroupSession(f.export))
			pt, i, err := in.Decrypt(f.message)
			must(b, err)
			check(b, pt, uint(i))
			in.Free()
		}
	})
	runImpl(b, implFloor, func(b *testing.B) {
		for b.Loop() {
			// 2^20 from 0: 16 steps of R1, then R2 and R3 from R1.
			for range 18 {
				fl.hmac(1)
			}
			floorMegolmDecrypt(fl, megolmPlaintextSize)
		}
	})
}

// TestMegolmFixtureAtIndex checks that the message at 2^20 made by
// rewriting a pickle decrypts in all three implementations.
func TestMegolmFixtureAtIndex(t *testing.T) {
	f := newMegolmFixture(t, 1<<20, 100)
	in := mustV[*megolm.InboundGroupSession](t)(megolm.ImportInboundGroupSession(mustV[*megolm.ExportedSessionKey](t)(megolm.ParseExportedSessionKey(f.export))))
	pt, i, err := in.Decrypt(mustV[[]byte](t)(b64.DecodeString(f.message)))
	if err != nil || i != 1<<20 || !bytes.Equal(pt, make([]byte, 100)) {
		t.Fatalf("souverain: %v %d", err, i)
	}
	g := mustV[*gsession.MegolmInboundSession](t)(gsession.NewMegolmInboundSessionFromExport([]byte(f.export)))
	if _, gi, err := g.Decrypt([]byte(f.message)); err != nil || gi != 1<<20 {
		t.Fatalf("goolm: %v %d", err, gi)
	}
	l := mustV[*libolm.InboundGroupSession](t)(libolm.ImportInboundGroupSession(f.export))
	defer l.Free()
	if _, li, err := l.Decrypt(f.message); err != nil || li != 1<<20 {
		t.Fatalf("libolm: %v %d", err, li)
	}
}
