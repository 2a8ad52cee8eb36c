package mautrix_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"maunium.net/go/mautrix/crypto/olm"
	"maunium.net/go/mautrix/id"

	souverain "github.com/souverain/e2ee/contrib/mautrix"
	solm "github.com/souverain/e2ee/olm"
)

func newAccount(t testing.TB) *souverain.Account {
	t.Helper()
	a, err := souverain.NewAccount()
	require.NoError(t, err)
	return a
}

func TestAccountIdentityKeys(t *testing.T) {
	a := newAccount(t)
	ed, curve, err := a.IdentityKeys()
	require.NoError(t, err)
	inner := a.Inner()
	assert.Equal(t, inner.Ed25519Key().String(), string(ed))
	assert.Equal(t, inner.Curve25519Key().String(), string(curve))
	assert.Len(t, ed.Bytes(), 32)
	assert.Len(t, curve.Bytes(), 32)

	j, err := a.IdentityKeysJSON()
	require.NoError(t, err)
	// libolm's layout, keys in this order.
	assert.Equal(t, `{"curve25519":"`+string(curve)+`","ed25519":"`+string(ed)+`"}`, string(j))
}

func TestAccountSign(t *testing.T) {
	a := newAccount(t)
	ed, _, err := a.IdentityKeys()
	require.NoError(t, err)
	for _, msg := range []string{"x", "hello world", string(make([]byte, 1000))} {
		sig, err := a.Sign([]byte(msg))
		require.NoError(t, err)
		raw, err := base64.RawStdEncoding.DecodeString(string(sig))
		require.NoError(t, err, "signature is unpadded base64")
		assert.True(t, ed25519.Verify(ed.Bytes(), []byte(msg), raw))
	}
	_, err = a.Sign(nil)
	assert.ErrorIs(t, err, olm.ErrEmptyInput)
}

func TestAccountOneTimeKeys(t *testing.T) {
	a := newAccount(t)
	assert.EqualValues(t, 100, a.MaxNumberOfOneTimeKeys(), "libolm's MAX_ONE_TIME_KEYS, which mautrix-go halves")

	keys, err := a.OneTimeKeys()
	require.NoError(t, err)
	assert.Empty(t, keys)

	require.NoError(t, a.GenOneTimeKeys(5))
	keys, err = a.OneTimeKeys()
	require.NoError(t, err)
	assert.Len(t, keys, 5)
	for keyID, key := range keys {
		assert.Len(t, keyID, 6, "libolm key IDs: base64 of 4 bytes")
		assert.Len(t, key.Bytes(), 32)
	}
	// The first key ID is 1, as in libolm.
	assert.Contains(t, keys, "AAAAAQ")

	a.MarkKeysAsPublished()
	keys, err = a.OneTimeKeys()
	require.NoError(t, err)
	assert.Empty(t, keys)

	require.NoError(t, a.GenOneTimeKeys(2))
	keys, err = a.OneTimeKeys()
	require.NoError(t, err)
	assert.Len(t, keys, 2)
	assert.Contains(t, keys, "AAAABg")
	assert.Contains(t, keys, "AAAABw")

	require.NoError(t, a.GenOneTimeKeys(0))
	err = a.GenOneTimeKeys(solm.MaxOneTimeKeys + 1)
	assert.ErrorIs(t, err, olm.ErrBadInput)
}

