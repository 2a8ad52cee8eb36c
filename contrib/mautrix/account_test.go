package mautrix_test

import (
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

func TestNewInboundSession(t *testing.T) {
	alice, bob := newAccount(t), newAccount(t)
	require.NoError(t, bob.GenOneTimeKeys(3))
	otk := firstOneTimeKey(t, bob)
	aliceOut, err := alice.NewOutboundSession(identityKey(t, bob), otk)
	require.NoError(t, err)
	_, ct, err := aliceOut.Encrypt([]byte("first"))
	require.NoError(t, err)
	aliceKey := identityKey(t, alice)

	countKeys := func() int {
		keys, err := bob.OneTimeKeys()
		require.NoError(t, err)
		return len(keys)
	}
	before := countKeys()

	for name, create := range map[string]func() (olm.Session, error){
		"NewInboundSession":     func() (olm.Session, error) { return bob.NewInboundSession(string(ct)) },
		"NewInboundSessionFrom": func() (olm.Session, error) { return bob.NewInboundSessionFrom(&aliceKey, string(ct)) },
		"NewInboundSessionFrom nil": func() (olm.Session, error) {
			return bob.NewInboundSessionFrom(nil, string(ct))
		},
	} {
		t.Run(name, func(t *testing.T) {
			s, err := create()
			require.NoError(t, err)
			assert.Equal(t, aliceOut.ID(), s.ID())
			assert.Equal(t, before, countKeys(), "the one-time key stays until RemoveOneTimeKeys")
			ok, err := s.MatchesInboundSession(string(ct))
			require.NoError(t, err)
			assert.True(t, ok)

			pt, err := s.Decrypt(string(ct), id.OlmMsgTypePreKey)
			require.NoError(t, err)
			assert.Equal(t, "first", string(pt))
			// A second decryption of the same message fails, as in libolm:
			// its key is used up.
			_, err = s.Decrypt(string(ct), id.OlmMsgTypePreKey)
			assert.ErrorIs(t, err, olm.ErrBadMAC)
			assert.ErrorIs(t, err, solm.ErrMessageKeyNotFound)
		})
	}

	t.Run("RemoveOneTimeKeys", func(t *testing.T) {
		s, err := bob.NewInboundSessionFrom(&aliceKey, string(ct))
		require.NoError(t, err)
		_, err = s.Decrypt(string(ct), id.OlmMsgTypePreKey)
		require.NoError(t, err)
		require.NoError(t, bob.RemoveOneTimeKeys(s))
		assert.Equal(t, before-1, countKeys())
		// The key is gone: once more is an error, as in libolm, and a new
		// session from the same message cannot be made.
		assert.ErrorIs(t, bob.RemoveOneTimeKeys(s), olm.ErrBadMessageKeyID)
		_, err = bob.NewInboundSession(string(ct))
		assert.ErrorIs(t, err, olm.ErrBadMessageKeyID)
		assert.ErrorIs(t, err, solm.ErrUnknownOneTimeKey)
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
	aliceOut, bobIn := newSessionPair(t, alice, bob)

	assert.ErrorIs(t, alice.RemoveOneTimeKeys(aliceOut), olm.ErrBadMessageKeyID, "an outbound session has no pre-key message")

	p, err := bobIn.Pickle([]byte("k"))
	require.NoError(t, err)
	unpickled, err := souverain.SessionFromPickled(p, []byte("k"))
	require.NoError(t, err)
	assert.ErrorIs(t, bob.RemoveOneTimeKeys(unpickled), olm.ErrBadMessageKeyID, "the pre-key message is not pickled")

	other, err := goolmDriver.newAccount()
	require.NoError(t, err)
	_, goolmSession := newSessionPair(t, alice, other)
	assert.ErrorIs(t, bob.RemoveOneTimeKeys(goolmSession), olm.ErrBadInput)
	assert.ErrorIs(t, bob.RemoveOneTimeKeys(nil), olm.ErrBadInput)
}

func TestFallbackKey(t *testing.T) {
	alice, bob := newAccount(t), newAccount(t)
	require.NoError(t, bob.Inner().GenerateFallbackKey())
	_, fallback, ok := bob.Inner().FallbackKey()
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
