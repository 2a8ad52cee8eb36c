package mautrix_test

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"maunium.net/go/mautrix/crypto/olm"
	"maunium.net/go/mautrix/id"

	souverain "github.com/souverain/e2ee/contrib/mautrix"
	solm "github.com/souverain/e2ee/olm"
)

func TestSessionConversation(t *testing.T) {
	alice, bob := newAccount(t), newAccount(t)
	aliceOut, err := alice.NewOutboundSession(identityKey(t, bob), firstOneTimeKey(t, bob))
	require.NoError(t, err)
	assert.False(t, aliceOut.HasReceivedMessage())
	assert.Equal(t, id.OlmMsgTypePreKey, aliceOut.EncryptMsgType())

	// Several pre-key messages before bob answers: the first creates bob's
	// session, the others match it.
	var msgs []string
	for i := range 3 {
		msgType, ct, err := aliceOut.Encrypt(fmt.Appendf(nil, "prekey %d", i))
		require.NoError(t, err)
		assert.Equal(t, id.OlmMsgTypePreKey, msgType)
		msgs = append(msgs, string(ct))
	}
	bobIn, err := bob.NewInboundSession(msgs[0])
	require.NoError(t, err)
	assert.Equal(t, aliceOut.ID(), bobIn.ID())
	for i, m := range msgs {
		ok, err := bobIn.MatchesInboundSession(m)
		require.NoError(t, err)
		assert.True(t, ok)
		ok, err = bobIn.MatchesInboundSessionFrom(string(identityKey(t, alice)), m)
		require.NoError(t, err)
		assert.True(t, ok)
		ok, err = bobIn.MatchesInboundSessionFrom(string(identityKey(t, bob)), m)
		require.NoError(t, err)
		assert.False(t, ok, "wrong sender key")
		pt, err := bobIn.Decrypt(m, id.OlmMsgTypePreKey)
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprintf("prekey %d", i), string(pt))
	}
	require.NoError(t, bob.RemoveOneTimeKeys(bobIn))
	assert.True(t, bobIn.HasReceivedMessage())
	assert.Equal(t, id.OlmMsgTypeMsg, bobIn.EncryptMsgType())

	exchange(t, bobIn, aliceOut, "reply")
	assert.True(t, aliceOut.HasReceivedMessage())
	assert.Equal(t, id.OlmMsgTypeMsg, aliceOut.EncryptMsgType())
	for i := range 5 {
		exchange(t, aliceOut, bobIn, fmt.Sprintf("a%d", i))
		exchange(t, bobIn, aliceOut, fmt.Sprintf("b%d", i))
	}

	// Out of order.
	var cts []string
	for i := range 10 {
		_, ct, err := aliceOut.Encrypt(fmt.Appendf(nil, "ooo %d", i))
		require.NoError(t, err)
		cts = append(cts, string(ct))
	}
	order := rand.Perm(len(cts))
	for _, i := range order {
		pt, err := bobIn.Decrypt(cts[i], id.OlmMsgTypeMsg)
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprintf("ooo %d", i), string(pt))
	}

	// The session survives a pickle round trip on both ends.
	key := []byte("k")
	for _, s := range []*olm.Session{&aliceOut, &bobIn} {
		p, err := (*s).Pickle(key)
		require.NoError(t, err)
		*s, err = souverain.SessionFromPickled(p, key)
		require.NoError(t, err)
	}
	exchange(t, aliceOut, bobIn, "after pickling")
	exchange(t, bobIn, aliceOut, "after pickling too")
}