func TestAccountPickle(t *testing.T) {
	a := newAccount(t)
	require.NoError(t, a.GenOneTimeKeys(10))
	key := []byte("pickle key")
	p, err := a.Pickle(key)
	require.NoError(t, err)

	b, err := souverain.AccountFromPickled(p, key)
	require.NoError(t, err)
	assertSameAccount(t, a, b)
	p2, err := b.Pickle(key)
	require.NoError(t, err)
	assert.Equal(t, p, p2, "pickling is deterministic")

	blank := souverain.NewBlankAccount()
	require.NoError(t, blank.Unpickle(p, key))
	assertSameAccount(t, a, blank)

	t.Run("errors", func(t *testing.T) {
		for _, tc := range []struct {
			name        string
			pickled     []byte
			key         []byte
			want        error
			wantOurs    error
			fromPickled bool
		}{
			{name: "wrong key", pickled: p, key: []byte("other key"), want: olm.ErrLibolmBadAccountKey, wantOurs: solm.ErrBadPickleKey},
			{name: "no key", pickled: p, key: nil, want: olm.ErrNoKeyProvided},
			{name: "empty", pickled: nil, key: key, want: olm.ErrEmptyInput},
			{name: "not base64", pickled: []byte("!!!!"), key: key, want: olm.ErrLibolmCorruptedPickle},
			{name: "truncated", pickled: p[:len(p)-12], key: key, want: olm.ErrLibolmCorruptedPickle},
			{name: "session pickle", pickled: sessionPickle(t, key), key: key, want: olm.ErrUnknownOlmPickleVersion},
		} {
			t.Run(tc.name, func(t *testing.T) {
				c := newAccount(t)
				before, err := c.Pickle(key)
				require.NoError(t, err)
				err = c.Unpickle(tc.pickled, tc.key)
				assert.ErrorIs(t, err, tc.want)
				if tc.wantOurs != nil {
					assert.ErrorIs(t, err, tc.wantOurs)
				}
				after, err := c.Pickle(key)
				require.NoError(t, err)
				assert.Equal(t, before, after, "a failed Unpickle leaves the account unchanged")

				_, err = souverain.AccountFromPickled(tc.pickled, tc.key)
				assert.ErrorIs(t, err, tc.want)
			})
		}
	})

	_, err = a.Pickle(nil)
	assert.ErrorIs(t, err, olm.ErrNoKeyProvided)
}

func sessionPickle(t testing.TB, key []byte) []byte {
	t.Helper()
	s, _ := newSessionPair(t, newAccount(t), newAccount(t))
	p, err := s.Pickle(key)
	require.NoError(t, err)
	return p
}

func assertSameAccount(t *testing.T, a, b olm.Account) {
	t.Helper()
	aEd, aCurve, err := a.IdentityKeys()
	require.NoError(t, err)
	bEd, bCurve, err := b.IdentityKeys()
	require.NoError(t, err)
	assert.Equal(t, aEd, bEd)
	assert.Equal(t, aCurve, bCurve)
	aKeys, err := a.OneTimeKeys()
	require.NoError(t, err)
	bKeys, err := b.OneTimeKeys()
	require.NoError(t, err)
	assert.Equal(t, aKeys, bKeys)
	aSig, err := a.Sign([]byte("same key, same signature"))
	require.NoError(t, err)
	bSig, err := b.Sign([]byte("same key, same signature"))
	require.NoError(t, err)
	assert.Equal(t, aSig, bSig)
}

func TestBlankAccount(t *testing.T) {
	for name, a := range map[string]*souverain.Account{"NewBlankAccount": souverain.NewBlankAccount(), "zero value": {}} {
		t.Run(name, func(t *testing.T) {
			_, _, err := a.IdentityKeys()
			assert.ErrorIs(t, err, souverain.ErrBlank)
			assert.ErrorIs(t, err, olm.ErrBadInput)
			_, err = a.IdentityKeysJSON()
			assert.ErrorIs(t, err, souverain.ErrBlank)
			_, err = a.Sign([]byte("x"))
			assert.ErrorIs(t, err, souverain.ErrBlank)
			_, err = a.Pickle([]byte("k"))
			assert.ErrorIs(t, err, souverain.ErrBlank)
			assert.ErrorIs(t, a.GenOneTimeKeys(1), souverain.ErrBlank)
			keys, err := a.OneTimeKeys()
			assert.NoError(t, err)
			assert.Empty(t, keys)
			a.MarkKeysAsPublished() // no-op
			_, err = a.NewOutboundSession(identityKey(t, newAccount(t)), identityKey(t, newAccount(t)))
			assert.ErrorIs(t, err, souverain.ErrBlank)
			_, err = a.NewInboundSession("AwoA")
			assert.ErrorIs(t, err, souverain.ErrBlank)
			assert.ErrorIs(t, a.RemoveOneTimeKeys(souverain.NewBlankSession()), souverain.ErrBlank)
			assert.Nil(t, a.Inner())
		})
	}
}

