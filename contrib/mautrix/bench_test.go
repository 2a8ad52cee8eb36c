package mautrix_test

import (
	"fmt"
	"testing"

	"maunium.net/go/mautrix/id"
)

// BenchmarkNewInboundSession measures what an incoming pre-key message
// costs with each driver, with as many one-time keys as mautrix-go keeps.
// souverain's copies the account (see Account.NewInboundSessionFrom).
func BenchmarkNewInboundSession(b *testing.B) {
	for _, d := range append([]driver{souverainDriver}, otherDrivers...) {
		for _, keys := range []uint{50, 100} {
			b.Run(fmt.Sprintf("%s/%d-keys", d.name, keys), func(b *testing.B) {
				bob := mustAccount(b, d)
				if err := bob.GenOneTimeKeys(keys); err != nil {
					b.Fatal(err)
				}
				alice := mustAccount(b, souverainDriver)
				out, err := alice.NewOutboundSession(identityKey(b, bob), firstOneTimeKey(b, bob))
				if err != nil {
					b.Fatal(err)
				}
				_, ct, err := out.Encrypt([]byte("hello"))
				if err != nil {
					b.Fatal(err)
				}
				aliceKey := identityKey(b, alice)
				for b.Loop() {
					s, err := bob.NewInboundSessionFrom(&aliceKey, string(ct))
					if err != nil {
						b.Fatal(err)
					}
					if _, err := s.Decrypt(string(ct), id.OlmMsgTypePreKey); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkGroupDecrypt measures one Megolm decryption per driver.
func BenchmarkGroupDecrypt(b *testing.B) {
	for _, d := range append([]driver{souverainDriver}, otherDrivers...) {
		b.Run(d.name, func(b *testing.B) {
			out, err := d.newOutbound()
			if err != nil {
				b.Fatal(err)
			}
			in, err := d.newInbound([]byte(out.Key()))
			if err != nil {
				b.Fatal(err)
			}
			ct, err := out.Encrypt(make([]byte, 1000))
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if _, _, err := in.Decrypt(ct); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
