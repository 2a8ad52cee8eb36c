package main

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"sort"

	"github.com/souverain/e2ee/interop/libolm"
)

// Helpers over the libolm wrapper, each taking its randomness from rnd.

// newAccount creates a libolm account from rnd(label): an Ed25519 seed,
// then a Curve25519 private key.
func newAccount(label string) *libolm.Account {
	return must1(libolm.NewAccount(rnd("account "+label, libolm.NewAccountRandomLength())))
}

// accountSeed returns the Ed25519 seed newAccount(label) used.
func accountSeed(label string) []byte {
	return rnd("account "+label, libolm.NewAccountRandomLength())[:32]
}

// identity returns an account's identity keys.
func identity(a *libolm.Account) libolm.IdentityKeys { return must1(a.IdentityKeys()) }

// newOneTimeKey generates one one-time key from rnd(label), marks the keys
// published and returns the new key.
func newOneTimeKey(a *libolm.Account, label string) string {
	before := must1(a.OneTimeKeys())
	must(a.GenerateOneTimeKeys(1, rnd("otk "+label, a.OneTimeKeysRandomLength(1))))
	after := must1(a.OneTimeKeys())
	a.MarkKeysAsPublished()
	for id, k := range after {
		if _, ok := before[id]; !ok {
			return k
		}
	}
	panic("vectorgen: no new one-time key")
}

// newFallbackKey generates a fallback key from rnd(label) and returns it.
func newFallbackKey(a *libolm.Account, label string) string {
	must(a.GenerateFallbackKey(rnd("fallback "+label, a.FallbackKeyRandomLength())))
	for _, k := range must1(a.UnpublishedFallbackKey()) {
		return k
	}
	panic("vectorgen: no fallback key")
}

// outbound opens a session from a to the given keys with rnd(label).
func outbound(a *libolm.Account, theirIdentity, theirKey, label string) *libolm.Session {
	return must1(a.NewOutboundSession(theirIdentity, theirKey, outboundRandom(label)))
}

func outboundRandom(label string) []byte {
	return rnd("outbound "+label, libolm.OutboundSessionRandomLength())
}

// olmMsg is an Olm message as Matrix carries it.
type olmMsg struct {
	typ  int
	body string
}

// encrypt encrypts with s, taking rnd(label) if a new ratchet key is due.
// It returns the message and whether random input was used.
func encrypt(s *libolm.Session, pt []byte, label string) (olmMsg, bool) {
	n := s.EncryptRandomLength()
	t, body := must2(s.Encrypt(pt, rnd("encrypt "+label, n)))
	return olmMsg{int(t), body}, n > 0
}

func must2[A, B any](a A, b B, err error) (A, B) {
	must(err)
	return a, b
}

// pickleSession pickles s under key.
func pickleSession(s *libolm.Session, key string) string { return must1(s.Pickle([]byte(key))) }

// olmTry decrypts m with a fresh copy of the session pickled in pickle,
// leaving no state behind, and returns libolm's answer.
func olmTry(pickle, key string, m olmMsg) ([]byte, error) {
	s, err := libolm.UnpickleSession(pickle, []byte(key))
	if err != nil {
		return nil, err
	}
	defer s.Free()
	return s.Decrypt(libolm.MessageType(m.typ), m.body)
}

// libolmCode returns libolm's error code, or the error text.
func libolmCode(err error) string {
	var le *libolm.Error
	if errors.As(err, &le) {
		return le.Code
	}
	if err == nil {
		return "success"
	}
	return err.Error()
}

// groupRandom returns the 160 random bytes of an outbound group session:
// the ratchet, then the Ed25519 seed of the signing key.
func groupRandom(label string) []byte {
	return rnd("group "+label, libolm.OutboundGroupSessionRandomLength())
}

// newGroup creates a libolm outbound group session from groupRandom(label)
// and returns it with its signing key.
func newGroup(label string) (*libolm.OutboundGroupSession, ed25519.PrivateKey) {
	r := groupRandom(label)
	s := must1(libolm.NewOutboundGroupSession(r))
	priv := ed25519.NewKeyFromSeed(r[128:160])
	if id := must1(s.SessionID()); id != b64(priv.Public().(ed25519.PublicKey)) {
		panic(fmt.Sprintf("vectorgen: group session ID %s is not the key of the seed", id))
	}
	return s, priv
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
