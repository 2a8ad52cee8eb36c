package mautrix_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"maunium.net/go/mautrix/crypto/goolm"
	"maunium.net/go/mautrix/crypto/goolm/account"
	"maunium.net/go/mautrix/crypto/goolm/pk"
	"maunium.net/go/mautrix/crypto/goolm/session"
	"maunium.net/go/mautrix/crypto/olm"
	"maunium.net/go/mautrix/id"

	souverain "github.com/souverain/e2ee/contrib/mautrix"
)

// driver gathers the constructors of one mautrix-go Olm driver, called
// directly rather than through the olm package's global hooks, so that
// tests can hold objects of two drivers at once.
type driver struct {
	name                string
	pkg                 string // import path (prefix) of the driver's types
	register            func()
	newAccount          func() (olm.Account, error)
	accountFromPickled  func(pickled, key []byte) (olm.Account, error)
	sessionFromPickled  func(pickled, key []byte) (olm.Session, error)
	newOutbound         func() (olm.OutboundGroupSession, error)
	outboundFromPickled func(pickled, key []byte) (olm.OutboundGroupSession, error)
	newInbound          func(sessionKey []byte) (olm.InboundGroupSession, error)
	importInbound       func(sessionKey []byte) (olm.InboundGroupSession, error)
	inboundFromPickled  func(pickled, key []byte) (olm.InboundGroupSession, error)
	pkSigningFromSeed   func(seed []byte) (olm.PKSigning, error)
}

// iface turns a constructor's typed result into an interface, nil on error.
func iface[T any, I any](v T, err error) (I, error) {
	var zero I
	if err != nil {
		return zero, err
	}
	return any(v).(I), nil
}

var souverainDriver = driver{
	name:     "souverain",
	pkg:      "github.com/souverain/e2ee/contrib/mautrix",
	register: souverain.Register,
	newAccount: func() (olm.Account, error) {
		return iface[*souverain.Account, olm.Account](souverain.NewAccount())
	},
	accountFromPickled: func(p, k []byte) (olm.Account, error) {
		return iface[*souverain.Account, olm.Account](souverain.AccountFromPickled(p, k))
	},
	sessionFromPickled: func(p, k []byte) (olm.Session, error) {
		return iface[*souverain.Session, olm.Session](souverain.SessionFromPickled(p, k))
	},
	newOutbound: func() (olm.OutboundGroupSession, error) {
		return iface[*souverain.OutboundGroupSession, olm.OutboundGroupSession](souverain.NewOutboundGroupSession())
	},
	outboundFromPickled: func(p, k []byte) (olm.OutboundGroupSession, error) {
		return iface[*souverain.OutboundGroupSession, olm.OutboundGroupSession](souverain.OutboundGroupSessionFromPickled(p, k))
	},
	newInbound: func(k []byte) (olm.InboundGroupSession, error) {
		return iface[*souverain.InboundGroupSession, olm.InboundGroupSession](souverain.NewInboundGroupSession(k))
	},
	importInbound: func(k []byte) (olm.InboundGroupSession, error) {
		return iface[*souverain.InboundGroupSession, olm.InboundGroupSession](souverain.InboundGroupSessionImport(k))
	},
	inboundFromPickled: func(p, k []byte) (olm.InboundGroupSession, error) {
		return iface[*souverain.InboundGroupSession, olm.InboundGroupSession](souverain.InboundGroupSessionFromPickled(p, k))
	},
	pkSigningFromSeed: func(seed []byte) (olm.PKSigning, error) {
		return iface[*souverain.PKSigning, olm.PKSigning](souverain.NewPKSigningFromSeed(seed))
	},
}

