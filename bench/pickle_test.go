package bench_test

import (
	"testing"

	"maunium.net/go/mautrix/crypto/goolm/account"
	gsession "maunium.net/go/mautrix/crypto/goolm/session"

	"github.com/souverain/e2ee/interop/libolm"
	"github.com/souverain/e2ee/megolm"
	"github.com/souverain/e2ee/olm"
)

// The account pickled is the same in each implementation: libolm's, with
// 50 unpublished one-time keys and a fallback key, read by all three.
// souverain's default is its own format (AES-256-GCM, a 32-byte key);
// impl=souverain-libolmfmt is its libolm-format pickle, byte for byte what
// the peers write.
const implSouverainLibolmFmt = "souverain-libolmfmt"

var pickleKey = []byte("0123456789abcdef0123456789abcdef")

type pickleFixture struct {
	libolmText string // libolm's pickle, read by every implementation
	bodyLen    int    // length of the plaintext pickle body
}

func accountFixture(tb testing.TB) pickleFixture {
	a := mustV[*libolm.Account](tb)(libolm.NewAccountRand())
	defer a.Free()
	must(tb, a.GenerateOneTimeKeysRand(50))
	must(tb, a.GenerateFallbackKeyRand())
	text := mustV[string](tb)(a.Pickle(pickleKey))
	return pickleFixture{libolmText: text, bodyLen: libolmPickleBodyLen(text)}
}

func inboundFixture(tb testing.TB) pickleFixture {
	s := mustV[*libolm.OutboundGroupSession](tb)(libolm.NewOutboundGroupSessionRand())
	defer s.Free()
	in := mustV[*libolm.InboundGroupSession](tb)(libolm.NewInboundGroupSession(mustV[string](tb)(s.SessionKey())))
	defer in.Free()
	text := mustV[string](tb)(in.Pickle(pickleKey))
	return pickleFixture{libolmText: text, bodyLen: libolmPickleBodyLen(text)}
}

// libolmPickleBodyLen is the plaintext length of a libolm pickle: the
// ciphertext, less the MAC and at least one byte of padding.
func libolmPickleBodyLen(text string) int {
	n := b64.DecodedLen(len(text)) - 8
	return n - 1
}

// floorPickle is the cost of libolm's pickle cipher over a body of n
// bytes: the keys from the pickle key, AES-256-CBC, and the MAC over the
// ciphertext.
func floorPickle(st *floorState, n int, decrypt bool) {
	st.hkdf(80, len("Pickle"))
	if decrypt {
		st.hmac(n + 16 - n%16)
		st.cbcDecrypt(n)
	} else {
		st.cbcEncrypt(n)
		st.hmac(n + 16 - n%16)
	}
}

func BenchmarkPickleAccount(b *testing.B) {
	f := accountFixture(b)
	runImpl(b, implSouverain, func(b *testing.B) {
		a := mustV[*olm.Account](b)(olm.UnpickleLibolmAccount(f.libolmText, pickleKey))
		for b.Loop() {
			mustV[string](b)(a.Pickle(pickleKey))
		}
	})
	runImpl(b, implSouverainLibolmFmt, func(b *testing.B) {
		a := mustV[*olm.Account](b)(olm.UnpickleLibolmAccount(f.libolmText, pickleKey))
		for b.Loop() {
			mustV[string](b)(a.PickleLibolm(pickleKey))
		}
	})
	runImpl(b, implGoolm, func(b *testing.B) {
		a := mustV[*account.Account](b)(account.AccountFromPickled([]byte(f.libolmText), pickleKey))
		for b.Loop() {
			mustV[[]byte](b)(a.Pickle(pickleKey))
		}
	})
	runImpl(b, implLibolm, func(b *testing.B) {
		a := mustV[*libolm.Account](b)(libolm.UnpickleAccount(f.libolmText, pickleKey))
		defer a.Free()
		for b.Loop() {
			mustV[string](b)(a.Pickle(pickleKey))
		}
	})
	runImpl(b, implFloor, func(b *testing.B) {
		for b.Loop() {
			floorPickle(fl, f.bodyLen, false)
		}
	})
}

