package mautrix_test

import (
	"encoding/base64"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"maunium.net/go/mautrix/crypto/olm"

	souverain "github.com/souverain/e2ee/contrib/mautrix"
	"github.com/souverain/e2ee/megolm"
)

func newOutbound(t testing.TB) *souverain.OutboundGroupSession {
	t.Helper()
	s, err := souverain.NewOutboundGroupSession()
	require.NoError(t, err)
	return s
}

func TestGroupSession(t *testing.T) {
	out := newOutbound(t)
	assert.EqualValues(t, 0, out.MessageIndex())
	assert.Len(t, out.ID(), 43)
	key := out.Key()

	in, err := souverain.NewInboundGroupSession([]byte(key))
	require.NoError(t, err)
	assert.Equal(t, out.ID(), in.ID())
	assert.EqualValues(t, 0, in.FirstKnownIndex())
	assert.True(t, in.IsVerified(), "made from a signed session key")

	var cts [][]byte
	for i := range 5 {
		ct, err := out.Encrypt(fmt.Appendf(nil, "message %d", i))
		require.NoError(t, err)
		_, err = base64.RawStdEncoding.DecodeString(string(ct))
		require.NoError(t, err, "unpadded base64")
		assert.EqualValues(t, i+1, out.MessageIndex())
		cts = append(cts, ct)
	}
	for _, i := range []int{3, 0, 4, 1, 2, 2} {
		pt, index, err := in.Decrypt(cts[i])
		require.NoError(t, err)
		assert.EqualValues(t, i, index)
		assert.Equal(t, fmt.Sprintf("message %d", i), string(pt))
	}

	// A key shared later starts at the later index.
	late, err := souverain.NewInboundGroupSession([]byte(out.Key()))
	require.NoError(t, err)
	assert.EqualValues(t, 5, late.FirstKnownIndex())
	_, _, err = late.Decrypt(cts[4])
	assert.ErrorIs(t, err, olm.ErrUnknownMessageIndex, "what mautrix-go's decryptmegolm.go branches on")
	assert.ErrorIs(t, err, megolm.ErrUnknownMessageIndex)

	t.Run("export and import", func(t *testing.T) {
		exported, err := in.Export(2)
		require.NoError(t, err)
		imported, err := souverain.InboundGroupSessionImport(exported)
		require.NoError(t, err)
		assert.Equal(t, in.ID(), imported.ID())
		assert.EqualValues(t, 2, imported.FirstKnownIndex())
		assert.False(t, imported.IsVerified(), "an export proves nothing about its origin")
		_, _, err = imported.Decrypt(cts[1])
		assert.ErrorIs(t, err, olm.ErrUnknownMessageIndex)
		pt, index, err := imported.Decrypt(cts[3])
		require.NoError(t, err)
		assert.EqualValues(t, 3, index)
		assert.Equal(t, "message 3", string(pt))
		assert.True(t, imported.IsVerified(), "verified once a message decrypts")

		_, err = imported.Export(1)
		assert.ErrorIs(t, err, olm.ErrUnknownMessageIndex)
		// mautrix-go's InboundGroupSession.RatchetTo.
		ratcheted, err := imported.Export(4)
		require.NoError(t, err)
		r, err := souverain.InboundGroupSessionImport(ratcheted)
		require.NoError(t, err)
		assert.EqualValues(t, 4, r.FirstKnownIndex())
	})

	t.Run("pickles", func(t *testing.T) {
		pk := []byte("pickle key")
		op, err := out.Pickle(pk)
		require.NoError(t, err)
		out2, err := souverain.OutboundGroupSessionFromPickled(op, pk)
		require.NoError(t, err)
		assert.Equal(t, out.Key(), out2.Key())
		assert.Equal(t, out.ID(), out2.ID())
		assert.Equal(t, out.MessageIndex(), out2.MessageIndex())

		ip, err := in.Pickle(pk)
		require.NoError(t, err)
		in2, err := souverain.InboundGroupSessionFromPickled(ip, pk)
		require.NoError(t, err)
		assert.Equal(t, in.ID(), in2.ID())
		assert.Equal(t, in.FirstKnownIndex(), in2.FirstKnownIndex())
		assert.Equal(t, in.IsVerified(), in2.IsVerified())

		ct, err := out2.Encrypt([]byte("after pickling"))
		require.NoError(t, err)
		pt, index, err := in2.Decrypt(ct)
		require.NoError(t, err)
		assert.EqualValues(t, 5, index)
		assert.Equal(t, "after pickling", string(pt))

		// An empty key stands for " ", as in the other drivers.
		blankKeyed, err := out.Pickle([]byte(" "))
		require.NoError(t, err)
		_, err = souverain.OutboundGroupSessionFromPickled(blankKeyed, nil)
		assert.NoError(t, err)
		blankKeyed, err = in.Pickle([]byte(" "))
		require.NoError(t, err)
		_, err = souverain.InboundGroupSessionFromPickled(blankKeyed, nil)
		assert.NoError(t, err)
	})
}

