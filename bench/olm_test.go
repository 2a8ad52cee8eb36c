package bench_test

import (
	"crypto/rand"
	"testing"

	"maunium.net/go/mautrix/crypto/goolm/account"
	molm "maunium.net/go/mautrix/crypto/olm"
	"maunium.net/go/mautrix/id"

	"github.com/souverain/e2ee/interop/libolm"
	"github.com/souverain/e2ee/olm"
)

// olmPlaintextSize is the size of the Olm messages of the issue: a
// to-device event of a few hundred bytes.
const olmPlaintextSize = 256

// olmEnd is one end of an Olm session as a client drives it: plaintext in,
// (type, base64 body) out, and back.
type olmEnd interface {
	encrypt(b *testing.B, pt []byte) (int, string)
	decrypt(b *testing.B, typ int, body string) []byte
}

type souvEnd struct{ s *olm.Session }

func (e souvEnd) encrypt(b *testing.B, pt []byte) (int, string) {
	m, err := e.s.Encrypt(pt)
	must(b, err)
	return int(m.Type()), b64.EncodeToString(m.Bytes())
}

func (e souvEnd) decrypt(b *testing.B, typ int, body string) []byte {
	raw, err := b64.DecodeString(body)
	must(b, err)
	m, err := olm.ParseMessage(olm.MessageType(typ), raw)
	must(b, err)
	pt, err := e.s.Decrypt(m)
	must(b, err)
	return pt
}

type goolmEnd struct{ s molm.Session }

func (e goolmEnd) encrypt(b *testing.B, pt []byte) (int, string) {
	t, body, err := e.s.Encrypt(pt)
	must(b, err)
	return int(t), string(body)
}

func (e goolmEnd) decrypt(b *testing.B, typ int, body string) []byte {
	pt, err := e.s.Decrypt(body, id.OlmMsgType(typ))
	must(b, err)
	return pt
}

// libolmEnd keeps a buffer for the random bytes libolm asks for, as a
// careful binding would.
type libolmEnd struct {
	s   *libolm.Session
	rnd []byte
}

func (e *libolmEnd) encrypt(b *testing.B, pt []byte) (int, string) {
	r := e.rnd[:e.s.EncryptRandomLength()]
	rand.Read(r)
	t, body, err := e.s.Encrypt(pt, r)
	must(b, err)
	return int(t), body
}

func (e *libolmEnd) decrypt(b *testing.B, typ int, body string) []byte {
	pt, err := e.s.Decrypt(libolm.MessageType(typ), body)
	must(b, err)
	return pt
}

// olmAccounts are Alice and Bob with their keys as a client holds them:
// Bob's identity and fallback keys in base64, as /keys/claim returns them,
// and a pre-key message from Alice to Bob's fallback key (which is not used
// up, so that the same message opens a session again and again).
type olmAccounts struct {
	aliceKey, bobKey, bobOTK string
	preKey                   string // body of Alice's first message, 256 bytes of plaintext
}

func souvAccounts(b testing.TB) (alice, bob *olm.Account, k olmAccounts, s *olm.Session) {
	alice = mustV[*olm.Account](b)(olm.NewAccount())
	bob = mustV[*olm.Account](b)(olm.NewAccount())
	must(b, bob.GenerateFallbackKey())
	_, fb, _ := bob.FallbackKey()
	k = olmAccounts{aliceKey: alice.Curve25519Key().String(), bobKey: bob.Curve25519Key().String(), bobOTK: fb.String()}
	s = mustV[*olm.Session](b)(alice.NewOutboundSession(bob.Curve25519Key(), fb))
	m := mustV[olm.Message](b)(s.Encrypt(make([]byte, olmPlaintextSize)))
	k.preKey = b64.EncodeToString(m.Bytes())
	return alice, bob, k, s
}

func goolmAccounts(b testing.TB) (alice, bob *account.Account, k olmAccounts, s molm.Session) {
	alice = mustV[*account.Account](b)(account.NewAccount())
	bob = mustV[*account.Account](b)(account.NewAccount())
	must(b, bob.GenFallbackKey())
	var fb id.Curve25519
	for _, v := range bob.FallbackKey() {
		fb = v
	}
	_, aliceKey := mustIK(b, alice)
	_, bobKey := mustIK(b, bob)
	k = olmAccounts{aliceKey: string(aliceKey), bobKey: string(bobKey), bobOTK: string(fb)}
	s = mustV[molm.Session](b)(alice.NewOutboundSession(bobKey, fb))
	_, body, err := s.Encrypt(make([]byte, olmPlaintextSize))
	must(b, err)
	k.preKey = string(body)
	return alice, bob, k, s
}

