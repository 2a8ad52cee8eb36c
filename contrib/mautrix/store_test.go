//go:build cgo

package mautrix_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	_ "github.com/mattn/go-sqlite3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mau.fi/util/dbutil"
	"maunium.net/go/mautrix/crypto"
	"maunium.net/go/mautrix/crypto/olm"
	"maunium.net/go/mautrix/id"
)

const room = id.RoomID("!room:example.org")

// peer is the other end of the conversations kept in the store: a device
// whose objects stay in memory, made by one driver for the whole test.
type peer struct {
	account olm.Account
	key     id.Curve25519
	signing id.Ed25519
	olmOut  olm.Session              // its Olm session to the store's device
	group   olm.OutboundGroupSession // its room key, shared with the device
	groupIn olm.InboundGroupSession  // the device's room key, as it received it
}

func openStore(t *testing.T, path string) *crypto.SQLCryptoStore {
	t.Helper()
	raw, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=5000")
	require.NoError(t, err)
	t.Cleanup(func() { raw.Close() })
	db, err := dbutil.NewWithDB(raw, "sqlite3")
	require.NoError(t, err)
	store := crypto.NewSQLCryptoStore(db, nil, "account", "DEVICE", pickleKey)
	require.NoError(t, store.DB.Upgrade(context.Background()))
	return store
}

// The crypto store of mautrix-go, written with libolm's or goolm's driver,
// opens with souverain's and every object goes on working; written back by
// souverain, it opens with the first driver again.
func TestStoreAcrossDrivers(t *testing.T) {
	ctx := context.Background()
	t.Cleanup(souverainDriver.register)
	for _, original := range otherDrivers {
		t.Run(original.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "crypto.db")
			p := &peer{account: mustAccount(t, original)}
			p.signing, p.key, _ = p.account.IdentityKeys()

			// 1. mautrix-go on the original driver: an account, an Olm
			// session from the peer, a room key each way.
			original.register()
			store := openStore(t, path)
			acc := crypto.NewOlmAccount()
			require.NoError(t, acc.Internal.GenOneTimeKeys(10))
			require.NoError(t, store.PutAccount(ctx, acc))
			var err error
			p.olmOut, err = p.account.NewOutboundSession(acc.IdentityKey(), firstOneTimeKey(t, acc.Internal))
			require.NoError(t, err)
			receivePreKey(t, store, acc, p, "hello from the peer")

			ogs, err := crypto.NewOutboundGroupSession(room, nil, nil)
			require.NoError(t, err)
			require.NoError(t, store.AddOutboundGroupSession(ctx, ogs))
			p.groupIn, err = original.newInbound([]byte(ogs.Internal.Key()))
			require.NoError(t, err)
			p.group, err = original.newOutbound()
			require.NoError(t, err)
			igs, err := crypto.NewInboundGroupSession(p.key, p.signing, room, p.group.Key(), 0, 0, nil, false)
			require.NoError(t, err)
			require.NoError(t, store.PutGroupSession(ctx, igs))
			identity := acc.IdentityKey()

			// 2. souverain opens the store and carries on.
			souverainDriver.register()
			useStore(t, openStore(t, path), p, identity, souverainDriver.pkg)

			// 3. Back to the original driver.
			original.register()
			useStore(t, openStore(t, path), p, identity, original.pkg)
		})
	}
}

// receivePreKey has the peer send a pre-key message over its Olm session
// and the store's device take it as mautrix-go's decryptolm.go does:
// NewInboundSessionFrom, Decrypt, AddSession, RemoveOneTimeKeys, PutAccount.
func receivePreKey(t *testing.T, store *crypto.SQLCryptoStore, acc *crypto.OlmAccount, p *peer, text string) {
	t.Helper()
	ctx := context.Background()
	msgType, ct, err := p.olmOut.Encrypt([]byte(text))
	require.NoError(t, err)
	require.Equal(t, id.OlmMsgTypePreKey, msgType)
	sess, err := acc.NewInboundSessionFrom(p.key, string(ct))
	require.NoError(t, err)
	pt, err := sess.Decrypt(string(ct), msgType)
	require.NoError(t, err)
	require.Equal(t, text, string(pt))
	require.NoError(t, store.AddSession(ctx, p.key, sess))
	require.NoError(t, acc.Internal.RemoveOneTimeKeys(sess.Internal))
	require.NoError(t, store.PutAccount(ctx, acc))
}

