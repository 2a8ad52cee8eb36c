package olm_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/souverain/e2ee/internal/canonicaljson"
	"github.com/souverain/e2ee/olm"
)

func TestAccountDeterministic(t *testing.T) {
	random := bytes.Repeat([]byte{0x42}, 64)
	a, err := olm.NewAccountFromRandom(random)
	if err != nil {
		t.Fatal(err)
	}
	// The Ed25519 key is the one crypto/ed25519 derives from the first 32
	// bytes, as libolm uses them.
	want := ed25519.NewKeyFromSeed(random[:32]).Public().(ed25519.PublicKey)
	if got := a.Ed25519Key(); !bytes.Equal(got[:], want) {
		t.Fatalf("ed25519 key %x, want %x", got, want)
	}
	sig := a.Sign([]byte("message"))
	if !ed25519.Verify(want, []byte("message"), sig[:]) {
		t.Fatal("signature does not verify with crypto/ed25519")
	}
	if err := a.Ed25519Key().Verify([]byte("message"), sig); err != nil {
		t.Fatal(err)
	}
	if err := a.Ed25519Key().Verify([]byte("other"), sig); !errors.Is(err, olm.ErrBadSignature) {
		t.Fatalf("wrong message: %v", err)
	}
}

func TestOneTimeKeys(t *testing.T) {
	a := newAccount(t)
	if a.MaxNumberOfOneTimeKeys() != 50 {
		t.Fatalf("MaxNumberOfOneTimeKeys = %d", a.MaxNumberOfOneTimeKeys())
	}
	if err := a.GenerateOneTimeKeys(3); err != nil {
		t.Fatal(err)
	}
	keys := a.OneTimeKeys()
	if len(keys) != 3 {
		t.Fatalf("%d keys", len(keys))
	}
	for _, id := range []olm.KeyID{1, 2, 3} {
		if _, ok := keys[id]; !ok {
			t.Fatalf("key ID %d missing", id)
		}
	}
	if olm.KeyID(1).String() != "AAAAAQ" {
		t.Fatalf("KeyID(1) = %s", olm.KeyID(1))
	}
	if id, err := olm.ParseKeyID("AAAAAQ"); err != nil || id != 1 {
		t.Fatalf("ParseKeyID = %d, %v", id, err)
	}
	a.MarkKeysAsPublished()
	if len(a.OneTimeKeys()) != 0 {
		t.Fatal("published keys still listed")
	}
	a.GenerateOneTimeKeys(2)
	keys = a.OneTimeKeys()
	if _, ok := keys[4]; !ok || len(keys) != 2 {
		t.Fatalf("new keys %v", keys)
	}
	for _, n := range []int{-1, olm.MaxOneTimeKeys + 1} {
		if err := a.GenerateOneTimeKeys(n); err == nil {
			t.Fatalf("GenerateOneTimeKeys(%d) succeeded", n)
		}
	}
}

func TestOneTimeKeyCap(t *testing.T) {
	a := newAccount(t)
	if err := a.GenerateOneTimeKeys(olm.MaxOneTimeKeys); err != nil {
		t.Fatal(err)
	}
	a.GenerateOneTimeKeys(1)
	if n := a.NumOneTimeKeys(); n != olm.MaxOneTimeKeys {
		t.Fatalf("%d keys kept, want %d", n, olm.MaxOneTimeKeys)
	}
	keys := a.OneTimeKeys()
	if _, ok := keys[1]; ok {
		t.Fatal("oldest key was not dropped")
	}
	if _, ok := keys[olm.MaxOneTimeKeys+1]; !ok {
		t.Fatal("newest key missing")
	}
	// The cap holds through our pickle, and libolm pickles keep the 100
	// newest.
	p, err := a.Pickle(testKey)
	if err != nil {
		t.Fatal(err)
	}
	b, err := olm.UnpickleAccount(p, testKey)
	if err != nil {
		t.Fatal(err)
	}
	if n := b.NumOneTimeKeys(); n != olm.MaxOneTimeKeys {
		t.Fatalf("%d keys after unpickle", n)
	}
	lp, _ := a.PickleLibolm([]byte("k"))
	c, err := olm.UnpickleLibolmAccount(lp, []byte("k"))
	if err != nil {
		t.Fatal(err)
	}
	ck := c.OneTimeKeys()
	if len(ck) != 100 {
		t.Fatalf("%d keys in libolm pickle", len(ck))
	}
	if _, ok := ck[olm.MaxOneTimeKeys+1]; !ok {
		t.Fatal("libolm pickle lost the newest key")
	}
}

