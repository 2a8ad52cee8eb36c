package megolm_test

import (
	"sync"
	"testing"

	"github.com/souverain/e2ee/megolm"
)

// TestConcurrentEncryptUniqueIndices shares one GroupSession between many
// goroutines, as bots do: every message must get its own index (a repeated
// index reuses the AES key and IV), and every message must decrypt. Run it
// with -race.
func TestConcurrentEncryptUniqueIndices(t *testing.T) {
	const goroutines, perGoroutine = 16, 25
	out := newSession(t)
	in := inbound(t, out)
	msgs := make([][][]byte, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for range perGoroutine {
				m, err := out.Encrypt([]byte("concurrent"))
				if err != nil {
					t.Error(err)
					return
				}
				msgs[g] = append(msgs[g], m)
				_ = out.MessageIndex()
				_ = out.SessionKey()
			}
		})
	}
	wg.Wait()
	seen := map[uint32]bool{}
	for _, ms := range msgs {
		for _, m := range ms {
			p, err := megolm.ParseMessage(m)
			if err != nil {
				t.Fatal(err)
			}
			if seen[p.Index()] {
				t.Fatalf("index %d handed out twice", p.Index())
			}
			seen[p.Index()] = true
		}
	}
	if len(seen) != goroutines*perGoroutine || out.MessageIndex() != goroutines*perGoroutine {
		t.Fatalf("%d distinct indices, session at %d, want %d", len(seen), out.MessageIndex(), goroutines*perGoroutine)
	}

	// One inbound session decrypts them from many goroutines, while others
	// export, pickle, compare and move its first known index.
	var dwg sync.WaitGroup
	for g := range goroutines {
		dwg.Go(func() {
			for _, m := range msgs[g] {
				if pt, _, err := in.Decrypt(m); err != nil || string(pt) != "concurrent" {
					t.Errorf("decrypt: %q %v", pt, err)
					return
				}
			}
		})
	}
	other := inbound(t, out)
	dwg.Go(func() {
		for range 20 {
			if _, err := in.Pickle(testKey); err != nil {
				t.Error(err)
			}
			in.Export()
			in.Compare(other)
			other.Compare(in)
			in.Merge(other)
			_ = in.SignatureChecked()
			_ = in.FirstKnownIndex()
		}
	})
	dwg.Go(func() {
		for range 20 {
			other.AdvanceTo(other.FirstKnownIndex() + 1)
			other.Connected(in)
		}
	})
	dwg.Wait()
	if in.LatestIndex() != goroutines*perGoroutine-1 {
		t.Fatalf("latest ratchet at %d", in.LatestIndex())
	}
}