// useStore loads every object from the store, checks that the driver in
// force made them, uses them with the peer, and writes them back.
func useStore(t *testing.T, store *crypto.SQLCryptoStore, p *peer, identity id.IdentityKey, pkg string) {
	t.Helper()
	ctx := context.Background()
	isOurs := func(v any) {
		t.Helper()
		path := reflect.TypeOf(v).Elem().PkgPath()
		assert.True(t, strings.HasPrefix(path, pkg), "object of %s, want %s", path, pkg)
	}

	acc, err := store.GetAccount(ctx)
	require.NoError(t, err)
	isOurs(acc.Internal)
	assert.Equal(t, identity, acc.IdentityKey())
	require.NoError(t, acc.Internal.GenOneTimeKeys(3))

	// The Olm session: the peer's next messages, and replies.
	sessions, err := store.GetSessions(ctx, p.key)
	require.NoError(t, err)
	var sess *crypto.OlmSession
	for _, s := range sessions {
		if s.ID() == p.olmOut.ID() {
			sess = s
		}
	}
	require.NotNil(t, sess, "the peer's session is in the store")
	isOurs(sess.Internal)
	if !p.olmOut.HasReceivedMessage() {
		// The peer has not heard back yet: its messages are still pre-key
		// messages, which match the stored session.
		msgType, ct, err := p.olmOut.Encrypt([]byte("still pre-key"))
		require.NoError(t, err)
		require.Equal(t, id.OlmMsgTypePreKey, msgType)
		ok, err := sess.Internal.MatchesInboundSession(string(ct))
		require.NoError(t, err)
		require.True(t, ok)
		pt, err := sess.Decrypt(string(ct), msgType)
		require.NoError(t, err)
		assert.Equal(t, "still pre-key", string(pt))
	}
	for i := range 3 {
		exchange(t, sess.Internal, p.olmOut, fmt.Sprint("device ", i))
		exchange(t, p.olmOut, sess.Internal, fmt.Sprint("peer ", i))
	}
	require.NoError(t, store.UpdateSession(ctx, p.key, sess))

	// Room keys.
	igs, err := store.GetGroupSession(ctx, room, p.group.ID())
	require.NoError(t, err)
	require.NotNil(t, igs)
	isOurs(igs.Internal)
	ct, err := p.group.Encrypt([]byte("to the room"))
	require.NoError(t, err)
	pt, index, err := igs.Internal.Decrypt(ct)
	require.NoError(t, err)
	assert.Equal(t, "to the room", string(pt))
	assert.EqualValues(t, p.group.MessageIndex()-1, index)
	require.NoError(t, store.PutGroupSession(ctx, igs))

	ogs, err := store.GetOutboundGroupSession(ctx, room)
	require.NoError(t, err)
	require.NotNil(t, ogs)
	isOurs(ogs.Internal)
	ct, err = ogs.Internal.Encrypt([]byte("from the device"))
	require.NoError(t, err)
	pt, _, err = p.groupIn.Decrypt(ct)
	require.NoError(t, err)
	assert.Equal(t, "from the device", string(pt))
	require.NoError(t, store.UpdateOutboundGroupSession(ctx, ogs))

	// A new Olm session made by this driver, stored beside the old one.
	second := &peer{account: p.account, key: p.key}
	second.olmOut, err = p.account.NewOutboundSession(acc.IdentityKey(), firstOneTimeKey(t, acc.Internal))
	require.NoError(t, err)
	receivePreKey(t, store, acc, second, "a second session")
	require.NoError(t, store.PutAccount(ctx, acc))
	p.olmOut = second.olmOut
	all, err := store.GetSessions(ctx, p.key)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, len(all), 2)
}