func TestOneTimeKeyUsedOnceAndOnlyOnSuccess(t *testing.T) {
	alice, bob := newAccount(t), newAccount(t)
	bob.GenerateOneTimeKeys(1)
	var otk olm.Curve25519PublicKey
	for _, k := range bob.OneTimeKeys() {
		otk = k
	}
	s, _ := alice.NewOutboundSession(bob.Curve25519Key(), otk)
	m, _ := s.Encrypt([]byte("hi"))
	pre := m.(*olm.PreKeyMessage)

	// A forged pre-key message naming the real key burns nothing.
	raw := bytes.Clone(pre.Bytes())
	raw[len(raw)-1] ^= 1 // last MAC byte of the inner message
	forged, err := olm.ParsePreKeyMessage(raw)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := bob.NewInboundSession(alice.Curve25519Key(), forged); !errors.Is(err, olm.ErrBadMessageMAC) {
		t.Fatalf("forged: %v, want ErrBadMessageMAC", err)
	}
	if len(bob.OneTimeKeys()) != 1 {
		t.Fatal("forged message burned the one-time key")
	}
	// Wrong sender identity.
	if _, _, err := bob.NewInboundSession(bob.Curve25519Key(), pre); !errors.Is(err, olm.ErrSessionMismatch) {
		t.Fatalf("wrong identity: %v", err)
	}
	// Version 2 expected, version 1 sent.
	if _, _, err := bob.NewInboundSessionWithConfig(olm.SessionConfigV2(), alice.Curve25519Key(), pre); !errors.Is(err, olm.ErrSessionConfig) {
		t.Fatalf("config mismatch: %v", err)
	}
	if _, _, err := bob.NewInboundSession(alice.Curve25519Key(), pre); err != nil {
		t.Fatal(err)
	}
	if len(bob.OneTimeKeys()) != 0 {
		t.Fatal("one-time key not removed")
	}
	// A replay finds no key.
	if _, _, err := bob.NewInboundSession(alice.Curve25519Key(), pre); !errors.Is(err, olm.ErrUnknownOneTimeKey) {
		t.Fatalf("replay: %v, want ErrUnknownOneTimeKey", err)
	}
}

func TestFallbackKeys(t *testing.T) {
	alice, bob := newAccount(t), newAccount(t)
	if _, _, ok := bob.FallbackKey(); ok {
		t.Fatal("fallback key before generation")
	}
	bob.GenerateFallbackKey()
	id1, fb1, ok := bob.FallbackKey()
	if !ok || id1 != 1 {
		t.Fatalf("fallback key %d %v", id1, ok)
	}
	bob.MarkKeysAsPublished()
	if _, _, ok := bob.FallbackKey(); ok {
		t.Fatal("published fallback key still listed")
	}
	bob.GenerateFallbackKey()
	_, fb2, ok := bob.FallbackKey()
	if !ok || fb2 == fb1 {
		t.Fatal("second fallback key")
	}
	// Both fallback keys work, and are not used up.
	for _, fb := range []olm.Curve25519PublicKey{fb1, fb2, fb1} {
		s, _ := alice.NewOutboundSession(bob.Curve25519Key(), fb)
		m, _ := s.Encrypt([]byte("hi"))
		if _, pt, err := bob.NewInboundSession(alice.Curve25519Key(), m.(*olm.PreKeyMessage)); err != nil || string(pt) != "hi" {
			t.Fatalf("fallback session: %q %v", pt, err)
		}
	}
	bob.ForgetOldFallbackKey()
	s, _ := alice.NewOutboundSession(bob.Curve25519Key(), fb1)
	m, _ := s.Encrypt([]byte("hi"))
	if _, _, err := bob.NewInboundSession(alice.Curve25519Key(), m.(*olm.PreKeyMessage)); !errors.Is(err, olm.ErrUnknownOneTimeKey) {
		t.Fatalf("forgotten fallback key: %v", err)
	}
}

