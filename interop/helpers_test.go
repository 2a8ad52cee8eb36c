package interop_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/souverain/e2ee/interop/libolm"
	"github.com/souverain/e2ee/olm"
)

// This file holds an implementation-neutral view of accounts and sessions,
// so that each cross test runs with libolm and souverain in every role.

// wireMsg is an Olm message as it travels in Matrix JSON: a type and a
// base64 body.
type wireMsg struct {
	typ  int
	body string
}

// session is one end of an Olm session in either implementation.
type session interface {
	impl() string
	encrypt(t *testing.T, plaintext []byte) wireMsg
	decrypt(m wireMsg) ([]byte, error)
	id(t *testing.T) string
	hasReceived() bool
	matches(t *testing.T, m wireMsg) bool
	// pickle returns the session in libolm's pickle format.
	pickle(t *testing.T, key []byte) string
}

// account is an Olm account in either implementation.
type account interface {
	impl() string
	curve(t *testing.T) olm.Curve25519PublicKey
	ed(t *testing.T) olm.Ed25519PublicKey
	sign(t *testing.T, msg []byte) olm.Ed25519Signature
	// oneTimeKey generates one one-time key, marks it published and
	// returns it.
	oneTimeKey(t *testing.T) olm.Curve25519PublicKey
	// fallbackKey generates a fallback key, marks it published and returns
	// it.
	fallbackKey(t *testing.T) olm.Curve25519PublicKey
	outbound(t *testing.T, theirIdentity, theirKey olm.Curve25519PublicKey) session
	// inbound creates a session from a pre-key message, decrypts it and
	// removes the one-time key, as a client does.
	inbound(t *testing.T, theirIdentity olm.Curve25519PublicKey, m wireMsg) (session, []byte, error)
	// pickle returns the account in libolm's pickle format.
	pickle(t *testing.T, key []byte) string
}

const (
	implLibolm = "libolm"
	implOurs   = "souverain"
)

// impls lists both implementations, for tables.
var impls = []string{implLibolm, implOurs}

// other returns the implementation that is not impl.
func other(impl string) string {
	if impl == implLibolm {
		return implOurs
	}
	return implLibolm
}

func newAccount(t *testing.T, impl string) account {
	t.Helper()
	if impl == implLibolm {
		a, err := libolm.NewAccountRand()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(a.Free)
		return libAccount{a}
	}
	a, err := olm.NewAccount()
	if err != nil {
		t.Fatal(err)
	}
	return ourAccount{a}
}

// unpickleAccount loads a libolm-format account pickle into impl.
func unpickleAccount(t *testing.T, impl, pickle string, key []byte) account {
	t.Helper()
	if impl == implLibolm {
		a, err := libolm.UnpickleAccount(pickle, key)
		if err != nil {
			t.Fatalf("libolm.UnpickleAccount: %v", err)
		}
		t.Cleanup(a.Free)
		return libAccount{a}
	}
	a, err := olm.UnpickleLibolmAccount(pickle, key)
	if err != nil {
		t.Fatalf("olm.UnpickleLibolmAccount: %v", err)
	}
	return ourAccount{a}
}

// unpickleSession loads a libolm-format session pickle into impl.
func unpickleSession(t *testing.T, impl, pickle string, key []byte) session {
	t.Helper()
	if impl == implLibolm {
		s, err := libolm.UnpickleSession(pickle, key)
		if err != nil {
			t.Fatalf("libolm.UnpickleSession: %v", err)
		}
		t.Cleanup(s.Free)
		return libSession{s}
	}
	s, err := olm.UnpickleLibolmSession(pickle, key)
	if err != nil {
		t.Fatalf("olm.UnpickleLibolmSession: %v", err)
	}
	return ourSession{s}
}

// moveSession pickles s and loads it into impl.
func moveSession(t *testing.T, s session, impl string, key []byte) session {
	t.Helper()
	return unpickleSession(t, impl, s.pickle(t, key), key)
}

func parseCurve(t *testing.T, s string) olm.Curve25519PublicKey {
	t.Helper()
	k, err := olm.ParseCurve25519PublicKey(s)
	if err != nil {
		t.Fatalf("ParseCurve25519PublicKey(%q): %v", s, err)
	}
	return k
}

// toOurs parses a wire message for our implementation.
func toOurs(m wireMsg) (olm.Message, error) {
	raw, err := libolm.DecodeBase64(m.body)
	if err != nil {
		return nil, err
	}
	return olm.ParseMessage(olm.MessageType(m.typ), raw)
}

func fromOurs(m olm.Message) wireMsg {
	return wireMsg{typ: int(m.Type()), body: libolm.EncodeBase64(m.Bytes())}
}

// --- libolm ---

type libAccount struct{ a *libolm.Account }

