package libolm_test

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/souverain/e2ee/interop/libolm"
)

// detRandom returns n reproducible bytes for the given label.
func detRandom(label string, n int) []byte {
	seed := sha256.Sum256([]byte(label))
	b := make([]byte, n)
	rand.NewChaCha8(seed).Read(b)
	return b
}

func newAccount(t *testing.T, label string) *libolm.Account {
	t.Helper()
	a, err := libolm.NewAccount(detRandom(label, libolm.NewAccountRandomLength()))
	if err != nil {
		t.Fatalf("NewAccount(%q): %v", label, err)
	}
	t.Cleanup(a.Free)
	return a
}

func identityKeys(t *testing.T, a *libolm.Account) libolm.IdentityKeys {
	t.Helper()
	k, err := a.IdentityKeys()
	if err != nil {
		t.Fatalf("IdentityKeys: %v", err)
	}
	return k
}

// oneTimeKey generates one fresh one-time key on a and returns its ID and key.
func oneTimeKey(t *testing.T, a *libolm.Account, label string) (string, string) {
	t.Helper()
	before, err := a.OneTimeKeys()
	if err != nil {
		t.Fatal(err)
	}
	if err := a.GenerateOneTimeKeys(1, detRandom(label, a.OneTimeKeysRandomLength(1))); err != nil {
		t.Fatalf("GenerateOneTimeKeys: %v", err)
	}
	after, err := a.OneTimeKeys()
	if err != nil {
		t.Fatal(err)
	}
	for id, k := range after {
		if _, ok := before[id]; !ok {
			return id, k
		}
	}
	t.Fatal("no new one-time key")
	return "", ""
}

// pair is a session between alice (outbound) and bob (inbound), with the
// first pre-key message already decrypted by bob.
type pair struct {
	alice, bob *libolm.Session
}

func newPair(t *testing.T, label string) (pair, *libolm.Account, *libolm.Account) {
	t.Helper()
	aAcc := newAccount(t, label+"/alice")
	bAcc := newAccount(t, label+"/bob")
	_, otk := oneTimeKey(t, bAcc, label+"/bob/otk")
	bKeys := identityKeys(t, bAcc)

	alice, err := aAcc.NewOutboundSession(bKeys.Curve25519, otk, detRandom(label+"/out", libolm.OutboundSessionRandomLength()))
	if err != nil {
		t.Fatalf("NewOutboundSession: %v", err)
	}
	t.Cleanup(alice.Free)
	typ, body, err := alice.Encrypt([]byte("hello"), detRandom(label+"/enc0", alice.EncryptRandomLength()))
	if err != nil || typ != libolm.MessageTypePreKey {
		t.Fatalf("Encrypt = %v, %v; want pre-key message", typ, err)
	}
	bob, err := bAcc.NewInboundSession(body)
	if err != nil {
		t.Fatalf("NewInboundSession: %v", err)
	}
	t.Cleanup(bob.Free)
	pt, err := bob.Decrypt(typ, body)
	if err != nil || string(pt) != "hello" {
		t.Fatalf("Decrypt = %q, %v", pt, err)
	}
	if err := bAcc.RemoveOneTimeKeys(bob); err != nil {
		t.Fatalf("RemoveOneTimeKeys: %v", err)
	}
	return pair{alice, bob}, aAcc, bAcc
}

func send(t *testing.T, from, to *libolm.Session, msg string) {
	t.Helper()
	typ, body, err := from.EncryptRand([]byte(msg))
	if err != nil {
		t.Fatalf("Encrypt(%q): %v", msg, err)
	}
	pt, err := to.Decrypt(typ, body)
	if err != nil {
		t.Fatalf("Decrypt(%q): %v", msg, err)
	}
	if string(pt) != msg {
		t.Fatalf("Decrypt = %q, want %q", pt, msg)
	}
}

func TestVersion(t *testing.T) {
	ma, mi, _ := libolm.Version()
	if ma != 3 || mi != 2 {
		t.Errorf("Version = %d.%d, want 3.2", ma, mi)
	}
}