func TestDeviceKeys(t *testing.T) {
	a := newAccount(t)
	b, err := a.DeviceKeys("@bot:example.org", "BOTDEVICE")
	if err != nil {
		t.Fatal(err)
	}
	var obj map[string]any
	if err := json.Unmarshal(b, &obj); err != nil {
		t.Fatal(err)
	}
	keys := obj["keys"].(map[string]any)
	if keys["curve25519:BOTDEVICE"] != a.Curve25519Key().String() || keys["ed25519:BOTDEVICE"] != a.Ed25519Key().String() {
		t.Fatalf("keys %v", keys)
	}
	algs := fmt.Sprint(obj["algorithms"])
	if !strings.Contains(algs, olm.AlgorithmOlm) || !strings.Contains(algs, olm.AlgorithmMegolm) {
		t.Fatalf("algorithms %v", algs)
	}
	if obj["user_id"] != "@bot:example.org" || obj["device_id"] != "BOTDEVICE" {
		t.Fatalf("ids %v", obj)
	}
	sigB64 := obj["signatures"].(map[string]any)["@bot:example.org"].(map[string]any)["ed25519:BOTDEVICE"].(string)
	delete(obj, "signatures")
	canonical, err := canonicaljson.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := olm.ParseEd25519Signature(sigB64)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Ed25519Key().Verify(canonical, sig); err != nil {
		t.Fatalf("device keys signature: %v", err)
	}
	if _, err := a.DeviceKeys("", "D"); err == nil {
		t.Fatal("empty user ID accepted")
	}
}

func TestSignedOneTimeKeys(t *testing.T) {
	a := newAccount(t)
	a.GenerateOneTimeKeys(2)
	a.GenerateFallbackKey()
	otks, err := a.SignedOneTimeKeys("@u:x", "D")
	if err != nil || len(otks) != 2 {
		t.Fatalf("%d keys, %v", len(otks), err)
	}
	fbs, _ := a.SignedFallbackKeys("@u:x", "D")
	if len(fbs) != 1 {
		t.Fatalf("%d fallback keys", len(fbs))
	}
	for name, raw := range fbs {
		if name != "signed_curve25519:"+olm.KeyID(3).String() {
			t.Fatalf("name %s", name)
		}
		var obj map[string]any
		json.Unmarshal(raw, &obj)
		if obj["fallback"] != true {
			t.Fatal("fallback flag missing")
		}
	}
	for _, raw := range otks {
		var obj map[string]any
		json.Unmarshal(raw, &obj)
		sig, _ := olm.ParseEd25519Signature(obj["signatures"].(map[string]any)["@u:x"].(map[string]any)["ed25519:D"].(string))
		delete(obj, "signatures")
		c, _ := canonicaljson.Marshal(obj)
		if err := a.Ed25519Key().Verify(c, sig); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSecretsNeverPrinted(t *testing.T) {
	a, _ := olm.NewAccountFromRandom(bytes.Repeat([]byte{0xAB}, 64))
	a.GenerateOneTimeKeysFromRandom(bytes.Repeat([]byte{0xCD}, 32))
	alice, _, _, _ := pair(t, olm.SessionConfigV1())
	lp, _ := a.PickleLibolm(nil)
	sp, _ := alice.PickleLibolm(nil)
	for _, v := range []any{a, *a, alice, *alice} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d"} {
			out := fmt.Sprintf(verb, v)
			for _, secret := range [][]byte{bytes.Repeat([]byte{0xAB}, 8), bytes.Repeat([]byte{0xCD}, 8)} {
				for _, enc := range []string{fmt.Sprintf("%x", secret), fmt.Sprintf("%X", secret), fmt.Sprint(secret[:4]), "q6urq6urq6u", "zc3Nzc3Nzc"} {
					if strings.Contains(out, enc) {
						t.Fatalf("%s of %T prints secret material: %s", verb, v, out)
					}
				}
			}
			if strings.Contains(out, lp[:20]) || strings.Contains(out, sp[:20]) {
				t.Fatalf("%s prints a pickle", verb)
			}
			if !strings.Contains(out, "olm.") {
				t.Fatalf("%s of %T: unexpected output %q", verb, v, out)
			}
		}
	}
}