func BenchmarkUnpickleAccount(b *testing.B) {
	f := accountFixture(b)
	runImpl(b, implSouverain, func(b *testing.B) {
		a := mustV[*olm.Account](b)(olm.UnpickleLibolmAccount(f.libolmText, pickleKey))
		text := mustV[string](b)(a.Pickle(pickleKey))
		for b.Loop() {
			mustV[*olm.Account](b)(olm.UnpickleAccount(text, pickleKey))
		}
	})
	runImpl(b, implSouverainLibolmFmt, func(b *testing.B) {
		for b.Loop() {
			mustV[*olm.Account](b)(olm.UnpickleLibolmAccount(f.libolmText, pickleKey))
		}
	})
	runImpl(b, implGoolm, func(b *testing.B) {
		for b.Loop() {
			mustV[*account.Account](b)(account.AccountFromPickled([]byte(f.libolmText), pickleKey))
		}
	})
	runImpl(b, implLibolm, func(b *testing.B) {
		for b.Loop() {
			a := mustV[*libolm.Account](b)(libolm.UnpickleAccount(f.libolmText, pickleKey))
			a.Free()
		}
	})
	runImpl(b, implFloor, func(b *testing.B) {
		for b.Loop() {
			floorPickle(fl, f.bodyLen, true)
		}
	})
}

func BenchmarkPickleInboundGroupSession(b *testing.B) {
	f := inboundFixture(b)
	runImpl(b, implSouverain, func(b *testing.B) {
		s := mustV[*megolm.InboundGroupSession](b)(megolm.UnpickleLibolmInboundGroupSession(f.libolmText, pickleKey))
		for b.Loop() {
			mustV[string](b)(s.Pickle(pickleKey))
		}
	})
	runImpl(b, implSouverainLibolmFmt, func(b *testing.B) {
		s := mustV[*megolm.InboundGroupSession](b)(megolm.UnpickleLibolmInboundGroupSession(f.libolmText, pickleKey))
		for b.Loop() {
			mustV[string](b)(s.PickleLibolm(pickleKey))
		}
	})
	runImpl(b, implGoolm, func(b *testing.B) {
		s := mustV[*gsession.MegolmInboundSession](b)(gsession.MegolmInboundSessionFromPickled([]byte(f.libolmText), pickleKey))
		for b.Loop() {
			mustV[[]byte](b)(s.Pickle(pickleKey))
		}
	})
	runImpl(b, implLibolm, func(b *testing.B) {
		s := mustV[*libolm.InboundGroupSession](b)(libolm.UnpickleInboundGroupSession(f.libolmText, pickleKey))
		defer s.Free()
		for b.Loop() {
			mustV[string](b)(s.Pickle(pickleKey))
		}
	})
	runImpl(b, implFloor, func(b *testing.B) {
		for b.Loop() {
			floorPickle(fl, f.bodyLen, false)
		}
	})
}

func BenchmarkUnpickleInboundGroupSession(b *testing.B) {
	f := inboundFixture(b)
	runImpl(b, implSouverain, func(b *testing.B) {
		s := mustV[*megolm.InboundGroupSession](b)(megolm.UnpickleLibolmInboundGroupSession(f.libolmText, pickleKey))
		text := mustV[string](b)(s.Pickle(pickleKey))
		for b.Loop() {
			mustV[*megolm.InboundGroupSession](b)(megolm.UnpickleInboundGroupSession(text, pickleKey))
		}
	})
	runImpl(b, implSouverainLibolmFmt, func(b *testing.B) {
		for b.Loop() {
			mustV[*megolm.InboundGroupSession](b)(megolm.UnpickleLibolmInboundGroupSession(f.libolmText, pickleKey))
		}
	})
	runImpl(b, implGoolm, func(b *testing.B) {
		for b.Loop() {
			mustV[*gsession.MegolmInboundSession](b)(gsession.MegolmInboundSessionFromPickled([]byte(f.libolmText), pickleKey))
		}
	})
	runImpl(b, implLibolm, func(b *testing.B) {
		for b.Loop() {
			s := mustV[*libolm.InboundGroupSession](b)(libolm.UnpickleInboundGroupSession(f.libolmText, pickleKey))
			s.Free()
		}
	})
	runImpl(b, implFloor, func(b *testing.B) {
		for b.Loop() {
			floorPickle(fl, f.bodyLen, true)
		}
	})
}