func TestSessionDecryptErrors(t *testing.T) {
	aliceOut, bobIn := newSessionPair(t, newAccount(t), newAccount(t))
	exchange(t, bobIn, aliceOut, "established")
	_, ct, err := aliceOut.Encrypt([]byte("normal"))
	require.NoError(t, err)
	raw, err := base64.RawStdEncoding.DecodeString(string(ct))
	require.NoError(t, err)
	tampered := append([]byte(nil), raw...)
	tampered[len(tampered)-1] ^= 1
	enc := base64.RawStdEncoding.EncodeToString

	otherOut, _ := newSessionPair(t, newAccount(t), newAccount(t))
	_, foreignPreKey, err := otherOut.Encrypt([]byte("not for bob"))
	require.NoError(t, err)

	for _, tc := range []struct {
		name     string
		msg      string
		typ      id.OlmMsgType
		want     error
		wantOurs error
	}{
		{"empty", "", id.OlmMsgTypeMsg, olm.ErrEmptyInput, nil},
		{"not base64", "****", id.OlmMsgTypeMsg, olm.ErrLibolmInvalidBase64, nil},
		{"bad MAC", enc(tampered), id.OlmMsgTypeMsg, olm.ErrBadMAC, solm.ErrBadMessageMAC},
		{"bad version", enc(append([]byte{4}, raw[1:]...)), id.OlmMsgTypeMsg, olm.ErrBadMessageFormat, nil},
		{"unknown version", enc(append([]byte{7}, raw[1:]...)), id.OlmMsgTypeMsg, olm.ErrWrongProtocolVersion, solm.ErrBadMessageVersion},
		{"truncated", enc(raw[:5]), id.OlmMsgTypeMsg, olm.ErrBadMessageFormat, solm.ErrBadMessageFormat},
		{"unknown type", string(ct), 7, olm.ErrBadMessageFormat, solm.ErrBadMessageFormat},
		{"pre-key message of another session", string(foreignPreKey), id.OlmMsgTypePreKey, olm.ErrBadMessageKeyID, solm.ErrSessionMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := bobIn.Decrypt(tc.msg, tc.typ)
			assert.ErrorIs(t, err, tc.want)
			if tc.wantOurs != nil {
				assert.ErrorIs(t, err, tc.wantOurs)
			}
		})
	}
	t.Run("normal message as pre-key", func(t *testing.T) {
		_, err := bobIn.Decrypt(string(ct), id.OlmMsgTypePreKey)
		assertDecodingError(t, err)
	})
	// Failures leave the session as it was.
	pt, err := bobIn.Decrypt(string(ct), id.OlmMsgTypeMsg)
	require.NoError(t, err)
	assert.Equal(t, "normal", string(pt))

	t.Run("replay", func(t *testing.T) {
		_, err := bobIn.Decrypt(string(ct), id.OlmMsgTypeMsg)
		assert.ErrorIs(t, err, olm.ErrBadMAC)
	})
	t.Run("too far ahead", func(t *testing.T) {
		for range solm.MaxMessageGap + 1 {
			_, _, err := aliceOut.Encrypt([]byte("x"))
			require.NoError(t, err)
		}
		_, far, err := aliceOut.Encrypt([]byte("far"))
		require.NoError(t, err)
		_, err = bobIn.Decrypt(string(far), id.OlmMsgTypeMsg)
		assert.ErrorIs(t, err, olm.ErrBadMAC)
		assert.ErrorIs(t, err, solm.ErrMessageGap)
	})

	t.Run("matches errors", func(t *testing.T) {
		_, err := bobIn.MatchesInboundSession("")
		assert.ErrorIs(t, err, olm.ErrEmptyInput)
		_, err = bobIn.MatchesInboundSession("!!!!")
		assert.ErrorIs(t, err, olm.ErrLibolmInvalidBase64)
		_, err = bobIn.MatchesInboundSession(string(ct))
		assertDecodingError(t, err)
		_, err = bobIn.MatchesInboundSessionFrom("!!", string(foreignPreKey))
		assert.ErrorIs(t, err, olm.ErrLibolmInvalidBase64)
		ok, err := bobIn.MatchesInboundSession(string(foreignPreKey))
		assert.NoError(t, err)
		assert.False(t, ok)
	})

	t.Run("encrypt errors", func(t *testing.T) {
		_, _, err := aliceOut.Encrypt(nil)
		assert.ErrorIs(t, err, olm.ErrEmptyInput)
	})
}

