package olm_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/souverain/e2ee/olm"
)

// TestSessionConcurrentUse shares both ends of a session between
// goroutines: no message index is handed out twice, every message decrypts
// once, and -race finds nothing.
func TestSessionConcurrentUse(t *testing.T) {
	alice, bob, _, _ := pair(t, olm.SessionConfigV1())
	roundTrip(t, bob, alice, "reply") // Alice now sends normal messages

	const workers, each = 8, 25
	type sent struct {
		m    olm.Message
		text string
	}
	out := make(chan sent, workers*each)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				text := fmt.Sprintf("%d/%d", w, i)
				m, err := alice.Encrypt([]byte(text))
				if err != nil {
					t.Error(err)
					return
				}
				out <- sent{m, text}
				_ = alice.SessionID()
				_ = alice.HasReceivedMessage()
			}
		})
	}
	wg.Wait()
	close(out)
	var all []sent
	seen := map[uint32]bool{}
	for s := range out {
		nm := s.m.(*olm.NormalMessage)
		if seen[nm.Index()] {
			t.Fatalf("message index %d handed out twice", nm.Index())
		}
		seen[nm.Index()] = true
		all = append(all, s)
	}
	// Decrypt concurrently, in index order per worker slice so that no
	// message falls behind by more than the skipped-key limit.
	slices.SortFunc(all, func(a, b sent) int {
		return int(a.m.(*olm.NormalMessage).Index()) - int(b.m.(*olm.NormalMessage).Index())
	})
	for start := 0; start < len(all); start += workers {
		batch := all[start:min(start+workers, len(all))]
		for _, s := range batch {
			wg.Go(func() {
				pt, err := bob.Decrypt(s.m)
				if err != nil || string(pt) != s.text {
					t.Errorf("decrypt %q: %q %v", s.text, pt, err)
				}
				_, _ = bob.Pickle(testKey)
			})
		}
		// Bob talks back meanwhile, which turns his ratchet.
		wg.Go(func() {
			if _, err := bob.Encrypt([]byte("meanwhile")); err != nil {
				t.Error(err)
			}
		})
		wg.Wait()
	}
}

// TestAccountConcurrentUse shares one account between goroutines that
// create inbound and outbound sessions, generate and publish keys, sign and
// pickle.
func TestAccountConcurrentUse(t *testing.T) {
	bob := newAccount(t)
	if err := bob.GenerateFallbackKey(); err != nil {
		t.Fatal(err)
	}
	_, fb, _ := bob.FallbackKey()
	peer := newAccount(t)
	var wg sync.WaitGroup
	for w := range 8 {
		alice := newAccount(t)
		wg.Go(func() {
			for i := range 10 {
				s, err := alice.NewOutboundSession(bob.Curve25519Key(), fb)
				if err != nil {
					t.Error(err)
					return
				}
				m, _ := s.Encrypt([]byte("hi"))
				if _, pt, err := bob.NewInboundSession(alice.Curve25519Key(), m.(*olm.PreKeyMessage)); err != nil || string(pt) != "hi" {
					t.Errorf("worker %d, session %d: %q %v", w, i, pt, err)
				}
				switch i % 5 {
				case 0:
					bob.GenerateOneTimeKeys(3)
				case 1:
					bob.MarkKeysAsPublished()
					bob.OneTimeKeys()
				case 2:
					bob.Sign([]byte("x"))
					bob.DeviceKeys("@b:x", "B")
				case 3:
					bob.Pickle(testKey)
					bob.PickleLibolm(testKey)
				case 4:
					bob.NewOutboundSession(peer.Curve25519Key(), peer.Curve25519Key())
					_ = fmt.Sprint(bob)
				}
			}
		})
	}
	wg.Wait()
	if n := bob.NumPreKeyRecords(); n != 80 {
		t.Fatalf("%d pre-key records, want 80", n)
	}
}