// sessionFixture is an Olm session after a short conversation (a sender
// chain, two receiver chains, no skipped keys) pickled by souverain in
// libolm's format, which libolm and goolm read as theirs.
func sessionFixture(tb testing.TB) pickleFixture {
	alice := mustV[*olm.Account](tb)(olm.NewAccount())
	bob := mustV[*olm.Account](tb)(olm.NewAccount())
	must(tb, bob.GenerateOneTimeKeys(1))
	var otk olm.Curve25519PublicKey
	for _, k := range bob.OneTimeKeys() {
		otk = k
	}
	as := mustV[*olm.Session](tb)(alice.NewOutboundSession(bob.Curve25519Key(), otk))
	m := mustV[olm.Message](tb)(as.Encrypt([]byte("hello")))
	bs, _, err := bob.NewInboundSession(alice.Curve25519Key(), m.(*olm.PreKeyMessage))
	must(tb, err)
	for range 2 {
		m := mustV[olm.Message](tb)(bs.Encrypt([]byte("hi")))
		mustV[[]byte](tb)(as.Decrypt(m))
		m = mustV[olm.Message](tb)(as.Encrypt([]byte("hello again")))
		mustV[[]byte](tb)(bs.Decrypt(m))
	}
	text := mustV[string](tb)(as.PickleLibolm(pickleKey))
	return pickleFixture{libolmText: text, bodyLen: libolmPickleBodyLen(text)}
}

// BenchmarkUnpickleSession reads an Olm session: souverain's own pickle of
// it, and libolm's format read by souverain, goolm and libolm.
func BenchmarkUnpickleSession(b *testing.B) {
	f := sessionFixture(b)
	runImpl(b, implSouverain, func(b *testing.B) {
		s := mustV[*olm.Session](b)(olm.UnpickleLibolmSession(f.libolmText, pickleKey))
		text := mustV[string](b)(s.Pickle(pickleKey))
		for b.Loop() {
			mustV[*olm.Session](b)(olm.UnpickleSession(text, pickleKey))
		}
	})
	runImpl(b, implSouverainLibolmFmt, func(b *testing.B) {
		for b.Loop() {
			mustV[*olm.Session](b)(olm.UnpickleLibolmSession(f.libolmText, pickleKey))
		}
	})
	runImpl(b, implGoolm, func(b *testing.B) {
		for b.Loop() {
			mustV[*gsession.OlmSession](b)(gsession.OlmSessionFromPickled([]byte(f.libolmText), pickleKey))
		}
	})
	runImpl(b, implLibolm, func(b *testing.B) {
		for b.Loop() {
			s := mustV[*libolm.Session](b)(libolm.UnpickleSession(f.libolmText, pickleKey))
			s.Free()
		}
	})
	runImpl(b, implFloor, func(b *testing.B) {
		for b.Loop() {
			floorPickle(fl, f.bodyLen, true)
		}
	})
}

// BenchmarkUnpickleGroupSession reads an outbound Megolm session, as
// BenchmarkUnpickleSession does.
func BenchmarkUnpickleGroupSession(b *testing.B) {
	out := mustV[*megolm.GroupSession](b)(megolm.NewGroupSession())
	f := pickleFixture{libolmText: mustV[string](b)(out.PickleLibolm(pickleKey))}
	f.bodyLen = libolmPickleBodyLen(f.libolmText)
	runImpl(b, implSouverain, func(b *testing.B) {
		text := mustV[string](b)(out.Pickle(pickleKey))
		for b.Loop() {
			mustV[*megolm.GroupSession](b)(megolm.UnpickleGroupSession(text, pickleKey))
		}
	})
	runImpl(b, implSouverainLibolmFmt, func(b *testing.B) {
		for b.Loop() {
			mustV[*megolm.GroupSession](b)(megolm.UnpickleLibolmGroupSession(f.libolmText, pickleKey))
		}
	})
	runImpl(b, implGoolm, func(b *testing.B) {
		for b.Loop() {
			mustV[*gsession.MegolmOutboundSession](b)(gsession.MegolmOutboundSessionFromPickled([]byte(f.libolmText), pickleKey))
		}
	})
	runImpl(b, implLibolm, func(b *testing.B) {
		for b.Loop() {
			s := mustV[*libolm.OutboundGroupSession](b)(libolm.UnpickleOutboundGroupSession(f.libolmText, pickleKey))
			s.Free()
		}
	})
	runImpl(b, implFloor, func(b *testing.B) {
		for b.Loop() {
			floorPickle(fl, f.bodyLen, true)
		}
	})
}