func TestSessionDescribe(t *testing.T) {
	aliceOut, bobIn := newSessionPair(t, newAccount(t), newAccount(t))
	assert.Equal(t, "sender chain index: 1 receiver chain indices: skipped message keys:", aliceOut.Describe())
	assert.Equal(t, "sender chain index: 0 receiver chain indices: 1 skipped message keys:", bobIn.Describe())

	// Skip two messages.
	for range 2 {
		_, _, err := aliceOut.Encrypt([]byte("lost"))
		require.NoError(t, err)
	}
	exchange(t, aliceOut, bobIn, "third")
	assert.Equal(t, "sender chain index: 4 receiver chain indices: skipped message keys:", aliceOut.Describe())
	assert.Equal(t, "sender chain index: 0 receiver chain indices: 4 skipped message keys: 2 1", bobIn.Describe())
	exchange(t, bobIn, aliceOut, "reply")
	assert.Equal(t, "sender chain index: 1 receiver chain indices: 4 skipped message keys: 2 1", bobIn.Describe())
	assert.Equal(t, "sender chain index: 0 receiver chain indices: 1 skipped message keys:", aliceOut.Describe())

	assert.Equal(t, "sender chain index: 0 receiver chain indices: skipped message keys:", souverain.NewBlankSession().Describe())
}

func TestBlankSession(t *testing.T) {
	s := souverain.NewBlankSession()
	zero := sha256.Sum256(make([]byte, 96))
	assert.Equal(t, id.SessionID(base64.RawStdEncoding.EncodeToString(zero[:])), s.ID(), "libolm's ID of a blank session")
	assert.False(t, s.HasReceivedMessage())
	assert.Equal(t, id.OlmMsgTypePreKey, s.EncryptMsgType())
	assert.Nil(t, s.Inner())
	_, _, err := s.Encrypt([]byte("x"))
	assert.ErrorIs(t, err, souverain.ErrBlank)
	_, err = s.Decrypt("AwoA", id.OlmMsgTypeMsg)
	assert.ErrorIs(t, err, souverain.ErrBlank)

	other, _ := newSessionPair(t, newAccount(t), newAccount(t))
	_, preKey, err := other.Encrypt([]byte("x"))
	require.NoError(t, err)
	ok, err := s.MatchesInboundSession(string(preKey))
	assert.NoError(t, err)
	assert.False(t, ok)

	// A blank session pickles as libolm's blank session and unpickles to a
	// blank session.
	p, err := s.Pickle([]byte("k"))
	require.NoError(t, err)
	back, err := souverain.SessionFromPickled(p, []byte("k"))
	require.NoError(t, err)
	assert.Nil(t, back.Inner())
	assert.Equal(t, s.ID(), back.ID())

	_, err = s.Pickle(nil)
	assert.ErrorIs(t, err, olm.ErrNoKeyProvided)
}

func TestSessionUnpickleErrors(t *testing.T) {
	key := []byte("k")
	s, _ := newSessionPair(t, newAccount(t), newAccount(t))
	p, err := s.Pickle(key)
	require.NoError(t, err)
	acc := newAccount(t)
	accPickle, err := acc.Pickle(key)
	require.NoError(t, err)

	for _, tc := range []struct {
		name         string
		pickled, key []byte
		want         error
	}{
		{"wrong key", p, []byte("x"), olm.ErrLibolmBadAccountKey},
		{"no key", p, nil, olm.ErrNoKeyProvided},
		{"empty", nil, key, olm.ErrEmptyInput},
		{"garbage", []byte("garbage!"), key, olm.ErrLibolmCorruptedPickle},
		{"account pickle", accPickle, key, olm.ErrUnknownOlmPickleVersion},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target, _ := newSessionPair(t, newAccount(t), newAccount(t))
			before := target.ID()
			err := target.Unpickle(tc.pickled, tc.key)
			assert.ErrorIs(t, err, tc.want)
			assert.Equal(t, before, target.ID(), "unchanged")
			_, err = souverain.SessionFromPickled(tc.pickled, tc.key)
			assert.ErrorIs(t, err, tc.want)
		})
	}
}

// assertDecodingError checks that err is one of the errors of a message that
// does not decode: which one depends on the bytes a misparse stumbles on.
func assertDecodingError(t *testing.T, err error) {
	t.Helper()
	assert.True(t, errors.Is(err, olm.ErrBadMessageFormat) || errors.Is(err, olm.ErrWrongProtocolVersion), "%v", err)
}
