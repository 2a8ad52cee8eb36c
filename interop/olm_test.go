package interop_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/souverain/e2ee/interop/libolm"
	"github.com/souverain/e2ee/olm"
)

// TestPreKeySessions opens sessions between libolm and souverain in both
// roles, with one-time and fallback keys: the responder decrypts the
// pre-key messages (out of order), both ends agree on the session ID, and
// the conversation goes on both ways.
func TestPreKeySessions(t *testing.T) {
	for _, aliceImpl := range impls {
		for _, keyKind := range []string{"one-time", "fallback"} {
			bobImpl := other(aliceImpl)
			t.Run(fmt.Sprintf("%s→%s/%s", aliceImpl, bobImpl, keyKind), func(t *testing.T) {
				aAcc, bAcc := newAccount(t, aliceImpl), newAccount(t, bobImpl)
				var key olm.Curve25519PublicKey
				if keyKind == "fallback" {
					key = bAcc.fallbackKey(t)
				} else {
					key = bAcc.oneTimeKey(t)
				}
				alice := aAcc.outbound(t, bAcc.curve(t), key)
				if alice.hasReceived() {
					t.Error("new outbound session has received a message")
				}
				var pre []wireMsg
				for i := range 3 {
					m := alice.encrypt(t, []byte(fmt.Sprint("pre-key ", i)))
					if m.typ != int(olm.MessageTypePreKey) {
						t.Fatalf("message %d has type %d, want pre-key", i, m.typ)
					}
					pre = append(pre, m)
				}
				parsed, err := toOurs(pre[0])
				if err != nil {
					t.Fatalf("parse pre-key message: %v", err)
				}
				if !bytes.Equal(parsed.Bytes(), mustDecode(t, pre[0].body)) {
					t.Error("parsed pre-key message does not re-encode to the same bytes")
				}

				// The wrong sender identity is refused.
				if _, _, err := bAcc.inbound(t, bAcc.curve(t), pre[1]); err == nil {
					t.Error("inbound session accepted a pre-key message from the wrong identity key")
				}
				bob, pt, err := bAcc.inbound(t, aAcc.curve(t), pre[1])
				if err != nil || string(pt) != "pre-key 1" {
					t.Fatalf("inbound = %q, %v", pt, err)
				}
				if got, want := bob.id(t), alice.id(t); got != want {
					t.Errorf("session IDs differ: %s has %s, %s has %s", bobImpl, got, aliceImpl, want)
				}
				if want := parsed.(*olm.PreKeyMessage).SessionID(); alice.id(t) != want {
					t.Errorf("PreKeyMessage.SessionID = %s, session has %s", want, alice.id(t))
				}
				for i, m := range pre {
					if !bob.matches(t, m) {
						t.Errorf("bob does not match pre-key message %d", i)
					}
				}
				for _, i := range []int{2, 0} {
					pt, err := bob.decrypt(pre[i])
					if err != nil || string(pt) != fmt.Sprint("pre-key ", i) {
						t.Fatalf("decrypt pre-key message %d = %q, %v", i, pt, err)
					}
				}
				if _, err := bob.decrypt(pre[0]); err == nil {
					t.Error("replayed pre-key message decrypted")
				}

				// A one-time key is used once; a fallback key stays. libolm
				// opens a second session from the same pre-key message on a
				// fallback key; souverain refuses the replay (SECURITY 18).
				_, _, err = bAcc.inbound(t, aAcc.curve(t), pre[0])
				switch {
				case keyKind == "one-time" && err == nil:
					t.Error("one-time key was not removed: a second inbound session succeeded")
				case keyKind == "fallback" && bobImpl == implOurs && !errors.Is(err, olm.ErrPreKeyReplay):
					t.Errorf("replayed pre-key message on the fallback key: %v, want ErrPreKeyReplay", err)
				case keyKind == "fallback" && bobImpl != implOurs && err != nil:
					t.Errorf("second inbound session on libolm's fallback key: %v", err)
				}

				// An unrelated session does not match.
				unrelated := aAcc.outbound(t, bAcc.curve(t), bAcc.oneTimeKey(t))
				if bob.matches(t, unrelated.encrypt(t, []byte("x"))) {
					t.Error("bob matches a pre-key message of another session")
				}

				tampered := bob.encrypt(t, []byte("secret"))
				raw := mustDecode(t, tampered.body)
				raw[len(raw)-1] ^= 0x80
				if _, err := alice.decrypt(wireMsg{tampered.typ, libolm.EncodeBase64(raw)}); err == nil {
					t.Error("tampered message decrypted")
				}
				if pt, err := alice.decrypt(tampered); err != nil || string(pt) != "secret" {
					t.Fatalf("decrypt after a tampered copy = %q, %v", pt, err)
				}
				if !alice.hasReceived() {
					t.Error("alice has not received a message after decrypting")
				}
				if m := alice.encrypt(t, []byte("normal")); m.typ != int(olm.MessageTypeNormal) {
					t.Errorf("after a reply alice sends type %d, want normal", m.typ)
				} else if pt, err := bob.decrypt(m); err != nil || string(pt) != "normal" {
					t.Fatalf("decrypt = %q, %v", pt, err)
				}
				for i := range 10 {
					exchange(t, alice, bob, fmt.Sprint("a", i))
					exchange(t, bob, alice, fmt.Sprint("b", i))
					if i%3 == 0 {
						exchange(t, bob, alice, fmt.Sprint("b'", i))
					}
				}
			})
		}
	}
}