func TestRandomLengths(t *testing.T) {
	a := newAccount(t, "lengths")
	tests := []struct {
		name      string
		got, want int
	}{
		{"NewAccountRandomLength", libolm.NewAccountRandomLength(), 64},
		{"OutboundSessionRandomLength", libolm.OutboundSessionRandomLength(), 64},
		{"OneTimeKeysRandomLength(3)", a.OneTimeKeysRandomLength(3), 96},
		{"FallbackKeyRandomLength", a.FallbackKeyRandomLength(), 32},
		{"MaxNumberOfOneTimeKeys", a.MaxNumberOfOneTimeKeys(), 100},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %d, want %d", tt.name, tt.got, tt.want)
		}
	}
}

// TestAccountKnownAnswer checks the identity keys and a signature against
// Go's standard library computed from the same random bytes.
func TestAccountKnownAnswer(t *testing.T) {
	random := detRandom("kat", 64)
	orig := bytes.Clone(random)
	a, err := libolm.NewAccount(random)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Free()
	if !bytes.Equal(random, orig) {
		t.Error("NewAccount modified the caller's random bytes")
	}
	edPriv := ed25519.NewKeyFromSeed(random[:32])
	x, err := ecdh.X25519().NewPrivateKey(random[32:])
	if err != nil {
		t.Fatal(err)
	}
	want := libolm.IdentityKeys{
		Ed25519:    libolm.EncodeBase64(edPriv.Public().(ed25519.PublicKey)),
		Curve25519: libolm.EncodeBase64(x.PublicKey().Bytes()),
	}
	if got := identityKeys(t, a); got != want {
		t.Errorf("IdentityKeys = %+v, want %+v", got, want)
	}
	msg := []byte("a message to sign")
	sig, err := a.Sign(msg)
	if err != nil {
		t.Fatal(err)
	}
	if want := libolm.EncodeBase64(ed25519.Sign(edPriv, msg)); sig != want {
		t.Errorf("Sign = %s, want %s", sig, want)
	}
}

func TestDeterministic(t *testing.T) {
	run := func() []string {
		p, aAcc, bAcc := newPair(t, "det")
		out := []string{}
		for _, acc := range []*libolm.Account{aAcc, bAcc} {
			pk, err := acc.Pickle([]byte("key"))
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, pk)
		}
		for i, s := range []*libolm.Session{p.alice, p.bob, p.alice, p.alice, p.bob} {
			_, body, err := s.Encrypt([]byte(fmt.Sprint("m", i)), detRandom(fmt.Sprint("det/", i), s.EncryptRandomLength()))
			if err != nil {
				t.Fatal(err)
			}
			pk, err := s.Pickle(nil)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, body, pk)
		}
		return out
	}
	first, second := run(), run()
	for i := range first {
		if first[i] != second[i] {
			t.Errorf("output %d differs between runs with the same random bytes:\n%s\n%s", i, first[i], second[i])
		}
	}
	if a, b := newAccount(t, "x"), newAccount(t, "y"); identityKeys(t, a) == identityKeys(t, b) {
		t.Error("different random bytes gave the same identity keys")
	}
}