func TestNewOutboundSessionErrors(t *testing.T) {
	a := newAccount(t)
	bob := newAccount(t)
	ik, otk := identityKey(t, bob), firstOneTimeKey(t, bob)
	lowOrder := id.Curve25519(base64.RawStdEncoding.EncodeToString(make([]byte, 32)))
	for _, tc := range []struct {
		name     string
		ik, otk  id.Curve25519
		want     error
		wantOurs error
	}{
		{"empty identity key", "", otk, olm.ErrEmptyInput, nil},
		{"empty one-time key", ik, "", olm.ErrEmptyInput, nil},
		{"identity key not base64", "!!!", otk, olm.ErrLibolmInvalidBase64, solm.ErrBadPublicKey},
		{"one-time key too short", ik, "AAAA", olm.ErrLibolmInvalidBase64, solm.ErrBadPublicKey},
		{"low-order one-time key", ik, lowOrder, olm.ErrBadInput, solm.ErrBadPublicKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := a.NewOutboundSession(tc.ik, tc.otk)
			assert.Nil(t, s)
			assert.ErrorIs(t, err, tc.want)
			if tc.wantOurs != nil {
				assert.ErrorIs(t, err, tc.wantOurs)
			}
		})
	}
}

// preKeyTo returns the first message (unpadded base64) of a new session
// from alice to bob's one-time key otk, and that session.
func preKeyTo(t testing.TB, alice, bob olm.Account, otk id.Curve25519, text string) (olm.Session, string) {
	t.Helper()
	out, err := alice.NewOutboundSession(identityKey(t, bob), otk)
	require.NoError(t, err)
	msgType, ct, err := out.Encrypt([]byte(text))
	require.NoError(t, err)
	require.Equal(t, id.OlmMsgTypePreKey, msgType)
	return out, string(ct)
}

// countOneTimeKeys returns the number of a's one-time keys (all of them
// unpublished in these tests).
func countOneTimeKeys(t testing.TB, a olm.Account) int {
	t.Helper()
	keys, err := a.OneTimeKeys()
	require.NoError(t, err)
	return len(keys)
}

func TestNewInboundSession(t *testing.T) {
	alice, bob := newAccount(t), newAccount(t)
	require.NoError(t, bob.GenOneTimeKeys(3))
	otk := firstOneTimeKey(t, bob)
	aliceKey := identityKey(t, alice)
	before := countOneTimeKeys(t, bob)

	for name, create := range map[string]func(ct string) (olm.Session, error){
		"NewInboundSession":     func(ct string) (olm.Session, error) { return bob.NewInboundSession(ct) },
		"NewInboundSessionFrom": func(ct string) (olm.Session, error) { return bob.NewInboundSessionFrom(&aliceKey, ct) },
		"NewInboundSessionFrom nil": func(ct string) (olm.Session, error) {
			return bob.NewInboundSessionFrom(nil, ct)
		},
	} {
		t.Run(name, func(t *testing.T) {
			// A session of its own on the same one-time key, which stays.
			aliceOut, ct := preKeyTo(t, alice, bob, otk, "first")
			s, err := create(ct)
			require.NoError(t, err)
			assert.Equal(t, aliceOut.ID(), s.ID())
			assert.Equal(t, before, countOneTimeKeys(t, bob), "the one-time key stays until RemoveOneTimeKeys")
			ok, err := s.MatchesInboundSession(ct)
			require.NoError(t, err)
			assert.True(t, ok)

			pt, err := s.Decrypt(ct, id.OlmMsgTypePreKey)
			require.NoError(t, err)
			assert.Equal(t, "first", string(pt))
			// A second decryption of the same message fails, as in libolm:
			// its key is used up.
			_, err = s.Decrypt(ct, id.OlmMsgTypePreKey)
			assert.ErrorIs(t, err, olm.ErrBadMAC)
			assert.ErrorIs(t, err, solm.ErrMessageKeyNotFound)
		})
	}

	t.Run("RemoveOneTimeKeys", func(t *testing.T) {
		_, ct := preKeyTo(t, alice, bob, otk, "first")
		s, err := bob.NewInboundSessionFrom(&aliceKey, ct)
		require.NoError(t, err)
		_, err = s.Decrypt(ct, id.OlmMsgTypePreKey)
		require.NoError(t, err)
		require.NoError(t, bob.RemoveOneTimeKeys(s))
		assert.Equal(t, before-1, countOneTimeKeys(t, bob))
		assert.NotContains(t, oneTimeKeyValues(t, bob), otk)
		// The key is gone: once more is an error, as in libolm, and a new
		// session from the same message cannot be made.
		assert.ErrorIs(t, bob.RemoveOneTimeKeys(s), olm.ErrBadMessageKeyID)
		assert.ErrorIs(t, bob.RemoveOneTimeKeys(s), solm.ErrUnknownOneTimeKey)
		_, err = bob.NewInboundSession(ct)
		assert.ErrorIs(t, err, olm.ErrBadMessageKeyID)
		assert.ErrorIs(t, err, solm.ErrUnknownOneTimeKey)
	})
}

