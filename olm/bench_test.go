package olm_test

import (
	"testing"

	"github.com/souverain/e2ee/olm"
)

func BenchmarkNewAccount(b *testing.B) {
	for b.Loop() {
		if _, err := olm.NewAccount(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGenerate50OneTimeKeys(b *testing.B) {
	for b.Loop() {
		b.StopTimer()
		a := newAccount(b)
		b.StartTimer()
		if err := a.GenerateOneTimeKeys(50); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNewOutboundSession(b *testing.B) {
	alice, bob := newAccount(b), newAccount(b)
	bob.GenerateOneTimeKeys(1)
	var otk olm.Curve25519PublicKey
	for _, k := range bob.OneTimeKeys() {
		otk = k
	}
	for b.Loop() {
		if _, err := alice.NewOutboundSession(bob.Curve25519Key(), otk); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNewInboundSession measures creating a session from a pre-key
// message, including the decryption of its first message. The one-time key
// is a fallback key, so that it is not used up between iterations; each
// iteration gets a new pre-key message (made outside the timer), since the
// account refuses to open a session twice from one message.
func BenchmarkNewInboundSession(b *testing.B) {
	alice, bob := newAccount(b), newAccount(b)
	bob.GenerateFallbackKey()
	_, fb, _ := bob.FallbackKey()
	next := func() *olm.PreKeyMessage {
		s, _ := alice.NewOutboundSession(bob.Curve25519Key(), fb)
		m, _ := s.Encrypt(make([]byte, 256))
		return m.(*olm.PreKeyMessage)
	}
	pre := next()
	for b.Loop() {
		if _, _, err := bob.NewInboundSession(alice.Curve25519Key(), pre); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		pre = next()
		b.StartTimer()
	}
}

// BenchmarkEncryptDecryptChain measures one 256-byte message in a steady
// chain: encrypt at Alice, decrypt at Bob, no ratchet turn.
func BenchmarkEncryptDecryptChain(b *testing.B) {
	alice, bob, _, _ := pair(b, olm.SessionConfigV1())
	roundTrip(b, bob, alice, "ack")
	pt := make([]byte, 256)
	b.SetBytes(256)
	for b.Loop() {
		m, err := alice.Encrypt(pt)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := bob.Decrypt(m); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncryptDecryptPingPong measures one 256-byte message when the
// two ends take turns, so that every message turns the ratchet (a new
// X25519 key and two Diffie-Hellman computations).
func BenchmarkEncryptDecryptPingPong(b *testing.B) {
	alice, bob, _, _ := pair(b, olm.SessionConfigV1())
	pt := make([]byte, 256)
	b.SetBytes(256)
	from, to := bob, alice
	for b.Loop() {
		m, err := from.Encrypt(pt)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := to.Decrypt(m); err != nil {
			b.Fatal(err)
		}
		from, to = to, from
	}
}

func BenchmarkAccountPickleLibolm(b *testing.B) {
	a := newAccount(b)
	a.GenerateOneTimeKeys(50)
	key := []byte("pickle key")
	for b.Loop() {
		if _, err := a.PickleLibolm(key); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAccountUnpickleLibolm(b *testing.B) {
	a := newAccount(b)
	a.GenerateOneTimeKeys(50)
	key := []byte("pickle key")
	p, _ := a.PickleLibolm(key)
	for b.Loop() {
		if _, err := olm.UnpickleLibolmAccount(p, key); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSessionPickleRoundTrip(b *testing.B) {
	alice, _, _, _ := pair(b, olm.SessionConfigV1())
	for b.Loop() {
		p, err := alice.Pickle(testKey)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := olm.UnpickleSession(p, testKey); err != nil {
			b.Fatal(err)
		}
	}
}