func TestGroupSessionErrors(t *testing.T) {
	out := newOutbound(t)
	key := out.Key()
	in, err := souverain.NewInboundGroupSession([]byte(key))
	require.NoError(t, err)
	ct, err := out.Encrypt([]byte("hello"))
	require.NoError(t, err)
	raw, err := base64.RawStdEncoding.DecodeString(string(ct))
	require.NoError(t, err)
	enc := func(b []byte) []byte { return []byte(base64.RawStdEncoding.EncodeToString(b)) }
	flip := func(b []byte, i int) []byte {
		c := append([]byte(nil), b...)
		c[i] ^= 1
		return c
	}

	t.Run("decrypt", func(t *testing.T) {
		other, err := souverain.NewInboundGroupSession([]byte(newOutbound(t).Key()))
		require.NoError(t, err)
		for _, tc := range []struct {
			name     string
			s        *souverain.InboundGroupSession
			msg      []byte
			want     error
			wantOurs error
		}{
			{"empty", in, nil, olm.ErrEmptyInput, nil},
			{"not base64", in, []byte("!!!!"), olm.ErrLibolmInvalidBase64, nil},
			{"bad signature", in, enc(flip(raw, len(raw)-1)), olm.ErrBadSignature, megolm.ErrBadSignature},
			{"another session", other, ct, olm.ErrBadSignature, megolm.ErrBadSignature},
			{"bad version", in, enc(append([]byte{9}, raw[1:]...)), olm.ErrWrongProtocolVersion, megolm.ErrBadMessageVersion},
			{"truncated", in, enc(raw[:10]), olm.ErrBadMessageFormat, megolm.ErrBadMessageFormat},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, _, err := tc.s.Decrypt(tc.msg)
				assert.ErrorIs(t, err, tc.want)
				if tc.wantOurs != nil {
					assert.ErrorIs(t, err, tc.wantOurs)
				}
			})
		}
		pt, _, err := in.Decrypt(ct)
		require.NoError(t, err)
		assert.Equal(t, "hello", string(pt), "failures change nothing")
	})

	t.Run("session keys", func(t *testing.T) {
		rawKey, err := base64.RawStdEncoding.DecodeString(key)
		require.NoError(t, err)
		exported, err := in.Export(0)
		require.NoError(t, err)
		for _, tc := range []struct {
			name string
			f    func([]byte) (*souverain.InboundGroupSession, error)
			key  []byte
			want error
		}{
			{"new: empty", souverain.NewInboundGroupSession, nil, olm.ErrEmptyInput},
			{"new: bad signature", souverain.NewInboundGroupSession, enc(flip(rawKey, len(rawKey)-1)), olm.ErrBadSignature},
			{"new: truncated", souverain.NewInboundGroupSession, enc(rawKey[:100]), olm.ErrLibolmBadSessionKey},
			{"new: not base64", souverain.NewInboundGroupSession, []byte("!!!"), olm.ErrLibolmBadSessionKey},
			{"new: exported key", souverain.NewInboundGroupSession, exported, olm.ErrLibolmBadSessionKey},
			{"import: empty", souverain.InboundGroupSessionImport, nil, olm.ErrEmptyInput},
			{"import: session key", souverain.InboundGroupSessionImport, []byte(key), olm.ErrLibolmBadSessionKey},
			{"import: bad version", souverain.InboundGroupSessionImport, enc(append([]byte{3}, rawKey[1:165]...)), olm.ErrLibolmBadSessionKey},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s, err := tc.f(tc.key)
				assert.Nil(t, s)
				assert.ErrorIs(t, err, tc.want)
			})
		}
	})

	t.Run("pickles", func(t *testing.T) {
		pk := []byte("k")
		ip, err := in.Pickle(pk)
		require.NoError(t, err)
		op, err := out.Pickle(pk)
		require.NoError(t, err)
		for _, tc := range []struct {
			name    string
			unpick  func(p, k []byte) error
			pickled []byte
			key     []byte
			want    error
		}{
			{"inbound: wrong key", souverain.NewBlankInboundGroupSession().Unpickle, ip, []byte("x"), olm.ErrLibolmBadAccountKey},
			{"inbound: no key", souverain.NewBlankInboundGroupSession().Unpickle, ip, nil, olm.ErrNoKeyProvided},
			{"inbound: empty", souverain.NewBlankInboundGroupSession().Unpickle, nil, pk, olm.ErrEmptyInput},
			{"inbound: outbound pickle", souverain.NewBlankInboundGroupSession().Unpickle, op, pk, olm.ErrLibolmCorruptedPickle},
			{"outbound: wrong key", souverain.NewBlankOutboundGroupSession().Unpickle, op, []byte("x"), olm.ErrLibolmBadAccountKey},
			{"outbound: no key", souverain.NewBlankOutboundGroupSession().Unpickle, op, nil, olm.ErrNoKeyProvided},
			{"outbound: empty", souverain.NewBlankOutboundGroupSession().Unpickle, nil, pk, olm.ErrEmptyInput},
			{"outbound: inbound pickle", souverain.NewBlankOutboundGroupSession().Unpickle, ip, pk, olm.ErrUnknownOlmPickleVersion},
			{"outbound: garbage", souverain.NewBlankOutboundGroupSession().Unpickle, []byte("abcd"), pk, olm.ErrLibolmCorruptedPickle},
		} {
			t.Run(tc.name, func(t *testing.T) {
				assert.ErrorIs(t, tc.unpick(tc.pickled, tc.key), tc.want)
			})
		}
		_, err = souverain.InboundGroupSessionFromPickled(nil, pk)
		assert.ErrorIs(t, err, olm.ErrEmptyInput)
		_, err = souverain.OutboundGroupSessionFromPickled(nil, pk)
		assert.ErrorIs(t, err, olm.ErrEmptyInput)
		_, err = souverain.InboundGroupSessionFromPickled(ip, []byte("x"))
		assert.ErrorIs(t, err, olm.ErrLibolmBadAccountKey)
		_, err = souverain.OutboundGroupSessionFromPickled(op, []byte("x"))
		assert.ErrorIs(t, err, olm.ErrLibolmBadAccountKey)
		_, err = in.Pickle(nil)
		assert.ErrorIs(t, err, olm.ErrNoKeyProvided)
		_, err = out.Pickle(nil)
		assert.ErrorIs(t, err, olm.ErrNoKeyProvided)
	})

	t.Run("encrypt", func(t *testing.T) {
		_, err := out.Encrypt(nil)
		assert.ErrorIs(t, err, olm.ErrEmptyInput)
	})
}