func mustDecode(t *testing.T, s string) []byte {
	t.Helper()
	b, err := libolm.DecodeBase64(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// pickleKeys are pickle keys of various lengths, libolm takes any.
var pickleKeys = func() [][]byte {
	var keys [][]byte
	for _, n := range []int{0, 1, 7, 16, 31, 32, 33, 64, 200} {
		k := make([]byte, n)
		for i := range k {
			k[i] = byte(n + 3*i)
		}
		keys = append(keys, k)
	}
	return keys
}()

// TestAccountPickles moves accounts between the implementations through
// libolm's pickle format, with keys of many lengths: the keys survive, the
// pickle is byte-identical after a round trip, and the moved account still
// opens sessions from pre-key messages.
func TestAccountPickles(t *testing.T) {
	for _, from := range impls {
		to := other(from)
		for _, key := range pickleKeys {
			t.Run(fmt.Sprintf("%s→%s/keylen=%d", from, to, len(key)), func(t *testing.T) {
				acc := newAccount(t, from)
				peer := newAccount(t, implLibolm)
				// Published one-time keys, used later; an unpublished
				// one; a published and an unpublished fallback key.
				otk := acc.oneTimeKey(t)
				oldFallback := acc.fallbackKey(t)
				switch a := acc.(type) {
				case libAccount:
					if err := a.a.GenerateOneTimeKeysRand(3); err != nil {
						t.Fatal(err)
					}
					if err := a.a.GenerateFallbackKeyRand(); err != nil {
						t.Fatal(err)
					}
				case ourAccount:
					if err := a.a.GenerateOneTimeKeys(3); err != nil {
						t.Fatal(err)
					}
					if err := a.a.GenerateFallbackKey(); err != nil {
						t.Fatal(err)
					}
				}
				// A pre-key message made before the move.
				early := peer.outbound(t, acc.curve(t), otk)
				before := early.encrypt(t, []byte("before"))

				pk := acc.pickle(t, key)
				moved := unpickleAccount(t, to, pk, key)
				if got := moved.pickle(t, key); got != pk {
					t.Errorf("pickle changed over %s→%s→%s:\n got %s\nwant %s", from, to, from, got, pk)
				}
				if moved.curve(t) != acc.curve(t) || moved.ed(t) != acc.ed(t) {
					t.Error("identity keys changed")
				}
				msg := []byte("sign me")
				if moved.sign(t, msg) != acc.sign(t, msg) {
					t.Error("signatures differ after the move")
				}
				if got, want := unpublished(t, moved), unpublished(t, acc); !maps.Equal(got, want) {
					t.Errorf("unpublished keys = %v, want %v", got, want)
				}

				// The moved account opens sessions on the old one-time
				// key and on the published, previous fallback key.
				bob, pt, err := moved.inbound(t, peer.curve(t), before)
				if err != nil || string(pt) != "before" {
					t.Fatalf("inbound on a key made before the move = %q, %v", pt, err)
				}
				alice := peer.outbound(t, moved.curve(t), oldFallback)
				if _, pt, err := moved.inbound(t, peer.curve(t), alice.encrypt(t, []byte("fb"))); err != nil || string(pt) != "fb" {
					t.Fatalf("inbound on the previous fallback key = %q, %v", pt, err)
				}
				exchange(t, bob, early, "reply")
				exchange(t, early, bob, "again")
			})
		}
	}
	t.Run("wrong key", func(t *testing.T) {
		lib := newAccount(t, implLibolm).pickle(t, []byte("right"))
		if _, err := olm.UnpickleLibolmAccount(lib, []byte("wrong")); !errors.Is(err, olm.ErrBadPickleKey) {
			t.Errorf("olm.UnpickleLibolmAccount(wrong key) error = %v, want ErrBadPickleKey", err)
		}
		ours := newAccount(t, implOurs).pickle(t, []byte("right"))
		if _, err := libolm.UnpickleAccount(ours, []byte("wrong")); !errors.Is(err, libolm.ErrBadAccountKey) {
			t.Errorf("libolm.UnpickleAccount(wrong key) error = %v, want BAD_ACCOUNT_KEY", err)
		}
	})
}

// unpublished returns an account's unpublished one-time and fallback keys
// as "otk:<id>" or "fallback:<id>" → key.
func unpublished(t *testing.T, a account) map[string]string {
	t.Helper()
	out := map[string]string{}
	switch a := a.(type) {
	case libAccount:
		otks, err := a.a.OneTimeKeys()
		if err != nil {
			t.Fatal(err)
		}
		for id, k := range otks {
			out["otk:"+id] = k
		}
		fb, err := a.a.UnpublishedFallbackKey()
		if err != nil {
			t.Fatal(err)
		}
		for id, k := range fb {
			out["fallback:"+id] = k
		}
	case ourAccount:
		for id, k := range a.a.OneTimeKeys() {
			out["otk:"+id.String()] = k.String()
		}
		if id, k, ok := a.a.FallbackKey(); ok {
			out["fallback:"+id.String()] = k.String()
		}
	}
	return out
}

// TestSessionPickles moves both ends of a libolm↔souverain session between
// the implementations through libolm's pickle format, with pickle keys of
// many lengths, and goes on talking after each move in both directions.
func TestSessionPickles(t *testing.T) {
	for _, aliceImpl := range impls {
		for _, key := range pickleKeys {
			t.Run(fmt.Sprintf("alice=%s/keylen=%d", aliceImpl, len(key)), func(t *testing.T) {
				alice, bob := establish(t, aliceImpl, other(aliceImpl))
				// Leave skipped keys and several receiver chains in the
				// state that moves.
				for i := range 6 {
					exchange(t, alice, bob, fmt.Sprint("a", i))
					exchange(t, bob, alice, fmt.Sprint("b", i))
				}
				// Four messages bob skips, on one chain of alice's: each
				// round below adds one chain, so it stays among the
				// MaxReceiverChains (5) that bob keeps.
				var late []wireMsg
				for i := range 4 {
					late = append(late, alice.encrypt(t, []byte(fmt.Sprint("late ", i))))
				}
				exchange(t, alice, bob, "after the late ones")
				move := func(s session) session {
					t.Helper()
					pk := s.pickle(t, key)
					moved := unpickleSession(t, other(s.impl()), pk, key)
					if got := moved.pickle(t, key); got != pk {
						t.Errorf("session pickle changed over %s→%s:\n got %s\nwant %s", s.impl(), moved.impl(), got, pk)
					}
					if moved.id(t) != s.id(t) || moved.hasReceived() != s.hasReceived() {
						t.Error("session ID or received flag changed")
					}
					return moved
				}
				for round := range 4 {
					if round%2 == 0 {
						alice = move(alice)
					} else {
						bob = move(bob)
					}
					exchange(t, alice, bob, fmt.Sprint("after move a", round))
					exchange(t, bob, alice, fmt.Sprint("after move b", round))
					exchange(t, bob, alice, fmt.Sprint("after move b'", round))
					pt, err := bob.decrypt(late[round])
					if err != nil || string(pt) != fmt.Sprint("late ", round) {
						t.Fatalf("late message %d after the move = %q, %v", round, pt, err)
					}
				}
				if _, err := bob.decrypt(late[0]); err == nil {
					t.Error("a skipped key was used twice across pickles")
				}
			})
		}
	}
	t.Run("wrong key", func(t *testing.T) {
		alice, bob := establish(t, implLibolm, implOurs)
		if _, err := olm.UnpickleLibolmSession(alice.pickle(t, []byte("right")), []byte("wrong")); !errors.Is(err, olm.ErrBadPickleKey) {
			t.Errorf("olm.UnpickleLibolmSession(wrong key) error = %v, want ErrBadPickleKey", err)
		}
		if _, err := libolm.UnpickleSession(bob.pickle(t, []byte("right")), []byte("wrong")); !errors.Is(err, libolm.ErrBadAccountKey) {
			t.Errorf("libolm.UnpickleSession(wrong key) error = %v, want BAD_ACCOUNT_KEY", err)
		}
	})
}

// TestPublishedKeyAfterImport takes a libolm account whose newest one-time
// key is already published, moves it to souverain and generates keys there:
// the new keys must not reuse key IDs, which libolm tracks as the last ID
// it issued, and a pre-key message made with the published key must still
// open a session.
func TestPublishedKeyAfterImport(t *testing.T) {
	tests := []struct {
		name string
		// setup prepares the libolm account and returns the pre-key
		// message to decrypt after the import, if any.
		setup func(t *testing.T, bob *libolm.Account, alice account) *wireMsg
	}{
		{"newest one-time key published", func(t *testing.T, bob *libolm.Account, alice account) *wireMsg {
			if err := bob.GenerateOneTimeKeysRand(4); err != nil {
				t.Fatal(err)
			}
			keys, _ := bob.OneTimeKeys()
			newest := keys[libolm.KeyIDString(4)]
			bob.MarkKeysAsPublished()
			m := alice.outbound(t, libCurve(t, bob), parseCurve(t, newest)).encrypt(t, []byte("to the newest key"))
			return &m
		}},
		{"all one-time keys used", func(t *testing.T, bob *libolm.Account, alice account) *wireMsg {
			if err := bob.GenerateOneTimeKeysRand(3); err != nil {
				t.Fatal(err)
			}
			keys, _ := bob.OneTimeKeys()
			bob.MarkKeysAsPublished()
			lb := libAccount{bob}
			for _, k := range keys {
				m := alice.outbound(t, libCurve(t, bob), parseCurve(t, k)).encrypt(t, []byte("x"))
				if _, _, err := lb.inbound(t, alice.curve(t), m); err != nil {
					t.Fatal(err)
				}
			}
			if keys, _ := bob.OneTimeKeys(); len(keys) != 0 {
				t.Fatalf("one-time keys left: %v", keys)
			}
			return nil
		}},
		{"newest key is a published fallback key", func(t *testing.T, bob *libolm.Account, alice account) *wireMsg {
			if err := bob.GenerateOneTimeKeysRand(2); err != nil {
				t.Fatal(err)
			}
			if err := bob.GenerateFallbackKeyRand(); err != nil {
				t.Fatal(err)
			}
			fb, _ := bob.UnpublishedFallbackKey()
			bob.MarkKeysAsPublished()
			m := alice.outbound(t, libCurve(t, bob), parseCurve(t, fb[libolm.KeyIDString(3)])).encrypt(t, []byte("to the fallback key"))
			return &m
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bob, err := libolm.NewAccountRand()
			if err != nil {
				t.Fatal(err)
			}
			defer bob.Free()
			alice := newAccount(t, implLibolm)
			pending := tt.setup(t, bob, alice)

			key := []byte("pickle key")
			pk, err := bob.Pickle(key)
			if err != nil {
				t.Fatal(err)
			}
			// What libolm itself would issue next.
			ref, err := libolm.UnpickleAccount(pk, key)
			if err != nil {
				t.Fatal(err)
			}
			defer ref.Free()
			if err := ref.GenerateOneTimeKeysRand(3); err != nil {
				t.Fatal(err)
			}
			refKeys, _ := ref.OneTimeKeys()
			wantIDs := sortedIDs(t, slicesKeys(refKeys))

			ours, err := olm.UnpickleLibolmAccount(pk, key)
			if err != nil {
				t.Fatal(err)
			}
			if got := ours.OneTimeKeys(); len(got) != 0 {
				t.Errorf("imported account has unpublished keys %v", got)
			}
			if err := ours.GenerateOneTimeKeys(3); err != nil {
				t.Fatal(err)
			}
			var gotIDs []string
			for id := range ours.OneTimeKeys() {
				gotIDs = append(gotIDs, id.String())
			}
			gotIDs = sortedIDs(t, gotIDs)
			if fmt.Sprint(gotIDs) != fmt.Sprint(wantIDs) {
				t.Errorf("new key IDs = %v, want %v as libolm issues them", gotIDs, wantIDs)
			}

			if pending != nil {
				_, pt, err := ourAccount{ours}.inbound(t, alice.curve(t), *pending)
				if err != nil {
					t.Fatalf("pre-key message to the published key: %v", err)
				}
				if !strings.HasPrefix(string(pt), "to the ") {
					t.Errorf("plaintext %q", pt)
				}
			}

			// Back to libolm: it goes on from our last ID too.
			back := unpickleAccount(t, implLibolm, ourAccount{ours}.pickle(t, key), key).(libAccount)
			back.a.MarkKeysAsPublished()
			if err := back.a.GenerateOneTimeKeysRand(1); err != nil {
				t.Fatal(err)
			}
			last, _ := libolm.ParseKeyID(wantIDs[len(wantIDs)-1])
			keys, _ := back.a.OneTimeKeys()
			if _, ok := keys[libolm.KeyIDString(last+1)]; !ok || len(keys) != 1 {
				t.Errorf("libolm after the round trip issued %v, want ID %s", keys, libolm.KeyIDString(last+1))
			}
		})
	}
}

func libCurve(t *testing.T, a *libolm.Account) olm.Curve25519PublicKey {
	t.Helper()
	return libAccount{a}.curve(t)
}

func slicesKeys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// sortedIDs sorts key ID strings by their numeric value.
func sortedIDs(t *testing.T, ids []string) []string {
	t.Helper()
	n := make([]uint32, len(ids))
	for i, s := range ids {
		v, err := libolm.ParseKeyID(s)
		if err != nil {
			t.Fatal(err)
		}
		n[i] = v
	}
	out := make([]string, 0, len(ids))
	for len(n) > 0 {
		mi := 0
		for i := range n {
			if n[i] < n[mi] {
				mi = i
			}
		}
		out = append(out, libolm.KeyIDString(n[mi]))
		n = append(n[:mi], n[mi+1:]...)
	}
	return out
}

// TestSignatures checks that an account moved from libolm signs exactly as
// libolm does, and that each implementation verifies the other's
// signatures.
func TestSignatures(t *testing.T) {
	lib, err := libolm.NewAccountRand()
	if err != nil {
		t.Fatal(err)
	}
	defer lib.Free()
	pk, err := lib.Pickle(nil)
	if err != nil {
		t.Fatal(err)
	}
	ours, err := olm.UnpickleLibolmAccount(pk, nil)
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := olm.NewAccount()
	if err != nil {
		t.Fatal(err)
	}
	libKeys, err := lib.IdentityKeys()
	if err != nil {
		t.Fatal(err)
	}
	if ours.Ed25519Key().String() != libKeys.Ed25519 {
		t.Fatalf("Ed25519 key %s, libolm has %s", ours.Ed25519Key(), libKeys.Ed25519)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 300 {
		msg := make([]byte, rng.IntN(300))
		for j := range msg {
			msg[j] = byte(rng.Uint32())
		}
		if i == 1 {
			msg = []byte(`{"algorithms":["m.olm.v1.curve25519-aes-sha2"],"user_id":"@ü:example.org"}`)
		}
		libSig, err := lib.Sign(msg)
		if err != nil {
			t.Fatal(err)
		}
		ourSig := ours.Sign(msg)
		if ourSig.String() != libSig {
			t.Fatalf("message %d (%d bytes): signature %s, libolm signs %s", i, len(msg), ourSig, libSig)
		}
		parsed, err := olm.ParseEd25519Signature(libSig)
		if err != nil {
			t.Fatal(err)
		}
		if err := ours.Ed25519Key().Verify(msg, parsed); err != nil {
			t.Fatalf("message %d: our Verify of libolm's signature: %v", i, err)
		}
		freshSig := fresh.Sign(msg)
		if err := libolm.Ed25519Verify(fresh.Ed25519Key().String(), msg, freshSig.String()); err != nil {
			t.Fatalf("message %d: libolm Verify of a fresh account's signature: %v", i, err)
		}
		// Both refuse a signature over another message or by another key.
		wrong := append(bytes.Clone(msg), 0)
		if err := libolm.Ed25519Verify(fresh.Ed25519Key().String(), wrong, freshSig.String()); !errors.Is(err, libolm.ErrBadMessageMAC) {
			t.Fatalf("message %d: libolm verified a signature over another message: %v", i, err)
		}
		if err := fresh.Ed25519Key().Verify(msg, parsed); !errors.Is(err, olm.ErrBadSignature) {
			t.Fatalf("message %d: our Verify accepted another key's signature: %v", i, err)
		}
	}
}

// canonicalJSON encodes v as Matrix canonical JSON for the values device
// keys hold (objects, arrays, strings): sorted keys, no insignificant
// whitespace, UTF-8 unescaped. It is written here, apart from the library's
// encoder, so the test checks the library rather than itself.
func canonicalJSON(t *testing.T, v any) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil { // maps are encoded with sorted keys
		t.Fatal(err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// TestDeviceKeys checks that the device keys JSON verifies with libolm's
// olm_ed25519_verify over its canonical form without signatures and
// unsigned.
func TestDeviceKeys(t *testing.T) {
	tests := []struct{ userID, deviceID string }{
		{"@alice:example.org", "JLAFKJWSCS"},
		{"@ünïcødé:例え.jp", "DEVICE<&>\"quote"},
	}
	for _, imported := range []bool{false, true} {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("imported=%v/%s", imported, tt.userID), func(t *testing.T) {
				a, err := olm.NewAccount()
				if err != nil {
					t.Fatal(err)
				}
				if imported {
					a = ourAccountFromLibolm(t)
				}
				raw, err := a.DeviceKeys(tt.userID, tt.deviceID)
				if err != nil {
					t.Fatal(err)
				}
				var obj map[string]any
				if err := json.Unmarshal(raw, &obj); err != nil {
					t.Fatalf("device keys are not JSON: %v\n%s", err, raw)
				}
				sig, ok := lookup(obj, "signatures", tt.userID, "ed25519:"+tt.deviceID).(string)
				if !ok {
					t.Fatalf("no signature under %s / ed25519:%s in %s", tt.userID, tt.deviceID, raw)
				}
				edKey, _ := lookup(obj, "keys", "ed25519:"+tt.deviceID).(string)
				curveKey, _ := lookup(obj, "keys", "curve25519:"+tt.deviceID).(string)
				if edKey != a.Ed25519Key().String() || curveKey != a.Curve25519Key().String() {
					t.Errorf("keys in JSON = %s, %s; account has %s, %s", edKey, curveKey, a.Ed25519Key(), a.Curve25519Key())
				}
				if obj["user_id"] != tt.userID || obj["device_id"] != tt.deviceID {
					t.Errorf("user_id, device_id = %v, %v", obj["user_id"], obj["device_id"])
				}
				algs := fmt.Sprint(obj["algorithms"])
				if !strings.Contains(algs, "m.olm.v1.curve25519-aes-sha2") || !strings.Contains(algs, "m.megolm.v1.aes-sha2") {
					t.Errorf("algorithms = %s", algs)
				}
				delete(obj, "signatures")
				delete(obj, "unsigned")
				canonical := canonicalJSON(t, obj)
				if err := libolm.Ed25519Verify(edKey, canonical, sig); err != nil {
					t.Fatalf("libolm does not verify the device keys: %v\ncanonical: %s", err, canonical)
				}
				// The check can fail: any change breaks it.
				obj["device_id"] = tt.deviceID + "X"
				if err := libolm.Ed25519Verify(edKey, canonicalJSON(t, obj), sig); err == nil {
					t.Error("libolm verified changed device keys")
				}
			})
		}
	}
}

// ourAccountFromLibolm returns a libolm account imported into souverain.
func ourAccountFromLibolm(t *testing.T) *olm.Account {
	t.Helper()
	lib := newAccount(t, implLibolm)
	pk := lib.pickle(t, []byte("k"))
	a, err := olm.UnpickleLibolmAccount(pk, []byte("k"))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// lookup follows keys through nested JSON objects.
func lookup(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}
