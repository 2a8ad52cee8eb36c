package mautrix_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"maunium.net/go/mautrix/crypto/olm"
	"maunium.net/go/mautrix/id"
)

// The tests in this file run with goolm, and with libolm when cgo is on:
// every pair of souverain and another driver, both ways.

var pickleKey = []byte("mautrix-go store pickle key")

// An account pickled by one driver opens with the other, identical, and
// pickles back to the same bytes.
func TestCrossAccountPickle(t *testing.T) {
	for _, p := range crossPairs() {
		t.Run(p.String(), func(t *testing.T) {
			a, err := p.from.newAccount()
			require.NoError(t, err)
			require.NoError(t, a.GenOneTimeKeys(30))
			a.MarkKeysAsPublished()
			require.NoError(t, a.GenOneTimeKeys(20))

			pickled, err := a.Pickle(pickleKey)
			require.NoError(t, err)
			b, err := p.to.accountFromPickled(bytes.Clone(pickled), pickleKey)
			require.NoError(t, err)
			assertSameAccount(t, a, b)
			aJSON, err := a.IdentityKeysJSON()
			require.NoError(t, err)
			bJSON, err := b.IdentityKeysJSON()
			require.NoError(t, err)
			assert.JSONEq(t, string(aJSON), string(bJSON))
			assert.Equal(t, a.MaxNumberOfOneTimeKeys(), b.MaxNumberOfOneTimeKeys())

			again, err := b.Pickle(pickleKey)
			require.NoError(t, err)
			assert.Equal(t, pickled, again, "byte for byte")

			// Both go on alike: mark and generate on both.
			a.MarkKeysAsPublished()
			b.MarkKeysAsPublished()
			ak, err := a.OneTimeKeys()
			require.NoError(t, err)
			bk, err := b.OneTimeKeys()
			require.NoError(t, err)
			assert.Empty(t, ak)
			assert.Empty(t, bk)
		})
	}
}

// Olm sessions between accounts of two drivers, with session pickles moved
// across drivers midway.
func TestCrossOlmConversation(t *testing.T) {
	for _, p := range crossPairs() {
		t.Run(p.String(), func(t *testing.T) {
			alice, err := p.from.newAccount()
			require.NoError(t, err)
			bob, err := p.to.newAccount()
			require.NoError(t, err)
			require.NoError(t, bob.GenOneTimeKeys(5))

			aliceOut, err := alice.NewOutboundSession(identityKey(t, bob), firstOneTimeKey(t, bob))
			require.NoError(t, err)
			aliceKey := identityKey(t, alice)
			var bobIn olm.Session
			for i := range 3 {
				msgType, ct, err := aliceOut.Encrypt(fmt.Appendf(nil, "prekey %d", i))
				require.NoError(t, err)
				require.Equal(t, id.OlmMsgTypePreKey, msgType)
				if bobIn == nil {
					bobIn, err = bob.NewInboundSessionFrom(&aliceKey, string(ct))
					require.NoError(t, err)
				} else {
					ok, err := bobIn.MatchesInboundSessionFrom(string(aliceKey), string(ct))
					require.NoError(t, err)
					require.True(t, ok)
				}
				pt, err := bobIn.Decrypt(string(ct), msgType)
				require.NoError(t, err)
				require.Equal(t, fmt.Sprintf("prekey %d", i), string(pt))
			}
			require.NoError(t, bob.RemoveOneTimeKeys(bobIn))
			assert.Equal(t, aliceOut.ID(), bobIn.ID())

			for i := range 4 {
				exchange(t, bobIn, aliceOut, fmt.Sprintf("bob %d", i))
				exchange(t, aliceOut, bobIn, fmt.Sprintf("alice %d", i))
			}

			// Swap: each session moves to the other driver through its
			// pickle, which comes back byte for byte.
			alicePickle, err := aliceOut.Pickle(pickleKey)
			require.NoError(t, err)
			bobPickle, err := bobIn.Pickle(pickleKey)
			require.NoError(t, err)
			aliceOut, err = p.to.sessionFromPickled(bytes.Clone(alicePickle), pickleKey)
			require.NoError(t, err)
			bobIn, err = p.from.sessionFromPickled(bytes.Clone(bobPickle), pickleKey)
			require.NoError(t, err)
			again, err := aliceOut.Pickle(pickleKey)
			require.NoError(t, err)
			assert.Equal(t, alicePickle, again)
			again, err = bobIn.Pickle(pickleKey)
			require.NoError(t, err)
			assert.Equal(t, bobPickle, again)
			assert.Equal(t, aliceOut.ID(), bobIn.ID())

			// Out-of-order messages across the swap.
			var cts []string
			for i := range 8 {
				_, ct, err := aliceOut.Encrypt(fmt.Appendf(nil, "late %d", i))
				require.NoError(t, err)
				cts = append(cts, string(ct))
			}
			for _, i := range rand.Perm(len(cts)) {
				pt, err := bobIn.Decrypt(cts[i], id.OlmMsgTypeMsg)
				require.NoError(t, err)
				assert.Equal(t, fmt.Sprintf("late %d", i), string(pt))
			}
			exchange(t, bobIn, aliceOut, "done")
		})
	}
}