func TestConversation(t *testing.T) {
	aAcc := newAccount(t, "conv/alice")
	bAcc := newAccount(t, "conv/bob")
	aKeys, bKeys := identityKeys(t, aAcc), identityKeys(t, bAcc)
	id, otk := oneTimeKey(t, bAcc, "conv/otk")
	if id != "AAAAAQ" {
		t.Errorf("first one-time key ID = %s, want AAAAAQ", id)
	}

	alice, err := aAcc.NewOutboundSessionRand(bKeys.Curve25519, otk)
	if err != nil {
		t.Fatal(err)
	}
	defer alice.Free()
	if alice.HasReceivedMessage() {
		t.Error("new outbound session HasReceivedMessage")
	}

	// Several pre-key messages before any reply.
	var bodies []string
	for i := range 3 {
		typ, body, err := alice.EncryptRand([]byte(fmt.Sprint("pre-key ", i)))
		if err != nil || typ != libolm.MessageTypePreKey {
			t.Fatalf("Encrypt %d = %v, %v", i, typ, err)
		}
		bodies = append(bodies, body)
	}

	if _, err := bAcc.NewInboundSessionFrom(bKeys.Curve25519, bodies[0]); !errors.Is(err, libolm.ErrBadMessageKeyID) {
		t.Errorf("NewInboundSessionFrom(wrong sender) error = %v, want BAD_MESSAGE_KEY_ID", err)
	}
	bob, err := bAcc.NewInboundSessionFrom(aKeys.Curve25519, bodies[0])
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Free()
	for i, body := range bodies {
		for _, from := range []bool{false, true} {
			var ok bool
			if from {
				ok, err = bob.MatchesInboundSessionFrom(aKeys.Curve25519, body)
			} else {
				ok, err = bob.MatchesInboundSession(body)
			}
			if err != nil || !ok {
				t.Errorf("Matches(body %d, from=%v) = %v, %v", i, from, ok, err)
			}
		}
		if ok, _ := bob.MatchesInboundSessionFrom(bKeys.Curve25519, body); ok {
			t.Errorf("MatchesInboundSessionFrom(wrong sender) = true")
		}
	}
	// Decrypt out of order.
	for _, i := range []int{2, 0, 1} {
		pt, err := bob.Decrypt(libolm.MessageTypePreKey, bodies[i])
		if err != nil || string(pt) != fmt.Sprint("pre-key ", i) {
			t.Fatalf("Decrypt %d = %q, %v", i, pt, err)
		}
	}
	if !bob.HasReceivedMessage() {
		t.Error("HasReceivedMessage = false after decrypt")
	}
	if err := bAcc.RemoveOneTimeKeys(bob); err != nil {
		t.Fatal(err)
	}
	if err := bAcc.RemoveOneTimeKeys(bob); !errors.Is(err, libolm.ErrBadMessageKeyID) {
		t.Errorf("second RemoveOneTimeKeys error = %v, want BAD_MESSAGE_KEY_ID", err)
	}
	if _, err := bAcc.NewInboundSession(bodies[0]); !errors.Is(err, libolm.ErrBadMessageKeyID) {
		t.Errorf("NewInboundSession after key removal error = %v, want BAD_MESSAGE_KEY_ID", err)
	}

	aID, err := alice.SessionID()
	if err != nil {
		t.Fatal(err)
	}
	bID, _ := bob.SessionID()
	if aID != bID {
		t.Errorf("session IDs differ: %s vs %s", aID, bID)
	}

	if got := bob.EncryptMessageType(); got != libolm.MessageTypeNormal {
		t.Errorf("bob EncryptMessageType = %v, want normal", got)
	}
	send(t, bob, alice, "reply")
	if got := alice.EncryptMessageType(); got != libolm.MessageTypeNormal {
		t.Errorf("alice EncryptMessageType after reply = %v, want normal", got)
	}
	for i := range 20 {
		if i%3 == 0 {
			send(t, alice, bob, fmt.Sprint("a", i))
		} else {
			send(t, bob, alice, fmt.Sprint("b", i))
		}
	}
	send(t, alice, bob, "")
	if d := alice.Describe(); d == "" {
		t.Error("Describe is empty")
	}
}

// TestSessionIDKnownAnswer checks the session ID is SHA-256 of Alice's
// identity key, her base key (from the first 32 random bytes) and Bob's
// one-time key.
func TestSessionIDKnownAnswer(t *testing.T) {
	aAcc := newAccount(t, "sid/alice")
	bAcc := newAccount(t, "sid/bob")
	_, otk := oneTimeKey(t, bAcc, "sid/otk")
	random := detRandom("sid/out", 64)
	s, err := aAcc.NewOutboundSession(identityKeys(t, bAcc).Curve25519, otk, random)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Free()
	base, err := ecdh.X25519().NewPrivateKey(random[:32])
	if err != nil {
		t.Fatal(err)
	}
	ik, _ := libolm.DecodeBase64(identityKeys(t, aAcc).Curve25519)
	ok, _ := libolm.DecodeBase64(otk)
	h := sha256.New()
	h.Write(ik)
	h.Write(base.PublicKey().Bytes())
	h.Write(ok)
	got, err := s.SessionID()
	if err != nil {
		t.Fatal(err)
	}
	if want := libolm.EncodeBase64(h.Sum(nil)); got != want {
		t.Errorf("SessionID = %s, want %s", got, want)
	}
}

