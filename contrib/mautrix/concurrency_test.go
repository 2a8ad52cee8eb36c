package mautrix_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"maunium.net/go/mautrix/crypto/olm"
	"maunium.net/go/mautrix/id"

	souverain "github.com/souverain/e2ee/contrib/mautrix"
)

// These tests call one driver object from several goroutines at once, in
// the combinations mautrix-go makes (see the README's "Concurrency"): they
// prove the driver's own locks under `go test -race`, which reports a data
// race as a test failure. Without -race they still check every result.

// concurrently runs each function in its own goroutine, n times in a row,
// and waits for all of them. A function reports its failures with t.Errorf
// (t.FailNow may not be called outside the test goroutine).
func concurrently(n int, fs ...func(i int)) {
	var wg sync.WaitGroup
	for _, f := range fs {
		wg.Go(func() {
			for i := range n {
				f(i)
			}
		})
	}
	wg.Wait()
}

// preKeyMessage is a pre-key message to an account, from its sender's
// identity key, with the plaintext it carries.
type preKeyMessage struct {
	sender    id.Curve25519
	text      string
	plaintext string
}

// preKeyMessages makes n pre-key messages to bob, each on a new session
// from a new account through one of bob's one-time keys, so that each
// creates a session and uses up a key.
func preKeyMessages(t testing.TB, bob olm.Account, n int) []preKeyMessage {
	t.Helper()
	require.NoError(t, bob.GenOneTimeKeys(uint(n)))
	keys, err := bob.OneTimeKeys()
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(keys), n)
	bobKey := identityKey(t, bob)
	msgs := make([]preKeyMessage, 0, n)
	for _, otk := range keys {
		if len(msgs) == n {
			break
		}
		alice, err := souverain.NewAccount()
		require.NoError(t, err)
		out, err := alice.NewOutboundSession(bobKey, otk)
		require.NoError(t, err)
		plaintext := fmt.Sprintf("message %d", len(msgs))
		msgType, ct, err := out.Encrypt([]byte(plaintext))
		require.NoError(t, err)
		require.Equal(t, id.OlmMsgTypePreKey, msgType)
		msgs = append(msgs, preKeyMessage{sender: identityKey(t, alice), text: string(ct), plaintext: plaintext})
	}
	bob.MarkKeysAsPublished()
	return msgs
}

// receive does what mautrix-go's decryptolm.go does with a pre-key message
// for which it has no session, under its olmLock: back the account up,
// create the session, decrypt, remove the one-time key, save the account.
func receive(t *testing.T, bob olm.Account, m preKeyMessage) {
	if _, err := bob.Pickle([]byte("tmp")); err != nil {
		t.Errorf("pickle before the inbound session: %v", err)
	}
	s, err := bob.NewInboundSessionFrom(&m.sender, m.text)
	if err != nil {
		t.Errorf("new inbound session: %v", err)
		return
	}
	pt, err := s.Decrypt(m.text, id.OlmMsgTypePreKey)
	if err != nil || string(pt) != m.plaintext {
		t.Errorf("decrypt %q: %q, %v", m.plaintext, pt, err)
	}
	if err := bob.RemoveOneTimeKeys(s); err != nil {
		t.Errorf("remove one-time keys: %v", err)
	}
	if _, err := bob.Pickle([]byte("key")); err != nil {
		t.Errorf("pickle: %v", err)
	}
}

// An account used at once by the paths mautrix-go runs under different
// locks or none: Olm decryption (olmLock), key upload (otkUploadLock) and
// signing (cross-signing, device keys: no lock), plus Olm encryption.
func TestAccountConcurrentUse(t *testing.T) {
	const n = 20
	bob := newAccount(t)
	msgs := preKeyMessages(t, bob, n)
	peer := newAccount(t)
	peerKey := identityKey(t, peer)
	peerOTK := firstOneTimeKey(t, peer)

	concurrently(n,
		func(i int) { receive(t, bob, msgs[i]) },
		func(int) { // ShareKeys
			if err := bob.GenOneTimeKeys(2); err != nil {
				t.Errorf("generate one-time keys: %v", err)
			}
			if _, err := bob.OneTimeKeys(); err != nil {
				t.Errorf("one-time keys: %v", err)
			}
			if _, err := bob.Sign([]byte(`{"key":"…"}`)); err != nil {
				t.Errorf("sign: %v", err)
			}
			bob.MarkKeysAsPublished()
			if _, err := bob.Pickle([]byte("key")); err != nil {
				t.Errorf("pickle: %v", err)
			}
		},
		func(int) { // SignJSON, OlmAccount.Keys
			if _, err := bob.Sign([]byte("cross-signing")); err != nil {
				t.Errorf("sign: %v", err)
			}
			if _, _, err := bob.IdentityKeys(); err != nil {
				t.Errorf("identity keys: %v", err)
			}
			if _, err := bob.IdentityKeysJSON(); err != nil {
				t.Errorf("identity keys JSON: %v", err)
			}
			_ = bob.MaxNumberOfOneTimeKeys()
		},
		func(int) { // createOutboundSessions
			if _, err := bob.NewOutboundSession(peerKey, peerOTK); err != nil {
				t.Errorf("new outbound session: %v", err)
			}
		},
	)
	for _, m := range msgs {
		_, err := bob.NewInboundSessionFrom(&m.sender, m.text)
		require.ErrorIs(t, err, olm.ErrBadMessageKeyID, "the one-time key of %q is gone", m.plaintext)
	}
}