var goolmDriver = driver{
	name:     "goolm",
	pkg:      "maunium.net/go/mautrix/crypto/goolm/",
	register: goolm.Register,
	newAccount: func() (olm.Account, error) {
		return iface[*account.Account, olm.Account](account.NewAccount())
	},
	accountFromPickled: func(p, k []byte) (olm.Account, error) {
		return iface[*account.Account, olm.Account](account.AccountFromPickled(p, k))
	},
	sessionFromPickled: func(p, k []byte) (olm.Session, error) {
		return iface[*session.OlmSession, olm.Session](session.OlmSessionFromPickled(p, k))
	},
	newOutbound: func() (olm.OutboundGroupSession, error) {
		return iface[*session.MegolmOutboundSession, olm.OutboundGroupSession](session.NewMegolmOutboundSession())
	},
	outboundFromPickled: func(p, k []byte) (olm.OutboundGroupSession, error) {
		return iface[*session.MegolmOutboundSession, olm.OutboundGroupSession](session.MegolmOutboundSessionFromPickled(p, k))
	},
	newInbound: func(k []byte) (olm.InboundGroupSession, error) {
		return iface[*session.MegolmInboundSession, olm.InboundGroupSession](session.NewMegolmInboundSession(k))
	},
	importInbound: func(k []byte) (olm.InboundGroupSession, error) {
		return iface[*session.MegolmInboundSession, olm.InboundGroupSession](session.NewMegolmInboundSessionFromExport(k))
	},
	inboundFromPickled: func(p, k []byte) (olm.InboundGroupSession, error) {
		return iface[*session.MegolmInboundSession, olm.InboundGroupSession](session.MegolmInboundSessionFromPickled(p, k))
	},
	pkSigningFromSeed: func(seed []byte) (olm.PKSigning, error) {
		return iface[*pk.Signing, olm.PKSigning](pk.NewSigningFromSeed(seed))
	},
}

// otherDrivers are the drivers souverain is tested against; libolm's joins
// when cgo is available (libolm_test.go).
var otherDrivers = []driver{goolmDriver}

// pair is an ordered pair of drivers: objects are made by from and then
// carried over to, or talk to objects of, to.
type pair struct{ from, to driver }

// crossPairs returns souverain with every other driver, both ways, and
// souverain with itself.
func crossPairs() []pair {
	ps := []pair{{souverainDriver, souverainDriver}}
	for _, o := range otherDrivers {
		ps = append(ps, pair{souverainDriver, o}, pair{o, souverainDriver})
	}
	return ps
}

func (p pair) String() string { return p.from.name + "→" + p.to.name }

// firstOneTimeKey returns one unpublished one-time key of a, generating keys
// if it has none.
func firstOneTimeKey(t testing.TB, a olm.Account) id.Curve25519 {
	t.Helper()
	keys, err := a.OneTimeKeys()
	require.NoError(t, err)
	if len(keys) == 0 {
		require.NoError(t, a.GenOneTimeKeys(1))
		keys, err = a.OneTimeKeys()
		require.NoError(t, err)
	}
	for _, k := range keys {
		return k
	}
	panic("unreachable")
}

func mustAccount(t testing.TB, d driver) olm.Account {
	t.Helper()
	a, err := d.newAccount()
	require.NoError(t, err)
	return a
}

func identityKey(t testing.TB, a olm.Account) id.Curve25519 {
	t.Helper()
	_, curve, err := a.IdentityKeys()
	require.NoError(t, err)
	return curve
}

// newSessionPair opens a session from alice to bob, delivers one pre-key
// message so that bob has the inbound session, and removes bob's one-time
// key.
func newSessionPair(t testing.TB, alice, bob olm.Account) (aliceSession, bobSession olm.Session) {
	t.Helper()
	aliceSession, err := alice.NewOutboundSession(identityKey(t, bob), firstOneTimeKey(t, bob))
	require.NoError(t, err)
	msgType, ct, err := aliceSession.Encrypt([]byte("hello bob"))
	require.NoError(t, err)
	require.Equal(t, id.OlmMsgTypePreKey, msgType)
	aliceKey := identityKey(t, alice)
	bobSession, err = bob.NewInboundSessionFrom(&aliceKey, string(ct))
	require.NoError(t, err)
	pt, err := bobSession.Decrypt(string(ct), msgType)
	require.NoError(t, err)
	require.Equal(t, "hello bob", string(pt))
	require.NoError(t, bob.RemoveOneTimeKeys(bobSession))
	return aliceSession, bobSession
}

// exchange sends text from one session to the other and checks it arrives.
func exchange(t testing.TB, from, to olm.Session, text string) {
	t.Helper()
	msgType, ct, err := from.Encrypt([]byte(text))
	require.NoError(t, err)
	pt, err := to.Decrypt(string(ct), msgType)
	require.NoError(t, err, "%s", text)
	require.Equal(t, text, string(pt))
}