// oneTimeKeyValues returns a's unpublished one-time keys.
func oneTimeKeyValues(t testing.TB, a olm.Account) []id.Curve25519 {
	t.Helper()
	keys, err := a.OneTimeKeys()
	require.NoError(t, err)
	var out []id.Curve25519
	for _, k := range keys {
		out = append(out, k)
	}
	return out
}

// A pre-key message opens one session: met again between
// NewInboundSessionFrom and RemoveOneTimeKeys (mautrix-go's three steps),
// or after, it is refused, and the account keeps the one-time key until
// RemoveOneTimeKeys of the first session, which still works.
func TestPreKeyReplay(t *testing.T) {
	alice, bob := newAccount(t), newAccount(t)
	require.NoError(t, bob.GenOneTimeKeys(2))
	otk := firstOneTimeKey(t, bob)
	aliceKey := identityKey(t, alice)
	_, ct := preKeyTo(t, alice, bob, otk, "once")

	s, err := bob.NewInboundSessionFrom(&aliceKey, ct)
	require.NoError(t, err)
	for _, replay := range []func() (olm.Session, error){
		func() (olm.Session, error) { return bob.NewInboundSessionFrom(&aliceKey, ct) },
		func() (olm.Session, error) { return bob.NewInboundSession(ct) },
	} {
		again, err := replay()
		assert.Nil(t, again, "no second session from one pre-key message")
		assert.ErrorIs(t, err, olm.ErrBadMessageKeyID)
		assert.ErrorIs(t, err, solm.ErrPreKeyReplay)
	}
	assert.Contains(t, oneTimeKeyValues(t, bob), otk, "the replay burns nothing")
	pt, err := s.Decrypt(ct, id.OlmMsgTypePreKey)
	require.NoError(t, err)
	assert.Equal(t, "once", string(pt))
	require.NoError(t, bob.RemoveOneTimeKeys(s))
	assert.NotContains(t, oneTimeKeyValues(t, bob), otk)
	_, err = bob.NewInboundSessionFrom(&aliceKey, ct)
	assert.ErrorIs(t, err, olm.ErrBadMessageKeyID)
	assert.ErrorIs(t, err, solm.ErrUnknownOneTimeKey)
}

// A forged or damaged pre-key message on a key the account holds changes
// nothing: the one-time key stays (the account pickles to the same bytes),
// and the genuine message, which the forgery copies (same session ID),
// still opens its session afterwards.
func TestForgedPreKeyBurnsNothing(t *testing.T) {
	alice, bob, eve := newAccount(t), newAccount(t), newAccount(t)
	require.NoError(t, bob.GenOneTimeKeys(2))
	otk := firstOneTimeKey(t, bob)
	aliceKey := identityKey(t, alice)
	_, ct := preKeyTo(t, alice, bob, otk, "genuine")
	raw, err := base64.RawStdEncoding.DecodeString(ct)
	require.NoError(t, err)
	enc := base64.RawStdEncoding.EncodeToString

	// Eve's message to the same key, under Alice's identity key: a pre-key
	// message carries the sender's identity key in clear.
	_, evesCT := preKeyTo(t, eve, bob, otk, "forged")
	evesRaw, err := base64.RawStdEncoding.DecodeString(evesCT)
	require.NoError(t, err)
	eveKey, aliceRaw := identityKey(t, eve).Bytes(), aliceKey.Bytes()
	asAlice := bytes.Replace(evesRaw, eveKey, aliceRaw, 1)
	require.NotEqual(t, evesRaw, asAlice)

	flip := func(i int) string {
		b := bytes.Clone(raw)
		b[i] ^= 1
		return enc(b)
	}
	before, err := bob.Pickle(pickleKey)
	require.NoError(t, err)
	for _, tc := range []struct {
		name string
		msg  string
		want error
	}{
		{"bad MAC", flip(len(raw) - 1), olm.ErrBadMAC},
		{"ciphertext changed", flip(len(raw) - 12), olm.ErrBadMAC},
		{"base key changed", enc(bytes.Replace(raw, baseKeyOf(t, raw), make([]byte, 32), 1)), olm.ErrBadInput},
		{"Eve as Alice", enc(asAlice), olm.ErrBadMAC},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := bob.NewInboundSessionFrom(&aliceKey, tc.msg)
			assert.Nil(t, s)
			assert.ErrorIs(t, err, tc.want)
			after, err := bob.Pickle(pickleKey)
			require.NoError(t, err)
			assert.Equal(t, before, after, "the account is unchanged")
		})
	}
	s, err := bob.NewInboundSessionFrom(&aliceKey, ct)
	require.NoError(t, err, "the genuine message after the forgeries")
	pt, err := s.Decrypt(ct, id.OlmMsgTypePreKey)
	require.NoError(t, err)
	assert.Equal(t, "genuine", string(pt))
	require.NoError(t, bob.RemoveOneTimeKeys(s))
	assert.NotContains(t, oneTimeKeyValues(t, bob), otk)
}

