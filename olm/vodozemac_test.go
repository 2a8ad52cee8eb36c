package olm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/souverain/e2ee/internal/pickle"
	"github.com/souverain/e2ee/internal/vzjson"
)

// vzBytes renders b as serde_json renders a byte array.
func vzBytes(b []byte) json.RawMessage {
	out, _ := json.Marshal(vzjson.Bytes(b))
	return out
}

func vzMarshalAccount(a *Account) []byte {
	out, err := a.MarshalVodozemac()
	if err != nil {
		panic(err)
	}
	return out
}

func vzMarshalSession(s *Session) []byte {
	out, err := s.MarshalVodozemac()
	if err != nil {
		panic(err)
	}
	return out
}

var vzKey = [32]byte{0x42}

func vzAccountRoundTrip(t *testing.T, a *Account) *Account {
	t.Helper()
	text, err := a.PickleVodozemac(&vzKey)
	if err != nil {
		t.Fatal(err)
	}
	b, err := UnpickleVodozemacAccount(text, &vzKey)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func vzSessionRoundTrip(t *testing.T, s *Session) *Session {
	t.Helper()
	text, err := s.PickleVodozemac(&vzKey)
	if err != nil {
		t.Fatal(err)
	}
	r, err := UnpickleVodozemacSession(text, &vzKey)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestVodozemacAccount(t *testing.T) {
	a := dehydrationAccount(t) // 3 one-time keys and a fallback key
	a.st.oneTimeKeys[0].published = true
	a.st.generateFallbackKey(bytes.Repeat([]byte{0x78}, 32))
	a.st.fallback[0].published = true
	b := vzAccountRoundTrip(t, a)
	if b.Curve25519Key() != a.Curve25519Key() || b.Ed25519Key() != a.Ed25519Key() {
		t.Fatal("identity keys differ")
	}
	if b.Sign([]byte("m")) != a.Sign([]byte("m")) {
		t.Fatal("signatures differ")
	}
	if len(b.st.oneTimeKeys) != 3 || b.st.numFallback != 2 || b.st.nextKeyID != a.st.nextKeyID {
		t.Fatalf("%d one-time keys, %d fallback keys, next ID %d", len(b.st.oneTimeKeys), b.st.numFallback, b.st.nextKeyID)
	}
	for i := range a.st.oneTimeKeys {
		if b.st.oneTimeKeys[i] != a.st.oneTimeKeys[i] {
			t.Fatalf("one-time key %d differs", i)
		}
	}
	if b.st.fallback != a.st.fallback {
		t.Fatal("fallback keys differ")
	}
	// A seed stays a seed: the account can be dehydrated.
	if _, _, err := b.Dehydrate(&vzKey); err != nil {
		t.Fatal(err)
	}
	// An expanded key (vodozemac's account taken over from libolm) stays
	// expanded.
	p, _ := a.PickleLibolm([]byte("k"))
	fromLibolm, _ := UnpickleLibolmAccount(p, []byte("k"))
	c := vzAccountRoundTrip(t, fromLibolm)
	if c.Ed25519Key() != a.Ed25519Key() || c.Sign([]byte("m")) != a.Sign([]byte("m")) {
		t.Fatal("expanded key: identity or signature differs")
	}
	if _, _, err := c.Dehydrate(&vzKey); !errors.Is(err, ErrNotDehydratable) {
		t.Fatalf("expanded key dehydrated: %v", err)
	}
}

// TestVodozemacSessionConversation runs a conversation in which both sides
// move their sessions through vodozemac's pickle at every step, with
// messages delivered out of order so that skipped keys are pickled too.
func TestVodozemacSessionConversation(t *testing.T) {
	for _, config := range []SessionConfig{SessionConfigV1(), SessionConfigV2()} {
		t.Run(fmt.Sprintf("v%d", config.Version()), func(t *testing.T) {
			alice, _ := newAccount(bytes.Repeat([]byte{1}, 64))
			bob, _ := newAccount(bytes.Repeat([]byte{2}, 64))
			bob.st.generateOneTimeKeys(bytes.Repeat([]byte{3}, 32))
			var otk Curve25519PublicKey
			for _, k := range bob.OneTimeKeys() {
				otk = k
			}
			as, err := alice.NewOutboundSessionWithConfig(config, bob.Curve25519Key(), otk)
			if err != nil {
				t.Fatal(err)
			}
			as = vzSessionRoundTrip(t, as)
			m0, _ := as.Encrypt([]byte("hello"))
			bs, plain, err := bob.NewInboundSessionWithConfig(config, alice.Curve25519Key(), m0.(*PreKeyMessage))
			if err != nil || string(plain) != "hello" {
				t.Fatal(err)
			}
			for round := range 4 {
				bs = vzSessionRoundTrip(t, bs)
				// Bob sends three; Alice gets the third first.
				var ms []Message
				for i := range 3 {
					m, err := bs.Encrypt(fmt.Appendf(nil, "bob %d.%d", round, i))
					if err != nil {
						t.Fatal(err)
					}
					ms = append(ms, m)
				}
				as = vzSessionRoundTrip(t, as)
				for _, i := range []int{2, 0} {
					p, err := as.Decrypt(ms[i])
					if err != nil || string(p) != fmt.Sprintf("bob %d.%d", round, i) {
						t.Fatalf("round %d message %d: %q %v", round, i, p, err)
					}
				}
				as = vzSessionRoundTrip(t, as) // holds a skipped key
				if p, err := as.Decrypt(ms[1]); err != nil || string(p) != fmt.Sprintf("bob %d.1", round) {
					t.Fatalf("round %d skipped message: %q %v", round, p, err)
				}
				m, _ := as.Encrypt([]byte("alice"))
				bs = vzSessionRoundTrip(t, bs)
				if p, err := bs.Decrypt(m); err != nil || string(p) != "alice" {
					t.Fatalf("round %d reply: %v", round, err)
				}
			}
			if as.SessionID() != bs.SessionID() {
				t.Fatal("session IDs differ")
			}
		})
	}
}

func TestVodozemacRefuses(t *testing.T) {
	a := dehydrationAccount(t)
	acc := string(vzMarshalAccount(a))
	alice, _ := newAccount(bytes.Repeat([]byte{1}, 64))
	bob, _ := newAccount(bytes.Repeat([]byte{2}, 64))
	bob.st.generateOneTimeKeys(bytes.Repeat([]byte{3}, 32))
	var otk Curve25519PublicKey
	for _, k := range bob.OneTimeKeys() {
		otk = k
	}
	as, _ := alice.NewOutboundSession(bob.Curve25519Key(), otk)
	m, _ := as.Encrypt([]byte("x"))
	bs, _, _ := bob.NewInboundSession(alice.Curve25519Key(), m.(*PreKeyMessage))
	active := string(vzMarshalSession(as))
	inactive := string(vzMarshalSession(bs))
	otherKey := string(vzBytes(bytes.Repeat([]byte{9}, 32)))
	pub0 := string(vzBytes(a.st.oneTimeKeys[0].key.pub[:]))

	accounts := []struct{ name, json string }{
		{"not JSON", "{"},
		{"no signing key", strings.Replace(acc, `"signing_key"`, `"x"`, 1)},
		{"no identity key", strings.Replace(acc, `"diffie_hellman_key"`, `"x"`, 1)},
		{"no one-time keys", strings.Replace(acc, `"one_time_keys"`, `"x"`, 1)},
		{"no fallback keys", strings.Replace(acc, `"fallback_keys"`, `"x"`, 1)},
		{"no next key ID", strings.Replace(acc, `"next_key_id"`, `"x"`, 1)},
		{"public key of another", strings.Replace(acc, `"public_keys":{"1":`+pub0, `"public_keys":{"1":`+otherKey, 1)},
		{"public key without private", strings.Replace(acc, `"public_keys":{`, `"public_keys":{"77":`+otherKey+`,`, 1)},
		{"bad key ID", strings.Replace(acc, `"private_keys":{`, `"private_keys":{"x":`+otherKey+`,`, 1)},
		{"key ID with leading zero", strings.Replace(acc, `"private_keys":{`, `"private_keys":{"07":`+otherKey+`,`, 1)},
		{"key ID beyond 2^32", strings.Replace(acc, `"private_keys":{`, `"private_keys":{"4294967296":`+otherKey+`,`, 1)},
		{"short key", strings.Replace(acc, `"diffie_hellman_key":[`, `"diffie_hellman_key":[1,`, 1)},
		{"previous fallback only", strings.Replace(strings.Replace(acc, `"fallback_key":{`, `"previous_fallback_key":{`, 1), `"previous_fallback_key":null`, `"fallback_key":null`, 1)},
	}
	for _, tc := range accounts {
		if tc.json == acc {
			t.Fatalf("account %s: the mutation did not apply", tc.name)
		}
		if _, err := ParseVodozemacAccount([]byte(tc.json)); !errors.Is(err, ErrCorruptedPickle) {
			t.Errorf("account %s: %v", tc.name, err)
		}
	}
	sessions := []struct{ name, json string }{
		{"not JSON", "["},
		{"no session keys", strings.Replace(active, `"session_keys"`, `"x"`, 1)},
		{"no ratchet", strings.Replace(active, `"sending_ratchet"`, `"x"`, 1)},
		{"no chains", strings.Replace(active, `"receiving_chains"`, `"x"`, 1)},
		{"unknown ratchet type", strings.Replace(active, `"type":"active"`, `"type":"dormant"`, 1)},
		{"active without chain", strings.Replace(active, `"symmetric_key_ratchet"`, `"x"`, 1)},
		{"inactive with a foreign key", strings.Replace(inactive, `"ratchet_key":`+string(vzBytes(bs.st.receivers[0].ratchetKey[:])), `"ratchet_key":`+otherKey, 1)},
		{"inactive without root key", strings.Replace(inactive, `"root_key"`, `"x"`, 1)},
		{"chain index beyond 2^32", strings.Replace(inactive, `"index":1`, `"index":4294967296`, 1)},
		{"config V3", strings.Replace(active, `"V1"`, `"V3"`, 1)},
	}
	for _, tc := range sessions {
		if tc.json == active || tc.json == inactive {
			t.Fatalf("session %s: the mutation did not apply", tc.name)
		}
		if _, err := ParseVodozemacSession([]byte(tc.json)); !errors.Is(err, ErrCorruptedPickle) {
			t.Errorf("session %s: %v", tc.name, err)
		}
	}
	wrong := vzKey
	wrong[31] = 1
	if _, err := UnpickleVodozemacAccount(pickle.EncryptVodozemac(&vzKey, []byte(acc)), &wrong); !errors.Is(err, ErrBadPickleKey) {
		t.Errorf("wrong key: %v", err)
	}
	if _, err := UnpickleVodozemacSession(pickle.EncryptVodozemac(&vzKey, []byte(active)), nil); !errors.Is(err, ErrPickleKeySize) {
		t.Errorf("nil key: %v", err)
	}
}

// TestVodozemacChainOrder: vodozemac keeps its receiving chains oldest
// first, but those it took over from a libolm pickle newest first. Either
// way the inactive ratchet's key names the newest chain, and the session
// must go on replying with it.
func TestVodozemacChainOrder(t *testing.T) {
	alice, _ := newAccount(bytes.Repeat([]byte{1}, 64))
	bob, _ := newAccount(bytes.Repeat([]byte{2}, 64))
	bob.st.generateOneTimeKeys(bytes.Repeat([]byte{3}, 32))
	var otk Curve25519PublicKey
	for _, k := range bob.OneTimeKeys() {
		otk = k
	}
	as, _ := alice.NewOutboundSession(bob.Curve25519Key(), otk)
	m, _ := as.Encrypt([]byte("0"))
	bs, _, err := bob.NewInboundSession(alice.Curve25519Key(), m.(*PreKeyMessage))
	if err != nil {
		t.Fatal(err)
	}
	// Three rounds give Bob three receiving chains.
	for range 2 {
		r, _ := bs.Encrypt([]byte("r"))
		as.Decrypt(r)
		m, _ := as.Encrypt([]byte("m"))
		if _, err := bs.Decrypt(m); err != nil {
			t.Fatal(err)
		}
	}
	if len(bs.st.receivers) != 3 || bs.st.sender != nil {
		t.Fatalf("%d chains, sender %v", len(bs.st.receivers), bs.st.sender != nil)
	}
	// Write the chains newest first, as a libolm import leaves them.
	var p map[string]any
	json.Unmarshal(vzMarshalSession(bs), &p)
	inner := p["receiving_chains"].(map[string]any)["inner"].([]any)
	for i, j := 0, len(inner)-1; i < j; i, j = i+1, j-1 {
		inner[i], inner[j] = inner[j], inner[i]
	}
	b, _ := json.Marshal(p)
	for name, doc := range map[string][]byte{"oldest first": vzMarshalSession(bs), "newest first": b} {
		s, err := ParseVodozemacSession(doc)
		if err != nil {
			t.Fatal(err)
		}
		if s.st.receivers[0] != bs.st.receivers[0] {
			t.Fatalf("%s: the newest chain is not first", name)
		}
		r, _ := s.Encrypt([]byte("reply"))
		a2 := vzSessionRoundTrip(t, as)
		if p, err := a2.Decrypt(r); err != nil || string(p) != "reply" {
			t.Fatalf("%s: reply: %v", name, err)
		}
	}
}

// TestVodozemacSkippedKeyCap: vodozemac and this package both keep 40
// skipped keys per receiving chain; of more, the newest are kept.
func TestVodozemacSkippedKeyCap(t *testing.T) {
	chain := func(ratchet byte, first uint32) map[string]any {
		var keys []any
		for i := range uint32(41) {
			keys = append(keys, map[string]any{"key": vzBytes(bytes.Repeat([]byte{byte(first + i)}, 32)), "index": first + i})
		}
		return map[string]any{
			"ratchet_key":          vzBytes(bytes.Repeat([]byte{ratchet}, 32)),
			"hkdf_ratchet":         map[string]any{"key": vzBytes(make([]byte, 32)), "index": first + 42},
			"skipped_message_keys": map[string]any{"inner": keys},
		}
	}
	doc, _ := json.Marshal(map[string]any{
		"session_keys": map[string]any{"identity_key": vzBytes(make([]byte, 32)), "base_key": vzBytes(make([]byte, 32)), "one_time_key": vzBytes(make([]byte, 32))},
		"sending_ratchet": map[string]any{"type": "inactive", "root_key": map[string]any{"key": vzBytes(make([]byte, 32))},
			"ratchet_key": vzBytes(bytes.Repeat([]byte{2}, 32))},
		"receiving_chains": map[string]any{"inner": []any{chain(1, 0), chain(2, 100)}},
	})
	s, err := ParseVodozemacSession(doc)
	if err != nil {
		t.Fatal(err)
	}
	sk := s.st.skipped
	if len(sk) != 2*MaxSkippedMessageKeys {
		t.Fatalf("%d skipped keys", len(sk))
	}
	// Newest first: the newest chain's keys, its last key first; the
	// oldest key of each chain is the one dropped.
	if sk[0].index != 140 || sk[39].index != 101 || sk[0].ratchetKey[0] != 2 || sk[40].index != 40 || sk[79].index != 1 {
		t.Fatalf("kept %d..%d and %d..%d", sk[0].index, sk[39].index, sk[40].index, sk[79].index)
	}
}

func TestPickleVodozemacNilKey(t *testing.T) {
	a := dehydrationAccount(t)
	if _, err := a.PickleVodozemac(nil); !errors.Is(err, ErrPickleKeySize) {
		t.Errorf("account: %v", err)
	}
	alice, _ := newAccount(bytes.Repeat([]byte{1}, 64))
	s, _ := alice.NewOutboundSession(a.Curve25519Key(), a.st.oneTimeKeys[0].key.pub)
	if _, err := s.PickleVodozemac(nil); !errors.Is(err, ErrPickleKeySize) {
		t.Errorf("session: %v", err)
	}
}