func TestBlankGroupSessions(t *testing.T) {
	in := souverain.NewBlankInboundGroupSession()
	assert.Empty(t, in.ID())
	assert.Zero(t, in.FirstKnownIndex())
	assert.False(t, in.IsVerified())
	assert.Nil(t, in.Inner())
	_, _, err := in.Decrypt([]byte("AwgA"))
	assert.ErrorIs(t, err, souverain.ErrBlank)
	_, err = in.Export(0)
	assert.ErrorIs(t, err, souverain.ErrBlank)
	_, err = in.Pickle([]byte("k"))
	assert.ErrorIs(t, err, souverain.ErrBlank)

	out := souverain.NewBlankOutboundGroupSession()
	assert.Empty(t, out.ID())
	assert.Empty(t, out.Key())
	assert.Zero(t, out.MessageIndex())
	assert.Nil(t, out.Inner())
	_, err = out.Encrypt([]byte("x"))
	assert.ErrorIs(t, err, souverain.ErrBlank)
	_, err = out.Pickle([]byte("k"))
	assert.ErrorIs(t, err, souverain.ErrBlank)

	// Unpickle fills them.
	full := newOutbound(t)
	p, err := full.Pickle([]byte("k"))
	require.NoError(t, err)
	require.NoError(t, out.Unpickle(p, []byte("k")))
	assert.Equal(t, full.Key(), out.Key())
	inFull, err := souverain.NewInboundGroupSession([]byte(full.Key()))
	require.NoError(t, err)
	p, err = inFull.Pickle([]byte("k"))
	require.NoError(t, err)
	require.NoError(t, in.Unpickle(p, []byte("k")))
	assert.Equal(t, full.ID(), in.ID())
}
