package olm_test

import (
	"errors"
	"testing"

	"github.com/souverain/e2ee/olm"
)

// fallbackPreKey returns a pre-key message from alice to bob's current
// fallback key.
func fallbackPreKey(t testing.TB, alice, bob *olm.Account, text string) (*olm.Session, *olm.PreKeyMessage) {
	t.Helper()
	_, fb, ok := bob.FallbackKey()
	if !ok {
		t.Fatal("no unpublished fallback key")
	}
	s, err := alice.NewOutboundSession(bob.Curve25519Key(), fb)
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.Encrypt([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return s, m.(*olm.PreKeyMessage)
}

// TestPreKeyReplayOnFallbackKey: a pre-key message on a fallback key opens
// one session, once; its replay is refused, also after a pickle round trip
// in souverain's own format (SECURITY 18).
func TestPreKeyReplayOnFallbackKey(t *testing.T) {
	alice, bob := newAccount(t), newAccount(t)
	if err := bob.GenerateFallbackKey(); err != nil {
		t.Fatal(err)
	}
	_, pre := fallbackPreKey(t, alice, bob, "first")
	s, pt, err := bob.NewInboundSession(alice.Curve25519Key(), pre)
	if err != nil || string(pt) != "first" {
		t.Fatalf("first use: %q %v", pt, err)
	}
	s2, pt2, err := bob.NewInboundSession(alice.Curve25519Key(), pre)
	if !errors.Is(err, olm.ErrPreKeyReplay) || s2 != nil || pt2 != nil {
		t.Fatalf("replay: session %v, plaintext %q, error %v; want ErrPreKeyReplay", s2, pt2, err)
	}

	// Kept across souverain pickles.
	text, err := bob.Pickle(testKey)
	if err != nil {
		t.Fatal(err)
	}
	restored, err := olm.UnpickleAccount(text, testKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := restored.NewInboundSession(alice.Curve25519Key(), pre); !errors.Is(err, olm.ErrPreKeyReplay) {
		t.Fatalf("replay after own pickle: %v, want ErrPreKeyReplay", err)
	}

	// A new session on the same fallback key still opens.
	_, other := fallbackPreKey(t, alice, bob, "second")
	if _, pt, err := restored.NewInboundSession(alice.Curve25519Key(), other); err != nil || string(pt) != "second" {
		t.Fatalf("new session on the same fallback key: %q %v", pt, err)
	}

	// The intended caller flow: a pre-key message of a session the caller
	// already holds is matched by Session.Matches before the account is
	// asked; the session decrypts it (a second message) or refuses it (the
	// same message again).
	if !s.Matches(pre) {
		t.Fatal("the session does not match its own pre-key message")
	}
	if _, err := s.Decrypt(pre); !errors.Is(err, olm.ErrMessageKeyNotFound) {
		t.Fatalf("the same message through the session: %v", err)
	}

	// libolm's pickle format cannot carry the record: documented, and shown.
	lp, err := bob.PickleLibolm(testKey)
	if err != nil {
		t.Fatal(err)
	}
	fromLibolm, err := olm.UnpickleLibolmAccount(lp, testKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := fromLibolm.NewInboundSession(alice.Curve25519Key(), pre); err != nil {
		t.Fatalf("after a libolm pickle the record is gone, as documented; got %v", err)
	}
}

// TestPreKeyRecordBound: the record holds MaxPreKeyRecords entries and
// evicts the oldest, and it is dropped with the fallback key it is about.
func TestPreKeyRecordBound(t *testing.T) {
	alice, bob := newAccount(t), newAccount(t)
	bob.GenerateFallbackKey()
	var pres []*olm.PreKeyMessage
	for range olm.MaxPreKeyRecords + 1 {
		_, pre := fallbackPreKey(t, alice, bob, "x")
		if _, _, err := bob.NewInboundSession(alice.Curve25519Key(), pre); err != nil {
			t.Fatal(err)
		}
		pres = append(pres, pre)
	}
	if n := bob.NumPreKeyRecords(); n != olm.MaxPreKeyRecords {
		t.Fatalf("%d records, want %d", n, olm.MaxPreKeyRecords)
	}
	// The oldest was evicted; the newest is still refused.
	if _, _, err := bob.NewInboundSession(alice.Curve25519Key(), pres[0]); err != nil {
		t.Fatalf("evicted record: %v", err)
	}
	if _, _, err := bob.NewInboundSession(alice.Curve25519Key(), pres[len(pres)-1]); !errors.Is(err, olm.ErrPreKeyReplay) {
		t.Fatalf("newest record: %v", err)
	}
	// Rotating twice forgets the key and its records.
	bob.GenerateFallbackKey()
	bob.GenerateFallbackKey()
	if n := bob.NumPreKeyRecords(); n != 0 {
		t.Fatalf("%d records after the key was forgotten", n)
	}
}

// TestPreKeyReplayOneTimeKey: a one-time key is removed on use, so a replay
// finds no key; nothing is recorded for it.
func TestPreKeyReplayOneTimeKey(t *testing.T) {
	_, _, _, bob := pair(t, olm.SessionConfigV1())
	if n := bob.NumPreKeyRecords(); n != 0 {
		t.Fatalf("%d records for a used-up one-time key", n)
	}
}
