package mautrix_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"maunium.net/go/mautrix/crypto/goolm"
	"maunium.net/go/mautrix/crypto/olm"

	souverain "github.com/souverain/e2ee/contrib/mautrix"
)

func TestRegister(t *testing.T) {
	goolm.Register()
	require.Equal(t, "goolm", olm.Driver)
	souverain.Register()
	t.Cleanup(goolm.Register) // leave no half-state for other tests: they call constructors directly
	assert.Equal(t, souverain.DriverName, olm.Driver)

	assert.Panics(t, func() { olm.SetPickleKey([]byte("k")) })

	acc, err := olm.NewAccount()
	require.NoError(t, err)
	require.IsType(t, &souverain.Account{}, acc)
	require.NoError(t, acc.GenOneTimeKeys(1))
	assert.IsType(t, &souverain.Account{}, olm.NewBlankAccount())
	pickled, err := acc.Pickle([]byte("k"))
	require.NoError(t, err)
	acc2, err := olm.AccountFromPickled(pickled, []byte("k"))
	require.NoError(t, err)
	assert.IsType(t, &souverain.Account{}, acc2)

	bob, err := olm.NewAccount()
	require.NoError(t, err)
	sess, _ := newSessionPair(t, acc, bob)
	assert.IsType(t, &souverain.Session{}, sess)
	assert.IsType(t, &souverain.Session{}, olm.NewBlankSession())
	sp, err := sess.Pickle([]byte("k"))
	require.NoError(t, err)
	sess2, err := olm.SessionFromPickled(sp, []byte("k"))
	require.NoError(t, err)
	assert.IsType(t, &souverain.Session{}, sess2)

	out, err := olm.NewOutboundGroupSession()
	require.NoError(t, err)
	assert.IsType(t, &souverain.OutboundGroupSession{}, out)
	assert.IsType(t, &souverain.OutboundGroupSession{}, olm.NewBlankOutboundGroupSession())
	op, err := out.Pickle([]byte("k"))
	require.NoError(t, err)
	out2, err := olm.OutboundGroupSessionFromPickled(op, []byte("k"))
	require.NoError(t, err)
	assert.IsType(t, &souverain.OutboundGroupSession{}, out2)

	in, err := olm.NewInboundGroupSession([]byte(out.Key()))
	require.NoError(t, err)
	assert.IsType(t, &souverain.InboundGroupSession{}, in)
	assert.IsType(t, &souverain.InboundGroupSession{}, olm.NewBlankInboundGroupSession())
	exp, err := in.Export(0)
	require.NoError(t, err)
	in2, err := olm.InboundGroupSessionImport(exp)
	require.NoError(t, err)
	assert.IsType(t, &souverain.InboundGroupSession{}, in2)
	ip, err := in.Pickle([]byte("k"))
	require.NoError(t, err)
	in3, err := olm.InboundGroupSessionFromPickled(ip, []byte("k"))
	require.NoError(t, err)
	assert.IsType(t, &souverain.InboundGroupSession{}, in3)

	pk, err := olm.NewPKSigning()
	require.NoError(t, err)
	assert.IsType(t, &souverain.PKSigning{}, pk)
	pk2, err := olm.NewPKSigningFromSeed(pk.Seed())
	require.NoError(t, err)
	assert.Equal(t, pk.PublicKey(), pk2.PublicKey())

	// Failures give a nil interface, not a typed nil pointer.
	for name, f := range map[string]func() (any, error){
		"AccountFromPickled":              func() (any, error) { return olm.AccountFromPickled([]byte("x"), []byte("k")) },
		"SessionFromPickled":              func() (any, error) { return olm.SessionFromPickled([]byte("x"), []byte("k")) },
		"InboundGroupSessionFromPickled":  func() (any, error) { return olm.InboundGroupSessionFromPickled([]byte("x"), []byte("k")) },
		"NewInboundGroupSession":          func() (any, error) { return olm.NewInboundGroupSession([]byte("x")) },
		"InboundGroupSessionImport":       func() (any, error) { return olm.InboundGroupSessionImport([]byte("x")) },
		"OutboundGroupSessionFromPickled": func() (any, error) { return olm.OutboundGroupSessionFromPickled([]byte("x"), []byte("k")) },
		"NewPKSigningFromSeed":            func() (any, error) { return olm.NewPKSigningFromSeed([]byte("x")) },
	} {
		v, err := f()
		assert.Error(t, err, name)
		assert.True(t, v == nil, "%s returned %#v", name, v)
	}
}
