package olm_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/souverain/e2ee/olm"
)

// skipOnNewChain makes Alice send n+1 messages on a fresh chain (after a
// reply from Bob) and Bob decrypt only the last, which leaves n skipped keys
// on that chain. It returns the skipped messages, oldest first.
func skipOnNewChain(t *testing.T, alice, bob *olm.Session, tag string, n int) []olm.Message {
	t.Helper()
	roundTrip(t, bob, alice, "turn")
	var msgs []olm.Message
	for i := 0; i <= n; i++ {
		m, err := alice.Encrypt([]byte(fmt.Sprint(tag, i)))
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	if _, err := bob.Decrypt(msgs[n]); err != nil {
		t.Fatal(err)
	}
	return msgs[:n]
}

// TestSkippedKeysPerChain: 40 skipped message keys are kept per receiver
// chain, not per session (SECURITY 14), also across souverain pickles.
func TestSkippedKeysPerChain(t *testing.T) {
	alice, bob, _, _ := pair(t, olm.SessionConfigV1())
	const n = olm.MaxSkippedMessageKeys + 1
	a := skipOnNewChain(t, alice, bob, "a", n)
	b := skipOnNewChain(t, alice, bob, "b", n)
	if k := bob.NumSkippedKeys(); k != 2*olm.MaxSkippedMessageKeys {
		t.Fatalf("%d skipped keys, want %d", k, 2*olm.MaxSkippedMessageKeys)
	}
	text, err := bob.Pickle(testKey)
	if err != nil {
		t.Fatal(err)
	}
	restored, err := olm.UnpickleSession(text, testKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []*olm.Session{bob, restored} {
		for _, msgs := range [][]olm.Message{a, b} {
			if _, err := s.Decrypt(msgs[0]); !errors.Is(err, olm.ErrMessageKeyNotFound) {
				t.Fatalf("oldest skipped message of a chain: %v, want ErrMessageKeyNotFound", err)
			}
			for i := 1; i < len(msgs); i++ {
				if _, err := s.Decrypt(msgs[i]); err != nil {
					t.Fatalf("skipped message %d: %v", i, err)
				}
				if _, err := s.Decrypt(msgs[i]); !errors.Is(err, olm.ErrMessageKeyNotFound) {
					t.Fatalf("skipped message %d decrypted twice: %v", i, err)
				}
			}
		}
		if k := s.NumSkippedKeys(); k != 0 {
			t.Fatalf("%d skipped keys left", k)
		}
	}
}

// TestSkippedKeysLibolmPickle: libolm's format holds 40 skipped keys per
// session; PickleLibolm writes the newest 40 and the older ones are lost.
func TestSkippedKeysLibolmPickle(t *testing.T) {
	alice, bob, _, _ := pair(t, olm.SessionConfigV1())
	a := skipOnNewChain(t, alice, bob, "a", 10)
	b := skipOnNewChain(t, alice, bob, "b", olm.MaxSkippedMessageKeys)
	text, err := bob.PickleLibolm(testKey)
	if err != nil {
		t.Fatal(err)
	}
	restored, err := olm.UnpickleLibolmSession(text, testKey)
	if err != nil {
		t.Fatal(err)
	}
	if k := restored.NumSkippedKeys(); k != olm.MaxSkippedMessageKeys {
		t.Fatalf("%d skipped keys in the libolm pickle, want %d", k, olm.MaxSkippedMessageKeys)
	}
	if _, err := restored.Decrypt(a[0]); !errors.Is(err, olm.ErrMessageKeyNotFound) {
		t.Fatalf("an older key survived the libolm pickle: %v", err)
	}
	for i := range b {
		if _, err := restored.Decrypt(b[i]); err != nil {
			t.Fatalf("newest keys: message %d: %v", i, err)
		}
	}
}

// TestSkippedKeysSessionBound: keys of dropped chains stay, as in libolm,
// but a session never holds more than MaxReceiverChains ×
// MaxSkippedMessageKeys, dropping the oldest.
func TestSkippedKeysSessionBound(t *testing.T) {
	alice, bob, _, _ := pair(t, olm.SessionConfigV1())
	var chains [][]olm.Message
	for i := range olm.MaxReceiverChains + 2 {
		chains = append(chains, skipOnNewChain(t, alice, bob, fmt.Sprint(i), olm.MaxSkippedMessageKeys))
	}
	if k := bob.NumSkippedKeys(); k != olm.MaxReceiverChains*olm.MaxSkippedMessageKeys {
		t.Fatalf("%d skipped keys, want %d", k, olm.MaxReceiverChains*olm.MaxSkippedMessageKeys)
	}
	last := chains[len(chains)-1]
	if _, err := bob.Decrypt(last[0]); err != nil {
		t.Fatalf("newest chain: %v", err)
	}
}