func mustIK(b testing.TB, a *account.Account) (id.Ed25519, id.Curve25519) {
	ed, curve, err := a.IdentityKeys()
	must(b, err)
	return ed, curve
}

func libolmAccounts(b testing.TB) (alice, bob *libolm.Account, k olmAccounts, s *libolm.Session) {
	alice = mustV[*libolm.Account](b)(libolm.NewAccountRand())
	bob = mustV[*libolm.Account](b)(libolm.NewAccountRand())
	must(b, bob.GenerateFallbackKeyRand())
	var fb string
	for _, v := range mustV[map[string]string](b)(bob.FallbackKey()) {
		fb = v
	}
	aliceKeys := mustV[libolm.IdentityKeys](b)(alice.IdentityKeys())
	bobKeys := mustV[libolm.IdentityKeys](b)(bob.IdentityKeys())
	k = olmAccounts{aliceKey: aliceKeys.Curve25519, bobKey: bobKeys.Curve25519, bobOTK: fb}
	s = mustV[*libolm.Session](b)(alice.NewOutboundSessionRand(bobKeys.Curve25519, fb))
	_, body, err := s.EncryptRand(make([]byte, olmPlaintextSize))
	must(b, err)
	k.preKey = body
	return alice, bob, k, s
}

// olmPairs returns Alice's and Bob's ends of an established session of
// each implementation: Alice has sent a pre-key message and Bob has
// replied, so that both send normal messages.
func olmPair(b *testing.B, impl string) (alice, bob olmEnd) {
	switch impl {
	case implSouverain:
		aliceAcc, bobAcc, _, s := souvAccounts(b)
		m := mustV[olm.Message](b)(s.Encrypt([]byte("hello")))
		bs, _, err := bobAcc.NewInboundSession(aliceAcc.Curve25519Key(), m.(*olm.PreKeyMessage))
		must(b, err)
		alice, bob = souvEnd{s}, souvEnd{bs}
	case implGoolm:
		_, bobAcc, _, s := goolmAccounts(b)
		_, body, err := s.Encrypt([]byte("hello"))
		must(b, err)
		bs := mustV[molm.Session](b)(bobAcc.NewInboundSession(string(body)))
		bob = goolmEnd{bs}
		bob.decrypt(b, 0, string(body))
		alice = goolmEnd{s}
	case implLibolm:
		_, bobAcc, _, s := libolmAccounts(b)
		_, body, err := s.EncryptRand([]byte("hello"))
		must(b, err)
		bs := mustV[*libolm.Session](b)(bobAcc.NewInboundSession(body))
		alice, bob = &libolmEnd{s, make([]byte, 64)}, &libolmEnd{bs, make([]byte, 64)}
		bob.decrypt(b, 0, body)
	}
	t, body := bob.encrypt(b, []byte("reply"))
	alice.decrypt(b, t, body)
	return alice, bob
}

func BenchmarkAccountCreate(b *testing.B) {
	runImpl(b, implSouverain, func(b *testing.B) {
		for b.Loop() {
			mustV[*olm.Account](b)(olm.NewAccount())
		}
	})
	runImpl(b, implGoolm, func(b *testing.B) {
		for b.Loop() {
			mustV[*account.Account](b)(account.NewAccount())
		}
	})
	runImpl(b, implLibolm, func(b *testing.B) {
		random := make([]byte, libolm.NewAccountRandomLength())
		for b.Loop() {
			rand.Read(random)
			a := mustV[*libolm.Account](b)(libolm.NewAccount(random))
			a.Free()
		}
	})
	runImpl(b, implFloor, func(b *testing.B) {
		for b.Loop() {
			fl.ed25519Keygen()
			fl.x25519Base()
		}
	})
}

