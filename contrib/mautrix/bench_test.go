package mautrix_test

import (
	"testing"

	"maunium.net/go/mautrix/id"
)

// BenchmarkNewInboundSession measures what an incoming pre-key message
// costs with each driver, in mautrix-go's three steps
// (OlmMachine.tryDecryptOlmCiphertext): NewInboundSessionFrom, the
// session's Decrypt of that message, RemoveOneTimeKeys. Bob holds 50 to
// 100 one-time keys, as a mautrix-go device does (it keeps half of
// MaxNumberOfOneTimeKeys on the server); every message is a new session on
// a key of its own, from a sender of its own, made (with the keys) while
// the timer is stopped.
// Besides ns/op it reports cpu-ns/op, the process's CPU time (user and
// system, every thread: the garbage collector's share included) per
// operation, steadier than wall time on a loaded machine.
func BenchmarkNewInboundSession(b *testing.B) {
	const batch = 50
	for _, d := range append([]driver{souverainDriver}, otherDrivers...) {
		b.Run(d.name, func(b *testing.B) {
			bob := mustAccount(b, d)
			if err := bob.GenOneTimeKeys(batch); err != nil {
				b.Fatal(err)
			}
			bob.MarkKeysAsPublished()
			var (
				msgs []preKeyMessage
				cpu  cpuClock
			)
			cpu.start()
			for b.Loop() {
				if len(msgs) == 0 {
					cpu.stop()
					b.StopTimer()
					msgs = preKeyMessages(b, bob, batch)
					b.StartTimer()
					cpu.start()
				}
				m := msgs[0]
				msgs = msgs[1:]
				s, err := bob.NewInboundSessionFrom(&m.sender, m.text)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := s.Decrypt(m.text, id.OlmMsgTypePreKey); err != nil {
					b.Fatal(err)
				}
				if err := bob.RemoveOneTimeKeys(s); err != nil {
					b.Fatal(err)
				}
			}
			cpu.stop()
			cpu.report(b)
		})
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