// Megolm sessions of one driver read by the other, with pickles and exports
// crossing.
func TestCrossMegolm(t *testing.T) {
	for _, p := range crossPairs() {
		t.Run(p.String(), func(t *testing.T) {
			out, err := p.from.newOutbound()
			require.NoError(t, err)
			for range 2 {
				_, err := out.Encrypt([]byte("before the key is shared"))
				require.NoError(t, err)
			}
			in, err := p.to.newInbound([]byte(out.Key()))
			require.NoError(t, err)
			assert.Equal(t, out.ID(), in.ID())
			assert.EqualValues(t, 2, in.FirstKnownIndex())
			assert.True(t, in.IsVerified())

			var cts [][]byte
			for i := range 6 {
				ct, err := out.Encrypt(fmt.Appendf(nil, "group %d", i))
				require.NoError(t, err)
				cts = append(cts, ct)
			}
			for _, i := range []int{0, 5, 2, 1, 4, 3} {
				pt, index, err := in.Decrypt(cts[i])
				require.NoError(t, err)
				assert.EqualValues(t, i+2, index)
				assert.Equal(t, fmt.Sprintf("group %d", i), string(pt))
			}

			// Outbound pickle: same bytes, same key, and it goes on.
			outPickle, err := out.Pickle(pickleKey)
			require.NoError(t, err)
			out2, err := p.to.outboundFromPickled(bytes.Clone(outPickle), pickleKey)
			require.NoError(t, err)
			again, err := out2.Pickle(pickleKey)
			require.NoError(t, err)
			assert.Equal(t, outPickle, again)
			assert.Equal(t, out.Key(), out2.Key())
			assert.Equal(t, out.MessageIndex(), out2.MessageIndex())
			// Both sign with the same key and ratchet: same messages.
			c1, err := out.Encrypt([]byte("twin"))
			require.NoError(t, err)
			c2, err := out2.Encrypt([]byte("twin"))
			require.NoError(t, err)
			assert.Equal(t, c1, c2)

			// Inbound pickle crosses back to the first driver.
			inPickle, err := in.Pickle(pickleKey)
			require.NoError(t, err)
			in2, err := p.from.inboundFromPickled(bytes.Clone(inPickle), pickleKey)
			require.NoError(t, err)
			again, err = in2.Pickle(pickleKey)
			require.NoError(t, err)
			assert.Equal(t, inPickle, again)
			pt, index, err := in2.Decrypt(c1)
			require.NoError(t, err)
			assert.EqualValues(t, 8, index)
			assert.Equal(t, "twin", string(pt))
			assert.Equal(t, in.FirstKnownIndex(), in2.FirstKnownIndex())
			assert.Equal(t, in.IsVerified(), in2.IsVerified())

			// Exports cross too, and are the same text.
			exported, err := in.Export(4)
			require.NoError(t, err)
			exported2, err := in2.Export(4)
			require.NoError(t, err)
			assert.Equal(t, exported, exported2)
			imported, err := p.from.importInbound(exported)
			require.NoError(t, err)
			assert.EqualValues(t, 4, imported.FirstKnownIndex())
			pt, index, err = imported.Decrypt(cts[3])
			require.NoError(t, err)
			assert.EqualValues(t, 5, index)
			assert.Equal(t, "group 3", string(pt))
			_, _, err = imported.Decrypt(cts[0])
			assert.ErrorIs(t, err, olm.ErrUnknownMessageIndex)
		})
	}
}

// PK signing from the same seed gives the same key and signatures.
func TestCrossPKSigning(t *testing.T) {
	seed := []byte("Quohboh3ka3ooghequier9lee8Bahwoh")
	ours, err := souverainDriver.pkSigningFromSeed(seed)
	require.NoError(t, err)
	for _, o := range otherDrivers {
		t.Run(o.name, func(t *testing.T) {
			theirs, err := o.pkSigningFromSeed(seed)
			require.NoError(t, err)
			assert.Equal(t, theirs.PublicKey(), ours.PublicKey())
			for _, msg := range []string{"message", "x", `{"a":1}`} {
				a, err := ours.Sign([]byte(msg))
				require.NoError(t, err)
				b, err := theirs.Sign([]byte(msg))
				require.NoError(t, err)
				assert.Equal(t, b, a)
			}
			obj := map[string]any{"user_id": "@a:b", "keys": map[string]string{"ed25519:x": "y"}, "unsigned": map[string]int{"age": 1}, "signatures": map[string]any{}}
			a, err := ours.SignJSON(obj)
			require.NoError(t, err)
			b, err := theirs.SignJSON(obj)
			require.NoError(t, err)
			assert.Equal(t, b, a)
		})
	}
}

// A session pickled by libolm (mautrix-go's own test vector in
// crypto/olm/session_test.go) opens and pickles back to the same bytes with
// every driver.
func TestLibolmSessionPickleVector(t *testing.T) {
	pickled := []byte("icDKYm0b4aO23WgUuOxdpPoxC0UlEOYPVeuduNH3IkpFsmnWx5KuEOpxGiZw5IuB/sSn2RZUCTiJ90IvgC7AClkYGHep9O8lpiqQX73XVKD9okZDCAkBc83eEq0DKYC7HBkGRAU/4T6QPIBBY3UK4QZwULLE/fLsi3j4YZBehMtnlsqgHK0q1bvX4cRznZItVKR4ro0O9EAk6LLxJtSnRu5elSUk7YXT")
	key := []byte("secret_key")
	for _, d := range append([]driver{souverainDriver}, otherDrivers...) {
		t.Run(d.name, func(t *testing.T) {
			s, err := d.sessionFromPickled(bytes.Clone(pickled), key)
			require.NoError(t, err)
			again, err := s.Pickle(key)
			require.NoError(t, err)
			assert.Equal(t, pickled, again)
		})
	}
}