// BenchmarkOneTimeKeys50 generates 50 one-time keys and marks them as
// published, as a client does before each /keys/upload.
func BenchmarkOneTimeKeys50(b *testing.B) {
	runImpl(b, implSouverain, func(b *testing.B) {
		a := mustV[*olm.Account](b)(olm.NewAccount())
		for b.Loop() {
			must(b, a.GenerateOneTimeKeys(50))
			a.MarkKeysAsPublished()
		}
	})
	runImpl(b, implGoolm, func(b *testing.B) {
		a := mustV[*account.Account](b)(account.NewAccount())
		for b.Loop() {
			must(b, a.GenOneTimeKeys(50))
			a.MarkKeysAsPublished()
		}
	})
	runImpl(b, implLibolm, func(b *testing.B) {
		a := mustV[*libolm.Account](b)(libolm.NewAccountRand())
		defer a.Free()
		random := make([]byte, a.OneTimeKeysRandomLength(50))
		for b.Loop() {
			rand.Read(random)
			must(b, a.GenerateOneTimeKeys(50, random))
			a.MarkKeysAsPublished()
		}
	})
	runImpl(b, implFloor, func(b *testing.B) {
		for b.Loop() {
			for range 50 {
				fl.x25519Base()
			}
		}
	})
}

// BenchmarkOutboundSession opens a session to a device from its identity
// and one-time keys in base64, as /keys/claim returns them.
func BenchmarkOutboundSession(b *testing.B) {
	runImpl(b, implSouverain, func(b *testing.B) {
		alice, _, k, _ := souvAccounts(b)
		for b.Loop() {
			ik := mustV[olm.Curve25519PublicKey](b)(olm.ParseCurve25519PublicKey(k.bobKey))
			otk := mustV[olm.Curve25519PublicKey](b)(olm.ParseCurve25519PublicKey(k.bobOTK))
			mustV[*olm.Session](b)(alice.NewOutboundSession(ik, otk))
		}
	})
	runImpl(b, implGoolm, func(b *testing.B) {
		alice, _, k, _ := goolmAccounts(b)
		for b.Loop() {
			mustV[molm.Session](b)(alice.NewOutboundSession(id.Curve25519(k.bobKey), id.Curve25519(k.bobOTK)))
		}
	})
	runImpl(b, implLibolm, func(b *testing.B) {
		alice, _, k, _ := libolmAccounts(b)
		random := make([]byte, libolm.OutboundSessionRandomLength())
		for b.Loop() {
			rand.Read(random)
			s := mustV[*libolm.Session](b)(alice.NewOutboundSession(k.bobKey, k.bobOTK, random))
			s.Free()
		}
	})
	runImpl(b, implFloor, func(b *testing.B) {
		for b.Loop() {
			floorOutbound(fl)
		}
	})
}

// floorOutbound is the cost of opening an Olm session: a base key and a
// ratchet key, the triple Diffie-Hellman and the root key derivation.
func floorOutbound(st *floorState) {
	st.x25519Base()
	st.x25519Base()
	st.x25519DH()
	st.x25519DH()
	st.x25519DH()
	st.hkdf(64, len("OLM_ROOT"))
}

// olmMessageLen is the length of a normal Olm message carrying n bytes,
// which the MAC covers.
func olmMessageLen(n int) int { return 1 + 2 + 32 + 2 + 2 + 3 + n + 16 - n%16 }

// floorReceive is the cost of receiving one message on an existing chain:
// the message key and the next chain key, the message keys, the MAC and
// the decryption.
func floorReceive(st *floorState, n int) {
	st.hmac(1)
	st.hmac(1)
	st.hkdf(80, len("OLM_KEYS"))
	st.hmac(olmMessageLen(n))
	st.cbcDecrypt(n)
}

func floorSend(st *floorState, n int) {
	st.hmac(1)
	st.hmac(1)
	st.hkdf(80, len("OLM_KEYS"))
	st.cbcEncrypt(n)
	st.hmac(olmMessageLen(n))
}

