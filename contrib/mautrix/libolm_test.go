//go:build cgo

package mautrix_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"maunium.net/go/mautrix/crypto/libolm"
	"maunium.net/go/mautrix/crypto/olm"
	"maunium.net/go/mautrix/id"

	souverain "github.com/souverain/e2ee/contrib/mautrix"
)

// libolm's driver (cgo, Debian's libolm 3.2.13) joins the cross-driver
// tests.
var libolmDriver = driver{
	name:     "libolm",
	pkg:      "maunium.net/go/mautrix/crypto/libolm",
	register: libolm.Register,
	newAccount: func() (olm.Account, error) {
		return iface[*libolm.Account, olm.Account](libolm.NewAccount())
	},
	accountFromPickled: func(p, k []byte) (olm.Account, error) {
		return iface[*libolm.Account, olm.Account](libolm.AccountFromPickled(p, k))
	},
	sessionFromPickled: func(p, k []byte) (olm.Session, error) {
		return iface[*libolm.Session, olm.Session](libolm.SessionFromPickled(p, k))
	},
	newOutbound: func() (olm.OutboundGroupSession, error) {
		return iface[*libolm.OutboundGroupSession, olm.OutboundGroupSession](libolm.NewOutboundGroupSession())
	},
	outboundFromPickled: func(p, k []byte) (olm.OutboundGroupSession, error) {
		s := libolm.NewBlankOutboundGroupSession()
		if err := s.Unpickle(p, k); err != nil {
			return nil, err
		}
		return s, nil
	},
	newInbound: func(k []byte) (olm.InboundGroupSession, error) {
		return iface[*libolm.InboundGroupSession, olm.InboundGroupSession](libolm.NewInboundGroupSession(k))
	},
	importInbound: func(k []byte) (olm.InboundGroupSession, error) {
		return iface[*libolm.InboundGroupSession, olm.InboundGroupSession](libolm.InboundGroupSessionImport(k))
	},
	inboundFromPickled: func(p, k []byte) (olm.InboundGroupSession, error) {
		return iface[*libolm.InboundGroupSession, olm.InboundGroupSession](libolm.InboundGroupSessionFromPickled(p, k))
	},
	pkSigningFromSeed: func(seed []byte) (olm.PKSigning, error) {
		return iface[*libolm.PKSigning, olm.PKSigning](libolm.NewPKSigningFromSeed(seed))
	},
}

func init() { otherDrivers = append(otherDrivers, libolmDriver) }

// A blank session behaves and pickles as libolm's.
func TestBlankSessionLikeLibolm(t *testing.T) {
	ours, theirs := souverain.NewBlankSession(), libolm.NewBlankSession()
	assert.Equal(t, theirs.ID(), ours.ID())
	assert.Equal(t, theirs.HasReceivedMessage(), ours.HasReceivedMessage())
	assert.Equal(t, theirs.EncryptMsgType(), ours.EncryptMsgType())
	assert.Equal(t, theirs.Describe(), ours.Describe())
	op, err := ours.Pickle(pickleKey)
	require.NoError(t, err)
	tp, err := theirs.Pickle(pickleKey)
	require.NoError(t, err)
	assert.Equal(t, tp, op)
	back, err := souverain.SessionFromPickled(tp, pickleKey)
	require.NoError(t, err)
	assert.Nil(t, back.Inner())
}

// Describe gives libolm's text. libolm prints a stale index for a sender
// chain it has dropped, so libolm's side is read from a fresh unpickle.
func TestDescribeLikeLibolm(t *testing.T) {
	alice, err := libolm.NewAccount()
	require.NoError(t, err)
	bob, err := souverain.NewAccount()
	require.NoError(t, err)
	aliceOut, bobIn := newSessionPair(t, alice, bob)

	check := func(step string) {
		t.Helper()
		for _, s := range []olm.Session{aliceOut, bobIn} {
			p, err := s.Pickle(pickleKey)
			require.NoError(t, err)
			l, err := libolm.SessionFromPickled(bytes.Clone(p), pickleKey)
			require.NoError(t, err)
			o, err := souverain.SessionFromPickled(p, pickleKey)
			require.NoError(t, err)
			assert.Equal(t, l.Describe(), o.Describe(), step)
			assert.Equal(t, l.Describe(), s.Describe(), step)
		}
	}
	check("start")
	for i := range 3 {
		_, _, err := aliceOut.Encrypt([]byte("skipped"))
		require.NoError(t, err)
		exchange(t, aliceOut, bobIn, fmt.Sprint("a", i))
		check(fmt.Sprint("after skipping, round ", i))
		exchange(t, bobIn, aliceOut, fmt.Sprint("b", i))
		check(fmt.Sprint("after reply, round ", i))
	}
}