func TestOneTimeKeys(t *testing.T) {
	a := newAccount(t, "otk")
	if err := a.GenerateOneTimeKeys(5, detRandom("otk/5", 5*32)); err != nil {
		t.Fatal(err)
	}
	keys, err := a.OneTimeKeys()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 5 {
		t.Fatalf("OneTimeKeys has %d keys, want 5", len(keys))
	}
	random := detRandom("otk/5", 5*32)
	for i := range 5 {
		id := libolm.KeyIDString(uint32(i + 1))
		x, _ := ecdh.X25519().NewPrivateKey(random[32*i : 32*i+32])
		if want := libolm.EncodeBase64(x.PublicKey().Bytes()); keys[id] != want {
			t.Errorf("key %s = %s, want %s", id, keys[id], want)
		}
	}
	if n := a.MarkKeysAsPublished(); n != 5 {
		t.Errorf("MarkKeysAsPublished = %d, want 5", n)
	}
	if keys, _ := a.OneTimeKeys(); len(keys) != 0 {
		t.Errorf("after publishing OneTimeKeys = %v, want none", keys)
	}
	if err := a.GenerateOneTimeKeys(2, detRandom("short", 63)); !errors.Is(err, libolm.ErrNotEnoughRandom) {
		t.Errorf("GenerateOneTimeKeys(short random) error = %v, want NOT_ENOUGH_RANDOM", err)
	}
	if err := a.GenerateOneTimeKeysRand(1); err != nil {
		t.Fatal(err)
	}
	keys, _ = a.OneTimeKeys()
	if _, ok := keys["AAAABg"]; !ok || len(keys) != 1 {
		t.Errorf("OneTimeKeys = %v, want one key with ID AAAABg", keys)
	}
}

func TestKeyID(t *testing.T) {
	tests := []struct {
		id uint32
		s  string
	}{
		{0, "AAAAAA"},
		{1, "AAAAAQ"},
		{255, "AAAA/w"},
		{1 << 24, "AQAAAA"},
		{0xffffffff, "/////w"},
	}
	for _, tt := range tests {
		if got := libolm.KeyIDString(tt.id); got != tt.s {
			t.Errorf("KeyIDString(%d) = %s, want %s", tt.id, got, tt.s)
		}
		if got, err := libolm.ParseKeyID(tt.s); err != nil || got != tt.id {
			t.Errorf("ParseKeyID(%s) = %d, %v", tt.s, got, err)
		}
	}
	for _, bad := range []string{"", "AAAA", "AAAAAAAA", "!!!!!!"} {
		if _, err := libolm.ParseKeyID(bad); err == nil {
			t.Errorf("ParseKeyID(%q) succeeded", bad)
		}
	}
}

func TestFallbackKey(t *testing.T) {
	aAcc := newAccount(t, "fb/alice")
	bAcc := newAccount(t, "fb/bob")
	bKeys := identityKeys(t, bAcc)

	if fb, err := bAcc.UnpublishedFallbackKey(); err != nil || len(fb) != 0 {
		t.Errorf("UnpublishedFallbackKey before generation = %v, %v", fb, err)
	}
	if err := bAcc.GenerateFallbackKey(detRandom("fb/1", 32)); err != nil {
		t.Fatal(err)
	}
	fb1, err := bAcc.UnpublishedFallbackKey()
	if err != nil || len(fb1) != 1 {
		t.Fatalf("UnpublishedFallbackKey = %v, %v", fb1, err)
	}
	if bAcc.MarkKeysAsPublished() != 0 {
		t.Error("MarkKeysAsPublished counted the fallback key")
	}
	if fb, _ := bAcc.UnpublishedFallbackKey(); len(fb) != 0 {
		t.Errorf("UnpublishedFallbackKey after publishing = %v", fb)
	}
	if fb, _ := bAcc.FallbackKey(); fmt.Sprint(fb) != fmt.Sprint(fb1) {
		t.Errorf("FallbackKey = %v, want %v", fb, fb1)
	}
	var key1 string
	for _, k := range fb1 {
		key1 = k
	}

	// Two sessions to the same fallback key; removing "one-time keys" does
	// not remove it.
	preKey := func() string {
		s, err := aAcc.NewOutboundSessionRand(bKeys.Curve25519, key1)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Free()
		_, body, err := s.EncryptRand([]byte("fb"))
		if err != nil {
			t.Fatal(err)
		}
		return body
	}
	for i := range 2 {
		s, err := bAcc.NewInboundSession(preKey())
		if err != nil {
			t.Fatalf("inbound %d: %v", i, err)
		}
		if err := bAcc.RemoveOneTimeKeys(s); err != nil {
			t.Errorf("RemoveOneTimeKeys on fallback session: %v", err)
		}
		s.Free()
	}

	body := preKey()
	if err := bAcc.GenerateFallbackKeyRand(); err != nil {
		t.Fatal(err)
	}
	s, err := bAcc.NewInboundSession(body)
	if err != nil {
		t.Fatalf("inbound with previous fallback key: %v", err)
	}
	s.Free()
	bAcc.ForgetOldFallbackKey()
	if _, err := bAcc.NewInboundSession(body); !errors.Is(err, libolm.ErrBadMessageKeyID) {
		t.Errorf("inbound with forgotten fallback key error = %v, want BAD_MESSAGE_KEY_ID", err)
	}
}