// BenchmarkInboundSession creates a session from a pre-key message body
// and decrypts its 256-byte message, checking the sender's identity key.
// The message uses Bob's fallback key, so that it opens a session on every
// iteration; no implementation removes anything from the account. souverain
// refuses to open a session twice from one pre-key message (SECURITY 18), so
// its iterations each get a new message to the same fallback key, made
// outside the timer.
func BenchmarkInboundSession(b *testing.B) {
	runImpl(b, implSouverain, func(b *testing.B) {
		alice, bob, k, _ := souvAccounts(b)
		fb := mustV[olm.Curve25519PublicKey](b)(olm.ParseCurve25519PublicKey(k.bobOTK))
		for b.Loop() {
			b.StopTimer()
			s := mustV[*olm.Session](b)(alice.NewOutboundSession(bob.Curve25519Key(), fb))
			k.preKey = b64.EncodeToString(mustV[olm.Message](b)(s.Encrypt(make([]byte, olmPlaintextSize))).Bytes())
			b.StartTimer()
			ik := mustV[olm.Curve25519PublicKey](b)(olm.ParseCurve25519PublicKey(k.aliceKey))
			raw := mustV[[]byte](b)(b64.DecodeString(k.preKey))
			m := mustV[*olm.PreKeyMessage](b)(olm.ParsePreKeyMessage(raw))
			_, pt, err := bob.NewInboundSession(ik, m)
			must(b, err)
			if len(pt) != olmPlaintextSize {
				b.Fatal("wrong plaintext")
			}
		}
	})
	runImpl(b, implGoolm, func(b *testing.B) {
		_, bob, k, _ := goolmAccounts(b)
		ik := id.Curve25519(k.aliceKey)
		for b.Loop() {
			s := mustV[molm.Session](b)(bob.NewInboundSessionFrom(&ik, k.preKey))
			pt := mustV[[]byte](b)(s.Decrypt(k.preKey, id.OlmMsgTypePreKey))
			if len(pt) != olmPlaintextSize {
				b.Fatal("wrong plaintext")
			}
		}
	})
	runImpl(b, implLibolm, func(b *testing.B) {
		_, bob, k, _ := libolmAccounts(b)
		for b.Loop() {
			s := mustV[*libolm.Session](b)(bob.NewInboundSessionFrom(k.aliceKey, k.preKey))
			pt := mustV[[]byte](b)(s.Decrypt(libolm.MessageTypePreKey, k.preKey))
			if len(pt) != olmPlaintextSize {
				b.Fatal("wrong plaintext")
			}
			s.Free()
		}
	})
	runImpl(b, implFloor, func(b *testing.B) {
		for b.Loop() {
			fl.x25519DH()
			fl.x25519DH()
			fl.x25519DH()
			fl.hkdf(64, len("OLM_ROOT"))
			floorReceive(fl, olmPlaintextSize)
		}
	})
}

// BenchmarkOlmChain encrypts a 256-byte message at Alice and decrypts it at
// Bob, over and over: a steady chain, no ratchet turn.
func BenchmarkOlmChain(b *testing.B) {
	for _, impl := range []string{implSouverain, implGoolm, implLibolm} {
		runImpl(b, impl, func(b *testing.B) {
			alice, bob := olmPair(b, impl)
			pt := make([]byte, olmPlaintextSize)
			b.SetBytes(olmPlaintextSize)
			for b.Loop() {
				t, body := alice.encrypt(b, pt)
				bob.decrypt(b, t, body)
			}
		})
	}
	runImpl(b, implFloor, func(b *testing.B) {
		b.SetBytes(olmPlaintextSize)
		for b.Loop() {
			floorSend(fl, olmPlaintextSize)
			floorReceive(fl, olmPlaintextSize)
		}
	})
}

// BenchmarkOlmPingPong encrypts and decrypts a 256-byte message with the
// two ends taking turns, so that every message turns the ratchet: a new
// ratchet key and a Diffie-Hellman computation at each end.
func BenchmarkOlmPingPong(b *testing.B) {
	for _, impl := range []string{implSouverain, implGoolm, implLibolm} {
		runImpl(b, impl, func(b *testing.B) {
			alice, bob := olmPair(b, impl)
			pt := make([]byte, olmPlaintextSize)
			b.SetBytes(olmPlaintextSize)
			i := 0
			for b.Loop() {
				from, to := alice, bob
				if i&1 == 1 {
					from, to = bob, alice
				}
				i++
				t, body := from.encrypt(b, pt)
				to.decrypt(b, t, body)
			}
		})
	}
	runImpl(b, implFloor, func(b *testing.B) {
		b.SetBytes(olmPlaintextSize)
		for b.Loop() {
			fl.x25519Base()
			fl.x25519DH()
			fl.hkdf(64, len("OLM_RATCHET"))
			floorSend(fl, olmPlaintextSize)
			fl.x25519DH()
			fl.hkdf(64, len("OLM_RATCHET"))
			floorReceive(fl, olmPlaintextSize)
		}
	})
}