// Errors match libolm's for the conditions mautrix-go's callers see.
func TestErrorsLikeLibolm(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func(d driver) error
	}{
		{"group decrypt before the first known index", func(d driver) error {
			out, err := d.newOutbound()
			require.NoError(t, err)
			ct, err := out.Encrypt([]byte("early"))
			require.NoError(t, err)
			in, err := d.newInbound([]byte(out.Key()))
			require.NoError(t, err)
			_, _, err = in.Decrypt(ct)
			return err
		}},
		{"group export before the first known index", func(d driver) error {
			out, err := d.newOutbound()
			require.NoError(t, err)
			_, err = out.Encrypt([]byte("early"))
			require.NoError(t, err)
			in, err := d.newInbound([]byte(out.Key()))
			require.NoError(t, err)
			_, err = in.Export(0)
			return err
		}},
		{"account pickle with the wrong key", func(d driver) error {
			a, err := d.newAccount()
			require.NoError(t, err)
			p, err := a.Pickle([]byte("right"))
			require.NoError(t, err)
			_, err = d.accountFromPickled(p, []byte("wrong"))
			return err
		}},
		{"session pickle with the wrong key", func(d driver) error {
			s, _ := newSessionPair(t, mustAccount(t, d), mustAccount(t, d))
			p, err := s.Pickle([]byte("right"))
			require.NoError(t, err)
			_, err = d.sessionFromPickled(p, []byte("wrong"))
			return err
		}},
		{"inbound group pickle with the wrong key", func(d driver) error {
			out, err := d.newOutbound()
			require.NoError(t, err)
			in, err := d.newInbound([]byte(out.Key()))
			require.NoError(t, err)
			p, err := in.Pickle([]byte("right"))
			require.NoError(t, err)
			_, err = d.inboundFromPickled(p, []byte("wrong"))
			return err
		}},
		{"pre-key message for an unknown one-time key", func(d driver) error {
			alice, bob, eve := mustAccount(t, d), mustAccount(t, d), mustAccount(t, d)
			out, err := alice.NewOutboundSession(identityKey(t, bob), firstOneTimeKey(t, bob))
			require.NoError(t, err)
			_, ct, err := out.Encrypt([]byte("x"))
			require.NoError(t, err)
			_, err = eve.NewInboundSession(string(ct))
			return err
		}},
		{"one-time key removed twice", func(d driver) error {
			bob := mustAccount(t, d)
			_, in := newSessionPair(t, mustAccount(t, d), bob)
			return bob.RemoveOneTimeKeys(in)
		}},
		{"pre-key message again once its one-time key is removed", func(d driver) error {
			alice, bob := mustAccount(t, d), mustAccount(t, d)
			out, err := alice.NewOutboundSession(identityKey(t, bob), firstOneTimeKey(t, bob))
			require.NoError(t, err)
			_, ct, err := out.Encrypt([]byte("x"))
			require.NoError(t, err)
			in, err := bob.NewInboundSession(string(ct))
			require.NoError(t, err)
			_, err = in.Decrypt(string(ct), id.OlmMsgTypePreKey)
			require.NoError(t, err)
			require.NoError(t, bob.RemoveOneTimeKeys(in))
			_, err = bob.NewInboundSession(string(ct))
			return err
		}},
		{"group message with a bad signature", func(d driver) error {
			out, err := d.newOutbound()
			require.NoError(t, err)
			in, err := d.newInbound([]byte(out.Key()))
			require.NoError(t, err)
			other, err := d.newOutbound()
			require.NoError(t, err)
			ct, err := other.Encrypt([]byte("x"))
			require.NoError(t, err)
			_, _, err = in.Decrypt(ct)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			theirs := tc.run(libolmDriver)
			ours := tc.run(souverainDriver)
			require.Error(t, theirs)
			assert.ErrorIs(t, ours, theirs, "libolm: %v; souverain: %v", theirs, ours)
		})
	}
}