func TestPickle(t *testing.T) {
	for _, n := range []int{0, 1, 16, 32, 33, 64, 100} {
		t.Run(fmt.Sprint("keylen=", n), func(t *testing.T) {
			key := detRandom(fmt.Sprint("pk", n), n)
			p, aAcc, _ := newPair(t, fmt.Sprint("pickle", n))

			pk, err := aAcc.Pickle(key)
			if err != nil {
				t.Fatal(err)
			}
			a2, err := libolm.UnpickleAccount(pk, key)
			if err != nil {
				t.Fatal(err)
			}
			defer a2.Free()
			if identityKeys(t, a2) != identityKeys(t, aAcc) {
				t.Error("identity keys changed over pickling")
			}
			if pk2, _ := a2.Pickle(key); pk2 != pk {
				t.Error("account pickle not stable over a round trip")
			}
			wrong := append(bytes.Clone(key), 1)
			if _, err := libolm.UnpickleAccount(pk, wrong); !errors.Is(err, libolm.ErrBadAccountKey) {
				t.Errorf("UnpickleAccount(wrong key) error = %v, want BAD_ACCOUNT_KEY", err)
			}

			send(t, p.bob, p.alice, "before")
			for _, s := range []**libolm.Session{&p.alice, &p.bob} {
				pk, err := (*s).Pickle(key)
				if err != nil {
					t.Fatal(err)
				}
				s2, err := libolm.UnpickleSession(pk, key)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(s2.Free)
				if _, err := libolm.UnpickleSession(pk, wrong); !errors.Is(err, libolm.ErrBadAccountKey) {
					t.Errorf("UnpickleSession(wrong key) error = %v, want BAD_ACCOUNT_KEY", err)
				}
				id1, _ := (*s).SessionID()
				id2, _ := s2.SessionID()
				if id1 != id2 {
					t.Error("session ID changed over pickling")
				}
				(*s).Free()
				*s = s2
			}
			send(t, p.alice, p.bob, "after 1")
			send(t, p.bob, p.alice, "after 2")
		})
	}
	if _, err := libolm.UnpickleAccount("AAAAA", nil); !errors.Is(err, libolm.ErrInvalidBase64) {
		t.Errorf("UnpickleAccount(garbage) error = %v, want INVALID_BASE64", err)
	}
}

func TestDecryptErrors(t *testing.T) {
	p, _, _ := newPair(t, "errs")
	typ, body, err := p.bob.EncryptRand([]byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := libolm.DecodeBase64(body)
	raw[len(raw)-1] ^= 1
	tampered := libolm.EncodeBase64(raw)
	raw[len(raw)-1] ^= 1
	raw[0] = 4 // protocol version 3 is the only one
	badVersion := libolm.EncodeBase64(raw)
	tests := []struct {
		name string
		typ  libolm.MessageType
		body string
		want error
	}{
		{"bad MAC", typ, tampered, libolm.ErrBadMessageMAC},
		{"bad base64", typ, "AAAAA", libolm.ErrInvalidBase64}, // libolm only rejects bad lengths
		{"bad version", typ, badVersion, libolm.ErrBadMessageVersion},
		{"truncated", typ, libolm.EncodeBase64(raw[:5]), libolm.ErrBadMessageFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := p.alice.Decrypt(tt.typ, tt.body)
			if !errors.Is(err, tt.want) {
				t.Errorf("Decrypt error = %v, want %v", err, tt.want)
			}
			var le *libolm.Error
			if !errors.As(err, &le) || le.Op != "decrypt" {
				t.Errorf("error %v is not a *libolm.Error for op decrypt", err)
			}
		})
	}
	if _, err := p.alice.Decrypt(7, body); err == nil {
		t.Error("Decrypt(type 7) succeeded")
	}
	// The failed attempts left the session usable.
	if pt, err := p.alice.Decrypt(typ, body); err != nil || string(pt) != "secret" {
		t.Errorf("Decrypt after failures = %q, %v", pt, err)
	}
	// Having received, alice starts a new chain: her next message needs random.
	if n := p.alice.EncryptRandomLength(); n != 32 {
		t.Errorf("EncryptRandomLength = %d, want 32", n)
	}
	if _, _, err := p.alice.Encrypt([]byte("x"), make([]byte, 31)); !errors.Is(err, libolm.ErrNotEnoughRandom) {
		t.Errorf("Encrypt(short random) error = %v, want NOT_ENOUGH_RANDOM", err)
	}
	if _, err := libolm.NewAccount(make([]byte, 63)); !errors.Is(err, libolm.ErrNotEnoughRandom) {
		t.Errorf("NewAccount(63 bytes) error = %v, want NOT_ENOUGH_RANDOM", err)
	}
	if _, err := newAccount(t, "e").NewOutboundSession("short", "short", make([]byte, 64)); !errors.Is(err, libolm.ErrInvalidBase64) {
		t.Errorf("NewOutboundSession(bad keys) error = %v, want INVALID_BASE64", err)
	}
}

