package olm_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/souverain/e2ee/olm"
)

// testKey is the 32-byte key for souverain pickles in tests.
var testKey = bytes.Repeat([]byte{7}, 32)

func newAccount(t testing.TB) *olm.Account {
	t.Helper()
	a, err := olm.NewAccount()
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// pair returns Alice's outbound session and Bob's inbound one, after
// Alice's first message has reached Bob.
func pair(t testing.TB, config olm.SessionConfig) (alice, bob *olm.Session, aliceAcct, bobAcct *olm.Account) {
	t.Helper()
	aliceAcct, bobAcct = newAccount(t), newAccount(t)
	if err := bobAcct.GenerateOneTimeKeys(1); err != nil {
		t.Fatal(err)
	}
	var otk olm.Curve25519PublicKey
	for _, k := range bobAcct.OneTimeKeys() {
		otk = k
	}
	alice, err := aliceAcct.NewOutboundSessionWithConfig(config, bobAcct.Curve25519Key(), otk)
	if err != nil {
		t.Fatal(err)
	}
	m, err := alice.Encrypt([]byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	pre, ok := m.(*olm.PreKeyMessage)
	if !ok {
		t.Fatalf("first message is %T, want *PreKeyMessage", m)
	}
	bob, pt, err := bobAcct.NewInboundSessionWithConfig(config, aliceAcct.Curve25519Key(), pre)
	if err != nil {
		t.Fatal(err)
	}
	if string(pt) != "hello" {
		t.Fatalf("got %q", pt)
	}
	return alice, bob, aliceAcct, bobAcct
}

func roundTrip(t testing.TB, from, to *olm.Session, text string) {
	t.Helper()
	m, err := from.Encrypt([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	// Through the wire form, as a client would.
	parsed, err := olm.ParseMessage(m.Type(), m.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	pt, err := to.Decrypt(parsed)
	if err != nil {
		t.Fatalf("decrypt %q: %v", text, err)
	}
	if string(pt) != text {
		t.Fatalf("got %q, want %q", pt, text)
	}
}

func TestConversation(t *testing.T) {
	for _, config := range []olm.SessionConfig{olm.SessionConfigV1(), olm.SessionConfigV2()} {
		t.Run(fmt.Sprintf("v%d", config.Version()), func(t *testing.T) {
			alice, bob, _, _ := pair(t, config)
			if alice.SessionID() != bob.SessionID() {
				t.Fatal("session IDs differ")
			}
			if alice.HasReceivedMessage() || !bob.HasReceivedMessage() {
				t.Fatal("HasReceivedMessage wrong")
			}
			// Alice keeps sending pre-key messages until Bob answers.
			m, _ := alice.Encrypt([]byte("again"))
			if m.Type() != olm.MessageTypePreKey {
				t.Fatal("second message before a reply is not a pre-key message")
			}
			if pt, err := bob.Decrypt(m); err != nil || string(pt) != "again" {
				t.Fatalf("%q %v", pt, err)
			}
			roundTrip(t, bob, alice, "hi alice")
			m, _ = alice.Encrypt([]byte("normal"))
			if m.Type() != olm.MessageTypeNormal {
				t.Fatal("message after a reply is not normal")
			}
			if _, err := bob.Decrypt(m); err != nil {
				t.Fatal(err)
			}
			for i := range 20 {
				roundTrip(t, alice, bob, fmt.Sprint("a", i))
				roundTrip(t, alice, bob, fmt.Sprint("a'", i))
				roundTrip(t, bob, alice, fmt.Sprint("b", i))
			}
		})
	}
}

func TestOutOfOrderAndSkipped(t *testing.T) {
	alice, bob, _, _ := pair(t, olm.SessionConfigV1())
	roundTrip(t, bob, alice, "ack")
	var msgs []olm.Message
	for i := range 10 {
		m, _ := alice.Encrypt([]byte(fmt.Sprint(i)))
		msgs = append(msgs, m)
	}
	for _, i := range []int{9, 3, 0, 5, 1, 2, 4, 8, 6, 7} {
		pt, err := bob.Decrypt(msgs[i])
		if err != nil || string(pt) != fmt.Sprint(i) {
			t.Fatalf("message %d: %q %v", i, pt, err)
		}
	}
	// Each message decrypts once only.
	for i := range msgs {
		if _, err := bob.Decrypt(msgs[i]); !errors.Is(err, olm.ErrMessageKeyNotFound) {
			t.Fatalf("replay of %d: %v, want ErrMessageKeyNotFound", i, err)
		}
	}
}

func TestMessageGapLimit(t *testing.T) {
	for _, newChain := range []bool{false, true} {
		t.Run(fmt.Sprint("newChain=", newChain), func(t *testing.T) {
			alice, bob, _, _ := pair(t, olm.SessionConfigV1())
			roundTrip(t, bob, alice, "ack")
			if !newChain {
				roundTrip(t, alice, bob, "first on chain")
			}
			var msgs []olm.Message
			for i := 0; i <= olm.MaxMessageGap+1; i++ {
				m, _ := alice.Encrypt([]byte(fmt.Sprint(i)))
				msgs = append(msgs, m)
			}
			// The chain is at index 1 (or 0 for a new chain): the last
			// message is MaxMessageGap+1 ahead and must fail.
			before, _ := bob.Pickle(testKey)
			last := msgs[len(msgs)-1]
			if _, err := bob.Decrypt(last); !errors.Is(err, olm.ErrMessageGap) {
				t.Fatalf("gap of %d: %v, want ErrMessageGap", olm.MaxMessageGap+1, err)
			}
			assertUnchanged(t, bob, before)
			if pt, err := bob.Decrypt(msgs[len(msgs)-2]); err != nil || string(pt) != fmt.Sprint(len(msgs)-2) {
				t.Fatalf("gap of %d: %q %v", olm.MaxMessageGap, pt, err)
			}
		})
	}
}

func TestSkippedKeyLimit(t *testing.T) {
	alice, bob, _, _ := pair(t, olm.SessionConfigV1())
	roundTrip(t, bob, alice, "ack")
	var msgs []olm.Message
	n := olm.MaxSkippedMessageKeys + 1
	for i := 0; i <= n; i++ {
		m, _ := alice.Encrypt([]byte(fmt.Sprint(i)))
		msgs = append(msgs, m)
	}
	if _, err := bob.Decrypt(msgs[n]); err != nil {
		t.Fatal(err)
	}
	if k := bob.NumSkippedKeys(); k != olm.MaxSkippedMessageKeys {
		t.Fatalf("%d skipped keys kept, want %d", k, olm.MaxSkippedMessageKeys)
	}
	if _, err := bob.Decrypt(msgs[0]); !errors.Is(err, olm.ErrMessageKeyNotFound) {
		t.Fatalf("oldest skipped message: %v, want ErrMessageKeyNotFound", err)
	}
	for i := 1; i < n; i++ {
		if pt, err := bob.Decrypt(msgs[i]); err != nil || string(pt) != fmt.Sprint(i) {
			t.Fatalf("skipped message %d: %q %v", i, pt, err)
		}
		if _, err := bob.Decrypt(msgs[i]); err == nil {
			t.Fatalf("skipped message %d decrypted twice", i)
		}
	}
	if k := bob.NumSkippedKeys(); k != 0 {
		t.Fatalf("%d skipped keys left", k)
	}
}

func TestReceiverChainLimit(t *testing.T) {
	alice, bob, _, _ := pair(t, olm.SessionConfigV1())
	// Each exchange makes Alice turn the ratchet: a new chain at Bob.
	var late []olm.Message
	for i := 0; i < olm.MaxReceiverChains+1; i++ {
		roundTrip(t, bob, alice, "turn")
		m1, _ := alice.Encrypt([]byte(fmt.Sprint("late", i)))
		m2, _ := alice.Encrypt([]byte("now"))
		late = append(late, m1)
		if _, err := bob.Decrypt(m2); err != nil {
			t.Fatal(err)
		}
	}
	if n := bob.NumReceiverChains(); n != olm.MaxReceiverChains {
		t.Fatalf("%d receiver chains, want %d", n, olm.MaxReceiverChains)
	}
	// The first chain was dropped: its late message is now seen as a
	// new chain, which cannot authenticate.
	if _, err := bob.Decrypt(late[0]); err == nil {
		t.Fatal("message on a dropped chain decrypted")
	}
	for i := 1; i < len(late); i++ {
		if pt, err := bob.Decrypt(late[i]); err != nil || string(pt) != fmt.Sprint("late", i) {
			t.Fatalf("late message on chain %d: %q %v", i, pt, err)
		}
	}
}

func assertUnchanged(t *testing.T, s *olm.Session, before string) {
	t.Helper()
	after, err := s.Pickle(testKey)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := olm.UnpickleSession(before, testKey)
	b, _ := olm.UnpickleSession(after, testKey)
	la, _ := a.PickleLibolm(nil)
	lb, _ := b.PickleLibolm(nil)
	// Encryption is deterministic for libolm pickles with the same key
	// (fixed IV from the key), so equal text means equal state.
	if la != lb {
		t.Fatal("session state changed after a failed decrypt")
	}
}

// TestFailedDecryptLeavesStateUnchanged interleaves tampered and valid
// messages and checks the state is byte-identical after every failure.
func TestFailedDecryptLeavesStateUnchanged(t *testing.T) {
	alice, bob, _, _ := pair(t, olm.SessionConfigV1())
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		from, to := alice, bob
		if rng.IntN(3) == 0 {
			from, to = bob, alice
		}
		m, err := from.Encrypt([]byte(fmt.Sprint("msg", round)))
		if err != nil {
			t.Fatal(err)
		}
		b := bytes.Clone(m.Bytes())
		bad := bytes.Clone(b)
		bad[rng.IntN(len(bad))] ^= byte(1 + rng.IntN(255))
		before, _ := to.Pickle(testKey)
		if bm, err := olm.ParseMessage(m.Type(), bad); err == nil {
			if _, err := to.Decrypt(bm); err == nil {
				// A flip in an ignored varint-padding spot could leave the
				// message valid; libolm's format has none, so this is a bug.
				t.Fatalf("round %d: tampered message decrypted", round)
			}
		}
		assertUnchanged(t, to, before)
		good, err := olm.ParseMessage(m.Type(), b)
		if err != nil {
			t.Fatal(err)
		}
		if pt, err := to.Decrypt(good); err != nil || string(pt) != fmt.Sprint("msg", round) {
			t.Fatalf("round %d: %q %v", round, pt, err)
		}
	}
}

func TestDecryptErrors(t *testing.T) {
	alice, bob, _, _ := pair(t, olm.SessionConfigV1())
	roundTrip(t, bob, alice, "ack")
	m, _ := alice.Encrypt([]byte("x"))
	raw := m.Bytes()

	// A message with the MAC cut to 7 bytes or grown to 9 is not accepted.
	for _, b := range [][]byte{raw[:len(raw)-1], append(bytes.Clone(raw), 0)} {
		if pm, err := olm.ParseNormalMessage(b); err == nil {
			if _, err := bob.Decrypt(pm); err == nil {
				t.Fatal("message with a MAC of the wrong length decrypted")
			}
		}
	}
	// Every flipped MAC byte.
	for i := len(raw) - 8; i < len(raw); i++ {
		b := bytes.Clone(raw)
		b[i] ^= 0x01
		pm, err := olm.ParseNormalMessage(b)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := bob.Decrypt(pm); !errors.Is(err, olm.ErrBadMessageMAC) {
			t.Fatalf("flipped MAC byte %d: %v", i, err)
		}
	}
	// A v1 message to a v2 session and back.
	_, bob2, _, _ := pair(t, olm.SessionConfigV2())
	pm, _ := olm.ParseNormalMessage(raw)
	if _, err := bob2.Decrypt(pm); !errors.Is(err, olm.ErrBadMessageVersion) {
		t.Fatalf("v1 message to v2 session: %v", err)
	}
	// A pre-key message for another session.
	_, _, aliceAcct, _ := pair(t, olm.SessionConfigV1())
	other := newAccount(t)
	other.GenerateOneTimeKeys(1)
	var otk olm.Curve25519PublicKey
	for _, k := range other.OneTimeKeys() {
		otk = k
	}
	s, _ := aliceAcct.NewOutboundSession(other.Curve25519Key(), otk)
	pre, _ := s.Encrypt([]byte("x"))
	if _, err := bob.Decrypt(pre); !errors.Is(err, olm.ErrSessionMismatch) {
		t.Fatalf("foreign pre-key message: %v", err)
	}
	if bob.Matches(pre.(*olm.PreKeyMessage)) || !s.Matches(pre.(*olm.PreKeyMessage)) {
		t.Fatal("Matches wrong")
	}
}

func TestUnknownChainBeforeReply(t *testing.T) {
	// Bob has never sent, so a message on a new chain cannot be his
	// reply's answer: refused without state change.
	_, bob, _, _ := pair(t, olm.SessionConfigV1())
	other, _, _, _ := pair(t, olm.SessionConfigV1())
	m, _ := other.Encrypt([]byte("x"))
	inner := m.(*olm.PreKeyMessage).Message()
	if _, err := bob.Decrypt(inner); !errors.Is(err, olm.ErrUnknownChain) {
		t.Fatalf("got %v, want ErrUnknownChain", err)
	}
}

func TestLowOrderRatchetKeyRefused(t *testing.T) {
	alice, bob, _, _ := pair(t, olm.SessionConfigV1())
	roundTrip(t, bob, alice, "ack") // Bob has a sender chain now
	m, _ := alice.Encrypt([]byte("x"))
	raw := bytes.Clone(m.Bytes())
	// Replace the ratchet key (bytes 3..35) with a low-order point.
	for _, p := range lowOrderPoints {
		copy(raw[3:35], p[:])
		pm, err := olm.ParseNormalMessage(raw)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := alice.Decrypt(pm); !errors.Is(err, olm.ErrBadPublicKey) {
			t.Fatalf("low-order ratchet key %x: %v, want ErrBadPublicKey", p, err)
		}
	}
}

// lowOrderPoints are Curve25519 points of small order, whose X25519 output
// is all zeros for every scalar.
var lowOrderPoints = [][32]byte{
	{},
	{1},
	{0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4, 0x6a, 0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x00},
	{0x5f, 0x9c, 0x95, 0xbc, 0xa3, 0x50, 0x8c, 0x24, 0xb1, 0xd0, 0xb1, 0x55, 0x9c, 0x83, 0xef, 0x5b, 0x04, 0x44, 0x5c, 0xc4, 0x58, 0x1c, 0x8e, 0x86, 0xd8, 0x22, 0x4e, 0xdd, 0xd0, 0x9f, 0x11, 0x57},
	{0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
	{0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
	{0xee, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
}