// Unpickle swaps the object's state while other goroutines read it: each
// reader sees the old state or the new one, never a torn one.
func TestUnpickleConcurrentUse(t *testing.T) {
	const n = 20
	key := []byte("key")
	t.Run("Account", func(t *testing.T) {
		a := newAccount(t)
		require.NoError(t, a.GenOneTimeKeys(3))
		p, err := a.Pickle(key)
		require.NoError(t, err)
		want, err := a.IdentityKeysJSON()
		require.NoError(t, err)
		concurrently(n,
			func(int) {
				if err := a.Unpickle(p, key); err != nil {
					t.Errorf("unpickle: %v", err)
				}
			},
			func(int) {
				if got, err := a.IdentityKeysJSON(); err != nil || string(got) != string(want) {
					t.Errorf("identity keys: %s, %v", got, err)
				}
				if keys, err := a.OneTimeKeys(); err != nil || len(keys) != 3 {
					t.Errorf("one-time keys: %d, %v", len(keys), err)
				}
				if _, err := a.Pickle(key); err != nil {
					t.Errorf("pickle: %v", err)
				}
			},
		)
	})
	t.Run("InboundGroupSession", func(t *testing.T) {
		out := newOutbound(t)
		in, err := souverain.NewInboundGroupSession([]byte(out.Key()))
		require.NoError(t, err)
		p, err := in.Pickle(key)
		require.NoError(t, err)
		ct, err := out.Encrypt([]byte("hi"))
		require.NoError(t, err)
		concurrently(n,
			func(int) {
				if err := in.Unpickle(p, key); err != nil {
					t.Errorf("unpickle: %v", err)
				}
			},
			func(int) {
				if pt, _, err := in.Decrypt(ct); err != nil || string(pt) != "hi" {
					t.Errorf("decrypt: %q, %v", pt, err)
				}
				if in.ID() != out.ID() || in.FirstKnownIndex() != 0 {
					t.Errorf("ID %s, first known index %d", in.ID(), in.FirstKnownIndex())
				}
				if _, err := in.Export(0); err != nil {
					t.Errorf("export: %v", err)
				}
			},
		)
	})
	t.Run("OutboundGroupSession", func(t *testing.T) {
		out := newOutbound(t)
		p, err := out.Pickle(key)
		require.NoError(t, err)
		concurrently(n,
			func(int) {
				if err := out.Unpickle(p, key); err != nil {
					t.Errorf("unpickle: %v", err)
				}
			},
			func(int) {
				if _, err := out.Encrypt([]byte("hi")); err != nil {
					t.Errorf("encrypt: %v", err)
				}
				if out.Key() == "" || out.ID() == "" || out.MessageIndex() > n {
					t.Errorf("key %q, ID %q, index %d", out.Key(), out.ID(), out.MessageIndex())
				}
			},
		)
	})
	t.Run("Session", func(t *testing.T) {
		alice, bob := newAccount(t), newAccount(t)
		as, bs := newSessionPair(t, alice, bob)
		p, err := bs.Pickle(key)
		require.NoError(t, err)
		msgType, ct, err := as.Encrypt([]byte("hi"))
		require.NoError(t, err)
		require.Equal(t, id.OlmMsgTypePreKey, msgType)
		concurrently(n,
			func(int) {
				if err := bs.Unpickle(p, key); err != nil {
					t.Errorf("unpickle: %v", err)
				}
			},
			func(int) {
				if ok, err := bs.MatchesInboundSession(string(ct)); err != nil || !ok {
					t.Errorf("matches inbound session: %v, %v", ok, err)
				}
				if _, _, err := bs.Encrypt([]byte("hi")); err != nil {
					t.Errorf("encrypt: %v", err)
				}
				if bs.ID() != as.ID() || !bs.HasReceivedMessage() || bs.Describe() == "" {
					t.Errorf("ID %s, received %v", bs.ID(), bs.HasReceivedMessage())
				}
			},
		)
	})
}

// Group sessions used at once by the paths mautrix-go runs under its
// per-session and per-room locks and outside them: Megolm decryption
// (megolmDecryptLock) beside key requests, key export and backup (Export,
// no lock) and the store (Pickle); Megolm encryption (megolmEncryptLock)
// beside room-key sharing (Key, ID, MessageIndex) and the store.
func TestGroupSessionConcurrentUse(t *testing.T) {
	const n = 30
	out := newOutbound(t)
	// Imported, so unverified until the first message decrypts: Decrypt
	// changes the session's state.
	exported, err := souverain.NewInboundGroupSession([]byte(out.Key()))
	require.NoError(t, err)
	k, err := exported.Export(0)
	require.NoError(t, err)
	in, err := souverain.InboundGroupSessionImport(k)
	require.NoError(t, err)
	require.False(t, in.IsVerified())

	cts := make(chan []byte, n)
	concurrently(n,
		func(i int) {
			ct, err := out.Encrypt(fmt.Appendf(nil, "message %d", i))
			if err != nil {
				t.Errorf("encrypt: %v", err)
			}
			cts <- ct
		},
		func(int) {
			if out.Key() == "" || out.ID() != in.ID() {
				t.Errorf("key %q, ID %q", out.Key(), out.ID())
			}
			_ = out.MessageIndex()
			if _, err := out.Pickle([]byte("key")); err != nil {
				t.Errorf("pickle outbound: %v", err)
			}
		},
		func(i int) {
			pt, idx, err := in.Decrypt(<-cts)
			if err != nil || string(pt) != fmt.Sprintf("message %d", idx) {
				t.Errorf("decrypt: %q at %d, %v", pt, idx, err)
			}
		},
		func(int) {
			if _, err := in.Export(in.FirstKnownIndex()); err != nil {
				t.Errorf("export: %v", err)
			}
			_ = in.IsVerified()
			if _, err := in.Pickle([]byte("key")); err != nil {
				t.Errorf("pickle inbound: %v", err)
			}
		},
	)
	require.True(t, in.IsVerified())
	require.EqualValues(t, n, out.MessageIndex())
}