func (libAccount) impl() string { return implLibolm }

func (a libAccount) curve(t *testing.T) olm.Curve25519PublicKey {
	t.Helper()
	k, err := a.a.IdentityKeys()
	if err != nil {
		t.Fatal(err)
	}
	return parseCurve(t, k.Curve25519)
}

func (a libAccount) ed(t *testing.T) olm.Ed25519PublicKey {
	t.Helper()
	k, err := a.a.IdentityKeys()
	if err != nil {
		t.Fatal(err)
	}
	e, err := olm.ParseEd25519PublicKey(k.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (a libAccount) sign(t *testing.T, msg []byte) olm.Ed25519Signature {
	t.Helper()
	s, err := a.a.Sign(msg)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := olm.ParseEd25519Signature(s)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

func (a libAccount) oneTimeKey(t *testing.T) olm.Curve25519PublicKey {
	t.Helper()
	if err := a.a.GenerateOneTimeKeysRand(1); err != nil {
		t.Fatal(err)
	}
	keys, err := a.a.OneTimeKeys()
	if err != nil || len(keys) == 0 {
		t.Fatalf("OneTimeKeys = %v, %v", keys, err)
	}
	// The newest key has the largest ID.
	var best uint32
	var key string
	for id, k := range keys {
		n, err := libolm.ParseKeyID(id)
		if err != nil {
			t.Fatal(err)
		}
		if n >= best {
			best, key = n, k
		}
	}
	a.a.MarkKeysAsPublished()
	return parseCurve(t, key)
}

func (a libAccount) fallbackKey(t *testing.T) olm.Curve25519PublicKey {
	t.Helper()
	if err := a.a.GenerateFallbackKeyRand(); err != nil {
		t.Fatal(err)
	}
	fb, err := a.a.UnpublishedFallbackKey()
	if err != nil || len(fb) != 1 {
		t.Fatalf("UnpublishedFallbackKey = %v, %v", fb, err)
	}
	a.a.MarkKeysAsPublished()
	for _, k := range fb {
		return parseCurve(t, k)
	}
	panic("unreachable")
}

func (a libAccount) outbound(t *testing.T, theirIdentity, theirKey olm.Curve25519PublicKey) session {
	t.Helper()
	s, err := a.a.NewOutboundSessionRand(theirIdentity.String(), theirKey.String())
	if err != nil {
		t.Fatalf("libolm NewOutboundSession: %v", err)
	}
	t.Cleanup(s.Free)
	return libSession{s}
}

func (a libAccount) inbound(t *testing.T, theirIdentity olm.Curve25519PublicKey, m wireMsg) (session, []byte, error) {
	t.Helper()
	if m.typ != int(libolm.MessageTypePreKey) {
		return nil, nil, fmt.Errorf("message type %d is not pre-key", m.typ)
	}
	s, err := a.a.NewInboundSessionFrom(theirIdentity.String(), m.body)
	if err != nil {
		return nil, nil, err
	}
	t.Cleanup(s.Free)
	pt, err := s.Decrypt(libolm.MessageTypePreKey, m.body)
	if err != nil {
		return nil, nil, err
	}
	if err := a.a.RemoveOneTimeKeys(s); err != nil {
		return nil, nil, err
	}
	return libSession{s}, pt, nil
}

func (a libAccount) pickle(t *testing.T, key []byte) string {
	t.Helper()
	p, err := a.a.Pickle(key)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

type libSession struct{ s *libolm.Session }

func (libSession) impl() string { return implLibolm }

func (s libSession) encrypt(t *testing.T, plaintext []byte) wireMsg {
	t.Helper()
	typ, body, err := s.s.EncryptRand(plaintext)
	if err != nil {
		t.Fatalf("libolm Encrypt: %v", err)
	}
	return wireMsg{int(typ), body}
}

func (s libSession) decrypt(m wireMsg) ([]byte, error) {
	return s.s.Decrypt(libolm.MessageType(m.typ), m.body)
}

func (s libSession) id(t *testing.T) string {
	t.Helper()
	id, err := s.s.SessionID()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func (s libSession) hasReceived() bool { return s.s.HasReceivedMessage() }

func (s libSession) matches(t *testing.T, m wireMsg) bool {
	t.Helper()
	ok, err := s.s.MatchesInboundSession(m.body)
	if err != nil {
		t.Fatalf("libolm MatchesInboundSession: %v", err)
	}
	return ok
}

func (s libSession) pickle(t *testing.T, key []byte) string {
	t.Helper()
	p, err := s.s.Pickle(key)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// --- souverain ---

type ourAccount struct{ a *olm.Account }

func (ourAccount) impl() string { return implOurs }

func (a ourAccount) curve(*testing.T) olm.Curve25519PublicKey { return a.a.Curve25519Key() }

func (a ourAccount) ed(*testing.T) olm.Ed25519PublicKey { return a.a.Ed25519Key() }

func (a ourAccount) sign(_ *testing.T, msg []byte) olm.Ed25519Signature { return a.a.Sign(msg) }

func (a ourAccount) oneTimeKey(t *testing.T) olm.Curve25519PublicKey {
	t.Helper()
	if err := a.a.GenerateOneTimeKeys(1); err != nil {
		t.Fatal(err)
	}
	var best olm.KeyID
	var key olm.Curve25519PublicKey
	keys := a.a.OneTimeKeys()
	if len(keys) == 0 {
		t.Fatal("no one-time key after GenerateOneTimeKeys(1)")
	}
	for id, k := range keys {
		if id >= best {
			best, key = id, k
		}
	}
	a.a.MarkKeysAsPublished()
	return key
}

func (a ourAccount) fallbackKey(t *testing.T) olm.Curve25519PublicKey {
	t.Helper()
	if err := a.a.GenerateFallbackKey(); err != nil {
		t.Fatal(err)
	}
	_, key, ok := a.a.FallbackKey()
	if !ok {
		t.Fatal("no unpublished fallback key after GenerateFallbackKey")
	}
	a.a.MarkKeysAsPublished()
	return key
}

func (a ourAccount) outbound(t *testing.T, theirIdentity, theirKey olm.Curve25519PublicKey) session {
	t.Helper()
	s, err := a.a.NewOutboundSession(theirIdentity, theirKey)
	if err != nil {
		t.Fatalf("olm NewOutboundSession: %v", err)
	}
	return ourSession{s}
}

func (a ourAccount) inbound(_ *testing.T, theirIdentity olm.Curve25519PublicKey, m wireMsg) (session, []byte, error) {
	msg, err := toOurs(m)
	if err != nil {
		return nil, nil, err
	}
	pre, ok := msg.(*olm.PreKeyMessage)
	if !ok {
		return nil, nil, errors.New("not a pre-key message")
	}
	s, pt, err := a.a.NewInboundSession(theirIdentity, pre)
	if err != nil {
		return nil, nil, err
	}
	return ourSession{s}, pt, nil
}

func (a ourAccount) pickle(t *testing.T, key []byte) string {
	t.Helper()
	p, err := a.a.PickleLibolm(key)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

type ourSession struct{ s *olm.Session }

func (ourSession) impl() string { return implOurs }

func (s ourSession) encrypt(t *testing.T, plaintext []byte) wireMsg {
	t.Helper()
	m, err := s.s.Encrypt(plaintext)
	if err != nil {
		t.Fatalf("olm Encrypt: %v", err)
	}
	return fromOurs(m)
}

func (s ourSession) decrypt(m wireMsg) ([]byte, error) {
	msg, err := toOurs(m)
	if err != nil {
		return nil, err
	}
	return s.s.Decrypt(msg)
}

func (s ourSession) id(*testing.T) string { return s.s.SessionID() }

func (s ourSession) hasReceived() bool { return s.s.HasReceivedMessage() }

func (s ourSession) matches(t *testing.T, m wireMsg) bool {
	t.Helper()
	msg, err := toOurs(m)
	if err != nil {
		t.Fatalf("parse pre-key message: %v", err)
	}
	pre, ok := msg.(*olm.PreKeyMessage)
	return ok && s.s.Matches(pre)
}

func (s ourSession) pickle(t *testing.T, key []byte) string {
	t.Helper()
	p, err := s.s.PickleLibolm(key)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// exchange sends msg from one session to the other and checks it arrives.
func exchange(t *testing.T, from, to session, msg string) {
	t.Helper()
	m := from.encrypt(t, []byte(msg))
	pt, err := to.decrypt(m)
	if err != nil {
		t.Fatalf("%s → %s: decrypt %q: %v", from.impl(), to.impl(), msg, err)
	}
	if string(pt) != msg {
		t.Fatalf("%s → %s: decrypted %q, want %q", from.impl(), to.impl(), pt, msg)
	}
}

// establish opens a session from an account of aliceImpl to one of bobImpl
// and exchanges a pre-key message and a reply.
func establish(t *testing.T, aliceImpl, bobImpl string) (alice, bob session) {
	t.Helper()
	aAcc, bAcc := newAccount(t, aliceImpl), newAccount(t, bobImpl)
	alice = aAcc.outbound(t, bAcc.curve(t), bAcc.oneTimeKey(t))
	pre := alice.encrypt(t, []byte("hello"))
	bob, pt, err := bAcc.inbound(t, aAcc.curve(t), pre)
	if err != nil || string(pt) != "hello" {
		t.Fatalf("inbound = %q, %v", pt, err)
	}
	exchange(t, bob, alice, "hi")
	return alice, bob
}
