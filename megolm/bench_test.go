package megolm_test

import (
	"testing"

	"github.com/souverain/e2ee/megolm"
)

func BenchmarkEncrypt1KiB(b *testing.B) {
	s := newSession(b)
	pt := make([]byte, 1024)
	b.SetBytes(1024)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Encrypt(pt); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecrypt1KiB(b *testing.B) {
	s := newSession(b)
	in := inbound(b, s)
	m, _ := s.Encrypt(make([]byte, 1024))
	b.SetBytes(1024)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := in.Decrypt(m); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecryptAtIndex measures decrypting one message at a distance from
// a session created at 0: the cost of reaching the index (a fresh session
// each time, so nothing is cached) plus one decryption.
func BenchmarkDecryptAtIndex(b *testing.B) {
	for _, tt := range []struct {
		name  string
		index uint32
	}{{"1", 1}, {"1000", 1000}, {"2^20", 1 << 20}, {"2^24", 1 << 24}, {"2^32-2", 1<<32 - 2}} {
		b.Run(tt.name, func(b *testing.B) {
			s := newSession(b)
			key := s.SessionKey()
			s.SetIndex(tt.index)
			m, _ := s.Encrypt([]byte("message"))
			b.ReportAllocs()
			for b.Loop() {
				in, _ := megolm.NewInboundGroupSession(key)
				if _, _, err := in.Decrypt(m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAdvance measures moving an outbound ratchet by a distance with
// the bounded jump (no allocation per hash step).
func BenchmarkAdvance(b *testing.B) {
	for _, tt := range []struct {
		name string
		by   uint32
	}{{"1", 1}, {"1000", 1000}, {"2^24", 1 << 24}} {
		b.Run(tt.name, func(b *testing.B) {
			s := newSession(b)
			b.ReportAllocs()
			for b.Loop() {
				if s.MessageIndex() > 1<<31 {
					b.StopTimer()
					s = newSession(b)
					b.StartTimer()
				}
				s.SetIndex(s.MessageIndex() + tt.by)
			}
		})
	}
}

func BenchmarkExportImport(b *testing.B) {
	s := newSession(b)
	in := inbound(b, s)
	for b.Loop() {
		k, err := megolm.ParseExportedSessionKey(in.Export().Encode())
		if err != nil {
			b.Fatal(err)
		}
		if _, err := megolm.ImportInboundGroupSession(k); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkInboundPickleLibolm(b *testing.B) {
	in := inbound(b, newSession(b))
	key := []byte("pickle key")
	for b.Loop() {
		p, err := in.PickleLibolm(key)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := megolm.UnpickleLibolmInboundGroupSession(p, key); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkInboundPickle(b *testing.B) {
	in := inbound(b, newSession(b))
	for b.Loop() {
		p, err := in.Pickle(testKey)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := megolm.UnpickleInboundGroupSession(p, testKey); err != nil {
			b.Fatal(err)
		}
	}
}