// baseKeyOf returns the base key inside a pre-key message (the 32 bytes of
// its field 2).
func baseKeyOf(t testing.TB, raw []byte) []byte {
	t.Helper()
	m, err := solm.ParsePreKeyMessage(raw)
	require.NoError(t, err)
	k := m.BaseKey()
	i := bytes.Index(raw, k[:])
	require.Positive(t, i)
	return raw[i : i+32]
}

// RemoveOneTimeKeys works on a session pickled and unpickled since it was
// created (by this driver, or by goolm's or libolm's, which mautrix-go may
// have stored before switching), as libolm's does: the session names its
// one-time key.
func TestRemoveOneTimeKeysAfterPickle(t *testing.T) {
	for _, d := range append([]driver{souverainDriver}, otherDrivers...) {
		t.Run("session read by "+d.name, func(t *testing.T) {
			alice, bob := newAccount(t), newAccount(t)
			require.NoError(t, bob.GenOneTimeKeys(3))
			otk := firstOneTimeKey(t, bob)
			aliceKey := identityKey(t, alice)
			_, ct := preKeyTo(t, alice, bob, otk, "stored first")
			s, err := bob.NewInboundSessionFrom(&aliceKey, ct)
			require.NoError(t, err)
			pt, err := s.Decrypt(ct, id.OlmMsgTypePreKey)
			require.NoError(t, err)
			require.Equal(t, "stored first", string(pt))

			// The session goes through the store (possibly another
			// driver's objects) and comes back as this driver's.
			p, err := s.Pickle(pickleKey)
			require.NoError(t, err)
			theirs, err := d.sessionFromPickled(bytes.Clone(p), pickleKey)
			require.NoError(t, err)
			p, err = theirs.Pickle(pickleKey)
			require.NoError(t, err)
			restored, err := souverain.SessionFromPickled(p, pickleKey)
			require.NoError(t, err)

			require.NoError(t, bob.RemoveOneTimeKeys(restored))
			assert.NotContains(t, oneTimeKeyValues(t, bob), otk)
			assert.Len(t, oneTimeKeyValues(t, bob), 2, "only that key is removed")
			assert.ErrorIs(t, bob.RemoveOneTimeKeys(restored), olm.ErrBadMessageKeyID)
		})
	}
	t.Run("account pickled too", func(t *testing.T) {
		alice, bob := newAccount(t), newAccount(t)
		require.NoError(t, bob.GenOneTimeKeys(2))
		otk := firstOneTimeKey(t, bob)
		aliceKey := identityKey(t, alice)
		_, ct := preKeyTo(t, alice, bob, otk, "x")
		s, err := bob.NewInboundSessionFrom(&aliceKey, ct)
		require.NoError(t, err)
		// mautrix-go backs the account up before the inbound session
		// and saves it after; a restart in between reads it back.
		p, err := bob.Pickle(pickleKey)
		require.NoError(t, err)
		restarted, err := souverain.AccountFromPickled(p, pickleKey)
		require.NoError(t, err)
		sp, err := s.Pickle(pickleKey)
		require.NoError(t, err)
		restored, err := souverain.SessionFromPickled(sp, pickleKey)
		require.NoError(t, err)
		require.NoError(t, restarted.RemoveOneTimeKeys(restored))
		assert.NotContains(t, oneTimeKeyValues(t, restarted), otk)
	})
}
func TestNewInboundSessionErrors(t *testing.T) {
	alice, bob, eve := newAccount(t), newAccount(t), newAccount(t)
	aliceOut, err := alice.NewOutboundSession(identityKey(t, bob), firstOneTimeKey(t, bob))
	require.NoError(t, err)
	_, ct, err := aliceOut.Encrypt([]byte("first"))
	require.NoError(t, err)
	raw, err := base64.RawStdEncoding.DecodeString(string(ct))
	require.NoError(t, err)
	tampered := append([]byte(nil), raw...)
	tampered[len(tampered)-1] ^= 1
	eveKey := identityKey(t, eve)
	notAKey := id.Curve25519("!!")
	enc := base64.RawStdEncoding.EncodeToString

	for _, tc := range []struct {
		name     string
		their    *id.Curve25519
		msg      string
		want     error
		wantOurs error
	}{
		{"empty", nil, "", olm.ErrEmptyInput, nil},
		{"not base64", nil, "%%%%", olm.ErrLibolmInvalidBase64, nil},
		{"bad version", nil, enc(append([]byte{9}, raw[1:]...)), olm.ErrWrongProtocolVersion, solm.ErrBadMessageVersion},
		{"truncated", nil, enc(raw[:40]), olm.ErrBadMessageFormat, solm.ErrBadMessageFormat},
		{"bad MAC", nil, enc(tampered), olm.ErrBadMAC, solm.ErrBadMessageMAC},
		{"another sender", &eveKey, string(ct), olm.ErrBadMessageKeyID, nil},
		{"sender key not base64", &notAKey, string(ct), olm.ErrLibolmInvalidBase64, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := bob.NewInboundSessionFrom(tc.their, tc.msg)
			assert.Nil(t, s)
			assert.ErrorIs(t, err, tc.want)
			if tc.wantOurs != nil {
				assert.ErrorIs(t, err, tc.wantOurs)
			}
		})
	}

	t.Run("unknown one-time key", func(t *testing.T) {
		_, err := eve.NewInboundSession(string(ct))
		assert.ErrorIs(t, err, olm.ErrBadMessageKeyID)
		assert.ErrorIs(t, err, solm.ErrUnknownOneTimeKey)
	})
}

