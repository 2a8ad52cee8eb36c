package mautrix_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"maunium.net/go/mautrix/crypto/goolm/account"
	"maunium.net/go/mautrix/crypto/olm"
	"maunium.net/go/mautrix/id"

	souverain "github.com/souverain/e2ee/contrib/mautrix"
)

// Accounts with fallback keys (libolm pickle version 4 with one or two of
// them) cross between souverain and goolm, whose account exposes fallback
// keys; sessions made with a fallback key work after the crossing.
func TestCrossFallbackKeys(t *testing.T) {
	for _, n := range []int{1, 2} {
		t.Run(fmt.Sprintf("souverain→goolm/%d", n), func(t *testing.T) {
			ours := newAccount(t)
			for range n {
				require.NoError(t, ours.Inner().GenerateFallbackKey())
			}
			keyID, key, ok := ours.Inner().UnpublishedFallbackKey()
			require.True(t, ok)
			p, err := ours.Pickle(pickleKey)
			require.NoError(t, err)
			theirs, err := account.AccountFromPickled(bytes.Clone(p), pickleKey)
			require.NoError(t, err)
			assert.EqualValues(t, n, theirs.NumFallbackKeys)
			assert.Equal(t, map[string]id.Curve25519{keyID.String(): id.Curve25519(key.String())}, theirs.FallbackKeyUnpublished())
			again, err := theirs.Pickle(pickleKey)
			require.NoError(t, err)
			assert.Equal(t, p, again)
			useFallback(t, theirs, id.Curve25519(key.String()))
		})
		t.Run(fmt.Sprintf("goolm→souverain/%d", n), func(t *testing.T) {
			theirs, err := account.NewAccount()
			require.NoError(t, err)
			for range n {
				require.NoError(t, theirs.GenFallbackKey())
			}
			var key id.Curve25519
			for _, k := range theirs.FallbackKeyUnpublished() {
				key = k
			}
			p, err := theirs.Pickle(pickleKey)
			require.NoError(t, err)
			ours, err := souverain.AccountFromPickled(bytes.Clone(p), pickleKey)
			require.NoError(t, err)
			_, got, ok := ours.Inner().UnpublishedFallbackKey()
			require.True(t, ok)
			assert.Equal(t, key, id.Curve25519(got.String()))
			again, err := ours.Pickle(pickleKey)
			require.NoError(t, err)
			assert.Equal(t, p, again)
			useFallback(t, ours, key)
		})
	}
}

// useFallback opens two sessions to bob through his fallback key; the key
// stays for the second.
func useFallback(t *testing.T, bob olm.Account, key id.Curve25519) {
	t.Helper()
	for range 2 {
		out, err := newAccount(t).NewOutboundSession(identityKey(t, bob), key)
		require.NoError(t, err)
		msgType, ct, err := out.Encrypt([]byte("via the fallback key"))
		require.NoError(t, err)
		in, err := bob.NewInboundSession(string(ct))
		require.NoError(t, err)
		pt, err := in.Decrypt(string(ct), msgType)
		require.NoError(t, err)
		assert.Equal(t, "via the fallback key", string(pt))
		require.NoError(t, bob.RemoveOneTimeKeys(in))
	}
}
