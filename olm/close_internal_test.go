package olm

import (
	"bytes"
	"testing"
)

func allZero(b []byte) bool { return bytes.Count(b, []byte{0}) == len(b) }

// TestCloseWipesInPlace checks the memory the account and session owned:
// after Close, the arrays that held private keys and ratchet state are
// zero, not merely dropped.
func TestCloseWipesInPlace(t *testing.T) {
	fx := newFuzzFixture(t)
	st := fx.bob.st
	otks := st.oneTimeKeys[:cap(st.oneTimeKeys)]
	identity := &st.identity.priv
	fallback := &st.fallback
	signing := st.signing
	fx.bob.Close()
	for i := range otks {
		if !allZero(otks[i].key.priv[:]) {
			t.Fatalf("one-time key %d not wiped", i)
		}
	}
	if !allZero(identity[:]) || !allZero(fallback[0].key.priv[:]) {
		t.Fatal("identity or fallback key not wiped")
	}
	if !signing.Cleared() {
		t.Fatal("ed25519 key not wiped")
	}

	ss := fx.aliceSession.st
	root := &ss.rootKey
	receivers := ss.receivers[:cap(ss.receivers)]
	sender := ss.sender
	fx.aliceSession.Close()
	if !allZero(root[:]) || (sender != nil && (!allZero(sender.ratchet.priv[:]) || !allZero(sender.chain.key[:]))) {
		t.Fatal("root, ratchet or sender chain key not wiped")
	}
	for i := range receivers {
		if !allZero(receivers[i].chain.key[:]) {
			t.Fatalf("receiver chain %d not wiped", i)
		}
	}
}

// TestReplacedStateWiped checks that a ratchet turn wipes the sender chain
// it drops, and that a used skipped key leaves no copy behind.
func TestReplacedStateWiped(t *testing.T) {
	fx := newFuzzFixture(t)
	alice, bob := fx.aliceSession, fx.bobSess
	// Bob has replied once and holds a sender chain; Alice's next message
	// turns his ratchet and drops that chain.
	old := bob.st.sender
	if old == nil {
		t.Fatal("bob has no sender chain")
	}
	if _, err := bob.Decrypt(fx.normal); err != nil {
		t.Fatal(err)
	}
	if !allZero(old.ratchet.priv[:]) || !allZero(old.chain.key[:]) {
		t.Fatal("dropped sender chain not wiped")
	}
	// Two messages; the second arrives first and leaves a skipped key.
	m1, _ := alice.st.encrypt([]byte("1"), nil)
	m2, _ := alice.st.encrypt([]byte("2"), nil)
	if _, err := bob.Decrypt(m2); err != nil {
		t.Fatal(err)
	}
	skipped := bob.st.skipped[:cap(bob.st.skipped)]
	if len(bob.st.skipped) != 1 {
		t.Fatalf("%d skipped keys", len(bob.st.skipped))
	}
	if _, err := bob.Decrypt(m1); err != nil {
		t.Fatal(err)
	}
	for i := range skipped {
		if !allZero(skipped[i].key[:]) {
			t.Fatalf("used skipped key %d left in memory", i)
		}
	}
}