func TestUtility(t *testing.T) {
	for _, in := range [][]byte{nil, []byte("abc"), bytes.Repeat([]byte{7}, 1000)} {
		got, err := libolm.SHA256(in)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(in)
		if want := libolm.EncodeBase64(sum[:]); got != want {
			t.Errorf("SHA256(%d bytes) = %s, want %s", len(in), got, want)
		}
	}

	a := newAccount(t, "util")
	key := identityKeys(t, a).Ed25519
	msg := []byte("signed")
	sig, err := a.Sign(msg)
	if err != nil {
		t.Fatal(err)
	}
	if err := libolm.Ed25519Verify(key, msg, sig); err != nil {
		t.Errorf("Ed25519Verify(valid) = %v", err)
	}
	rawSig, _ := libolm.DecodeBase64(sig)
	rawSig[0] ^= 1
	tests := []struct {
		name     string
		key, sig string
		msg      []byte
		want     error
	}{
		{"other message", key, sig, []byte("signeD"), libolm.ErrBadMessageMAC},
		{"flipped signature", key, libolm.EncodeBase64(rawSig), msg, libolm.ErrBadMessageMAC},
		{"short signature", key, sig[:40], msg, libolm.ErrBadMessageMAC},
		{"short key", key[:40], sig, msg, libolm.ErrInvalidBase64},
		{"other key", identityKeys(t, newAccount(t, "util2")).Ed25519, sig, msg, libolm.ErrBadMessageMAC},
	}
	for _, tt := range tests {
		if err := libolm.Ed25519Verify(tt.key, tt.msg, tt.sig); !errors.Is(err, tt.want) {
			t.Errorf("%s: Ed25519Verify error = %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestFree(t *testing.T) {
	a, err := libolm.NewAccountRand()
	if err != nil {
		t.Fatal(err)
	}
	b := newAccount(t, "free/b")
	_, otk := oneTimeKey(t, b, "free/otk")
	s, err := a.NewOutboundSessionRand(identityKeys(t, b).Curve25519, otk)
	if err != nil {
		t.Fatal(err)
	}
	s.Free()
	s.Free()
	a.Free()
	a.Free()
	if _, err := a.IdentityKeys(); !errors.Is(err, libolm.ErrFreed) {
		t.Errorf("IdentityKeys after Free error = %v, want ErrFreed", err)
	}
	if _, err := a.Pickle(nil); !errors.Is(err, libolm.ErrFreed) {
		t.Errorf("Pickle after Free error = %v, want ErrFreed", err)
	}
	if _, _, err := s.EncryptRand(nil); !errors.Is(err, libolm.ErrFreed) {
		t.Errorf("Encrypt after Free error = %v, want ErrFreed", err)
	}
	defer func() {
		if recover() == nil {
			t.Error("HasReceivedMessage after Free did not panic")
		}
	}()
	s.HasReceivedMessage()
}

func TestMessageTypeString(t *testing.T) {
	for typ, want := range map[libolm.MessageType]string{0: "pre-key", 1: "normal", 5: "MessageType(5)"} {
		if got := typ.String(); got != want {
			t.Errorf("MessageType(%d).String() = %q, want %q", int(typ), got, want)
		}
	}
}