func TestRemoveOneTimeKeysErrors(t *testing.T) {
	alice, bob := newAccount(t), newAccount(t)
	aliceOut, _ := newSessionPair(t, alice, bob)

	assert.ErrorIs(t, alice.RemoveOneTimeKeys(aliceOut), olm.ErrBadMessageKeyID, "an outbound session uses none of its own account's keys")
	assert.ErrorIs(t, alice.RemoveOneTimeKeys(souverain.NewBlankSession()), olm.ErrBadMessageKeyID, "a blank session has no key")

	other, err := goolmDriver.newAccount()
	require.NoError(t, err)
	_, goolmSession := newSessionPair(t, alice, other)
	assert.ErrorIs(t, bob.RemoveOneTimeKeys(goolmSession), olm.ErrBadInput)
	assert.ErrorIs(t, bob.RemoveOneTimeKeys(nil), olm.ErrBadInput)
	assert.ErrorIs(t, souverain.NewBlankAccount().RemoveOneTimeKeys(souverain.NewBlankSession()), souverain.ErrBlank)
}

func TestFallbackKey(t *testing.T) {
	alice, bob := newAccount(t), newAccount(t)
	require.NoError(t, bob.Inner().GenerateFallbackKey())
	_, fallback, ok := bob.Inner().UnpublishedFallbackKey()
	require.True(t, ok)

	for i := range 2 {
		aliceOut, err := alice.NewOutboundSession(identityKey(t, bob), id.Curve25519(fallback.String()))
		require.NoError(t, err)
		msgType, ct, err := aliceOut.Encrypt([]byte("via fallback"))
		require.NoError(t, err)
		s, err := bob.NewInboundSession(string(ct))
		require.NoError(t, err, "round %d", i)
		pt, err := s.Decrypt(string(ct), msgType)
		require.NoError(t, err)
		assert.Equal(t, "via fallback", string(pt))
		assert.NoError(t, bob.RemoveOneTimeKeys(s), "a fallback key stays, without error, as in libolm")
	}
}
