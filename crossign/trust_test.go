package crossign_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/souverain/e2ee/crossign"
	"github.com/souverain/e2ee/olm"
	"github.com/souverain/e2ee/signedjson"
)

// reasons are the sentinels a trust reason can wrap. A reason must wrap
// exactly the one expected (ErrDuplicateKey and ErrNumber come with
// ErrMalformed).
var reasons = []error{
	crossign.ErrMalformed, crossign.ErrDuplicateKey, crossign.ErrNumber, crossign.ErrInvalidKey,
	crossign.ErrMissingSignature, crossign.ErrBadSignature, crossign.ErrWrongSigner,
	crossign.ErrWrongUsage, crossign.ErrWrongUserID, crossign.ErrWrongDeviceID,
	crossign.ErrKeyIDMismatch, crossign.ErrKeyConfusion, crossign.ErrIdentityChanged,
	crossign.ErrMissingKey, crossign.ErrNotVerified, crossign.ErrOwnIdentityNotVerified,
}

func checkReason(t *testing.T, what string, got, want error) {
	t.Helper()
	if want == nil {
		if got != nil {
			t.Errorf("%s: reason %v, want none", what, got)
		}
		return
	}
	if !errors.Is(got, want) {
		t.Errorf("%s: reason %v, want %v", what, got, want)
		return
	}
	for _, s := range reasons {
		if s == want || (s == crossign.ErrMalformed && (want == crossign.ErrDuplicateKey || want == crossign.ErrNumber)) {
			continue
		}
		if errors.Is(got, s) {
			t.Errorf("%s: reason %v also matches %v", what, got, s)
		}
	}
}

// What an expectation is about.
const (
	userVerified   = iota // UserTrust.Verified / Reason
	selfSigning           // UserTrust.SelfSigningKey / SelfSigningReason
	userSigning           // UserTrust.UserSigningKey / UserSigningReason
	crossSigned           // DeviceTrust.CrossSigned / CrossSigningReason
	deviceVerified        // DeviceTrust.Verified / Reason
)

type expect struct {
	what         int
	user, device string
	reason       error // nil: trusted
}

func check(t *testing.T, rep *crossign.Report, e expect) {
	t.Helper()
	u := rep.User(e.user)
	if u == nil {
		t.Errorf("no report for %s", e.user)
		return
	}
	var ok bool
	var reason error
	name := e.user
	switch e.what {
	case userVerified:
		ok, reason = u.Verified, u.Reason
		name += " verified"
	case selfSigning:
		ok, reason = u.SelfSigningKey != nil, u.SelfSigningReason
		name += " self-signing key"
	case userSigning:
		ok, reason = u.UserSigningKey != nil, u.UserSigningReason
		name += " user-signing key"
	default:
		d := rep.Device(e.user, e.device)
		if d == nil {
			t.Errorf("no report for %s %s", e.user, e.device)
			return
		}
		name += " " + e.device
		if e.what == crossSigned {
			ok, reason = d.CrossSigned, d.CrossSigningReason
			name += " cross-signed"
		} else {
			ok, reason = d.Verified, d.Reason
			name += " verified"
		}
	}
	if ok != (e.reason == nil) {
		t.Errorf("%s = %v (reason %v), want %v", name, ok, reason, e.reason == nil)
	}
	if (reason == nil) != ok {
		t.Errorf("%s = %v but reason is %v", name, ok, reason)
	}
	checkReason(t, name, reason, e.reason)
}

// sigOver returns the signature of fields (as canonical JSON) by s, to
// graft onto another object: a signature that does not verify.
func sigOver(t *testing.T, fields map[string]any, s signer) string {
	t.Helper()
	raw := signedRaw(t, fields, s)
	o, err := signedjson.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	sig, _ := o.Signature(s.entity, s.keyID)
	return sig
}

// withSignature returns raw with the signature under entity and keyID set
// to sig (base64 as given, possibly malformed).
func withSignature(t *testing.T, raw json.RawMessage, entity, keyID, sig string) json.RawMessage {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	sigs, _ := m["signatures"].(map[string]any)
	if sigs == nil {
		sigs = map[string]any{}
		m["signatures"] = sigs
	}
	e, _ := sigs[entity].(map[string]any)
	if e == nil {
		e = map[string]any{}
		sigs[entity] = e
	}
	e[keyID] = sig
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// malleate returns the signature with S replaced by S + ℓ, which verifies
// under lenient Ed25519 implementations.
func malleate(t *testing.T, sig string) string {
	t.Helper()
	raw, err := base64.RawStdEncoding.DecodeString(sig)
	if err != nil {
		t.Fatal(err)
	}
	l, _ := new(big.Int).SetString("7237005577332262213973186563042994240857116359379907606001950938285454250989", 10)
	le := func(b []byte) []byte {
		out := make([]byte, len(b))
		for i := range b {
			out[len(b)-1-i] = b[i]
		}
		return out
	}
	s := new(big.Int).SetBytes(le(raw[32:]))
	s.Add(s, l)
	sb := s.Bytes()
	sb = append(make([]byte, 32-len(sb)), sb...)
	return base64.RawStdEncoding.EncodeToString(append(raw[:32:32], le(sb)...))
}

func TestEvaluate(t *testing.T) {
	other, err := crossign.NewPrivateKey(crossign.UsageMaster, seed("someone else's master"))
	if err != nil {
		t.Fatal(err)
	}
	// Everything as newWorld builds it.
	allGood := []expect{
		{userVerified, aliceID, "", nil},
		{selfSigning, aliceID, "", nil},
		{userSigning, aliceID, "", nil},
		{crossSigned, aliceID, "ALICE1", nil},
		{deviceVerified, aliceID, "ALICE2", nil},
		{userVerified, bobID, "", nil},
		{selfSigning, bobID, "", nil},
		{crossSigned, bobID, "BOB1", nil},
		{deviceVerified, bobID, "BOB1", nil},
	}
	tests := []struct {
		name   string
		mutate func(t *testing.T, w *world, v *crossign.Verifier)
		want   []expect
	}{
		{"all good", nil, allGood},

		// Our own identity.
		{"own master trusted through our verified device's signature", func(t *testing.T, w *world, v *crossign.Verifier) {
			v.MasterKey = nil
		}, allGood},
		{"own master: no private key, no verified device", func(t *testing.T, w *world, v *crossign.Verifier) {
			v.MasterKey, v.VerifiedDevices = nil, nil
		}, []expect{
			{userVerified, aliceID, "", crossign.ErrNotVerified},
			{crossSigned, aliceID, "ALICE2", nil},
			{deviceVerified, aliceID, "ALICE2", crossign.ErrNotVerified},
			// Bob's master key is signed by our user-signing key, but our
			// identity is not verified: Bob does not count as verified.
			{userVerified, bobID, "", crossign.ErrOwnIdentityNotVerified},
			{crossSigned, bobID, "BOB1", nil},
			{deviceVerified, bobID, "BOB1", crossign.ErrOwnIdentityNotVerified},
		}},
		{"own master: the verified device did not sign it", func(t *testing.T, w *world, v *crossign.Verifier) {
			v.MasterKey = nil
			v.VerifiedDevices = map[string]olm.Ed25519PublicKey{"ALICE2": w.alice2.public()}
		}, []expect{
			{userVerified, aliceID, "", crossign.ErrNotVerified},
			{userVerified, bobID, "", crossign.ErrOwnIdentityNotVerified},
		}},
		{"own master: device signature does not match the key we verified", func(t *testing.T, w *world, v *crossign.Verifier) {
			v.MasterKey = nil
			v.VerifiedDevices = map[string]olm.Ed25519PublicKey{"ALICE1": w.alice2.public()}
		}, []expect{
			{userVerified, aliceID, "", crossign.ErrBadSignature},
			{userVerified, bobID, "", crossign.ErrOwnIdentityNotVerified},
		}},
		{"own master: we hold another private master key", func(t *testing.T, w *world, v *crossign.Verifier) {
			v.MasterKey, v.VerifiedDevices = other, nil
		}, []expect{
			{userVerified, aliceID, "", crossign.ErrIdentityChanged},
			{userVerified, bobID, "", crossign.ErrOwnIdentityNotVerified},
		}},
		{"own master: changed since pinned, not verified", func(t *testing.T, w *world, v *crossign.Verifier) {
			v.MasterKey, v.VerifiedDevices = nil, nil
			v.Pinned = map[string]olm.Ed25519PublicKey{aliceID: other.PublicKey()}
		}, []expect{
			{userVerified, aliceID, "", crossign.ErrIdentityChanged},
		}},
		{"own device named after our own master key", func(t *testing.T, w *world, v *crossign.Verifier) {
			// A device ID that is our master key is never taken as the
			// signer of our master key (its "self-signature").
			id := w.alice.Master.PublicKey().String()
			d := newTestDevice(aliceID, id)
			w.resp.setDevice(aliceID, id, signedRaw(t, d.fields(), d.self(), by(w.alice, w.alice.SelfSigning)))
			v.MasterKey = nil
			v.VerifiedDevices = map[string]olm.Ed25519PublicKey{id: w.alice.Master.PublicKey()}
			w.resp.setKey(crossign.UsageMaster, aliceID, signedRaw(t, keyObject(aliceID, crossign.UsageMaster, w.alice.Master.PublicKey()), by(w.alice, w.alice.Master)))
		}, []expect{
			{userVerified, aliceID, "", crossign.ErrNotVerified},
			{crossSigned, aliceID, "", crossign.ErrKeyConfusion},
		}},
		{"own user-signing key not signed by our master key", func(t *testing.T, w *world, v *crossign.Verifier) {
			w.resp.setKey(crossign.UsageUserSigning, aliceID, signedRaw(t, keyObject(aliceID, crossign.UsageUserSigning, w.alice.UserSigning.PublicKey())))
		}, []expect{
			{userVerified, aliceID, "", nil},
			{userSigning, aliceID, "", crossign.ErrMissingSignature},
			{userVerified, bobID, "", crossign.ErrOwnIdentityNotVerified},
			{crossSigned, bobID, "BOB1", nil},
		}},
		{"own user-signing key signed by our self-signing key", func(t *testing.T, w *world, v *crossign.Verifier) {
			w.resp.setKey(crossign.UsageUserSigning, aliceID, signedRaw(t, keyObject(aliceID, crossign.UsageUserSigning, w.alice.UserSigning.PublicKey()), by(w.alice, w.alice.SelfSigning)))
		}, []expect{
			{userSigning, aliceID, "", crossign.ErrWrongSigner},
			{userVerified, bobID, "", crossign.ErrOwnIdentityNotVerified},
		}},
		{"our keys missing from the response", func(t *testing.T, w *world, v *crossign.Verifier) {
			for _, m := range w.resp.keys {
				delete(m, aliceID)
			}
		}, []expect{
			{userVerified, aliceID, "", crossign.ErrMissingKey},
			{crossSigned, aliceID, "ALICE1", crossign.ErrMissingKey},
			{userVerified, bobID, "", crossign.ErrOwnIdentityNotVerified},
		}},

		// Another user's master key.
		{"other: not signed by our user-signing key", func(t *testing.T, w *world, v *crossign.Verifier) {
			w.resp.setKey(crossign.UsageMaster, bobID, signedRaw(t, keyObject(bobID, crossign.UsageMaster, w.bob.Master.PublicKey())))
		}, []expect{
			{userVerified, bobID, "", crossign.ErrNotVerified},
			{crossSigned, bobID, "BOB1", nil},
			{deviceVerified, bobID, "BOB1", crossign.ErrNotVerified},
		}},
		{"other: self-signed and device-signed but not by us", func(t *testing.T, w *world, v *crossign.Verifier) {
			// As Element publishes master keys: signed by themselves and a
			// device. Neither is a reason to trust, nor a wrong signer.
			b := w.bob
			w.resp.setKey(crossign.UsageMaster, bobID, signedRaw(t, keyObject(bobID, crossign.UsageMaster, b.Master.PublicKey()), by(b, b.Master), w.bob1.self()))
		}, []expect{
			{userVerified, bobID, "", crossign.ErrNotVerified},
		}},
		{"other: verified now", func(t *testing.T, w *world, v *crossign.Verifier) {
			w.resp.setKey(crossign.UsageMaster, bobID, signedRaw(t, keyObject(bobID, crossign.UsageMaster, w.bob.Master.PublicKey())))
			v.VerifiedMasterKeys = map[string]olm.Ed25519PublicKey{bobID: w.bob.Master.PublicKey()}
		}, []expect{
			{userVerified, bobID, "", nil},
			{deviceVerified, bobID, "BOB1", nil},
		}},
		{"other: verified now, but another key", func(t *testing.T, w *world, v *crossign.Verifier) {
			w.resp.setKey(crossign.UsageMaster, bobID, signedRaw(t, keyObject(bobID, crossign.UsageMaster, w.bob.Master.PublicKey())))
			v.VerifiedMasterKeys = map[string]olm.Ed25519PublicKey{bobID: other.PublicKey()}
		}, []expect{
			{userVerified, bobID, "", crossign.ErrNotVerified},
		}},
		{"other: verified now, but our identity is not", func(t *testing.T, w *world, v *crossign.Verifier) {
			v.MasterKey, v.VerifiedDevices = nil, nil
			v.VerifiedMasterKeys = map[string]olm.Ed25519PublicKey{bobID: w.bob.Master.PublicKey()}
		}, []expect{
			{userVerified, bobID, "", crossign.ErrOwnIdentityNotVerified},
		}},
		{"other: bad signature by our user-signing key", func(t *testing.T, w *world, v *crossign.Verifier) {
			f := keyObject(bobID, crossign.UsageMaster, w.bob.Master.PublicKey())
			sig := sigOver(t, keyObject(bobID, crossign.UsageMaster, other.PublicKey()), by(w.alice, w.alice.UserSigning))
			w.resp.setKey(crossign.UsageMaster, bobID, withSignature(t, signedRaw(t, f), aliceID, w.alice.UserSigning.KeyID(), sig))
		}, []expect{
			{userVerified, bobID, "", crossign.ErrBadSignature},
			{crossSigned, bobID, "BOB1", nil},
			{deviceVerified, bobID, "BOB1", crossign.ErrBadSignature},
		}},
		{"other: signed by their own user-signing key instead of ours", func(t *testing.T, w *world, v *crossign.Verifier) {
			b := w.bob
			w.resp.setKey(crossign.UsageUserSigning, bobID, signedRaw(t, keyObject(bobID, crossign.UsageUserSigning, b.UserSigning.PublicKey()), by(b, b.Master)))
			w.resp.setKey(crossign.UsageMaster, bobID, signedRaw(t, keyObject(bobID, crossign.UsageMaster, b.Master.PublicKey()), signer{aliceID, b.UserSigning.KeyID(), b.UserSigning}))
		}, []expect{
			{userVerified, bobID, "", crossign.ErrWrongSigner},
		}},
		{"other: our user-signing key's signature filed under their ID", func(t *testing.T, w *world, v *crossign.Verifier) {
			a := w.alice
			w.resp.setKey(crossign.UsageMaster, bobID, signedRaw(t, keyObject(bobID, crossign.UsageMaster, w.bob.Master.PublicKey()), signer{bobID, a.UserSigning.KeyID(), a.UserSigning}))
		}, []expect{
			{userVerified, bobID, "", crossign.ErrWrongSigner},
		}},
		{"other: master key with usage self_signing", func(t *testing.T, w *world, v *crossign.Verifier) {
			w.resp.setKey(crossign.UsageMaster, bobID, signedRaw(t, keyObject(bobID, crossign.UsageSelfSigning, w.bob.Master.PublicKey()), by(w.alice, w.alice.UserSigning)))
		}, []expect{
			{userVerified, bobID, "", crossign.ErrWrongUsage},
			{selfSigning, bobID, "", crossign.ErrWrongUsage},
			{crossSigned, bobID, "BOB1", crossign.ErrWrongUsage},
		}},
		{"other: master key of another user", func(t *testing.T, w *world, v *crossign.Verifier) {
			// The server lists Alice's master key (signed by nobody) as
			// Bob's.
			w.resp.setKey(crossign.UsageMaster, bobID, signedRaw(t, keyObject(aliceID, crossign.UsageMaster, w.alice.Master.PublicKey()), by(w.alice, w.alice.UserSigning)))
		}, []expect{
			{userVerified, bobID, "", crossign.ErrWrongUserID},
			{crossSigned, bobID, "BOB1", crossign.ErrWrongUserID},
		}},
		{"other: master key ID names another key", func(t *testing.T, w *world, v *crossign.Verifier) {
			f := keyObject(bobID, crossign.UsageMaster, w.bob.Master.PublicKey())
			f["keys"] = map[string]string{"ed25519:" + other.PublicKey().String(): w.bob.Master.PublicKey().String()}
			w.resp.setKey(crossign.UsageMaster, bobID, signedRaw(t, f, by(w.alice, w.alice.UserSigning)))
		}, []expect{
			{userVerified, bobID, "", crossign.ErrKeyIDMismatch},
			{crossSigned, bobID, "BOB1", crossign.ErrKeyIDMismatch},
		}},
		{"other: master key not canonical base64", func(t *testing.T, w *world, v *crossign.Verifier) {
			k := w.bob.Master.PublicKey().String() + "="
			f := keyObject(bobID, crossign.UsageMaster, w.bob.Master.PublicKey())
			f["keys"] = map[string]string{"ed25519:" + k: k}
			w.resp.setKey(crossign.UsageMaster, bobID, signedRaw(t, f))
		}, []expect{
			{userVerified, bobID, "", crossign.ErrInvalidKey},
		}},
		{"other: master key object with two keys", func(t *testing.T, w *world, v *crossign.Verifier) {
			f := keyObject(bobID, crossign.UsageMaster, w.bob.Master.PublicKey())
			f["keys"].(map[string]string)["ed25519:"+other.PublicKey().String()] = other.PublicKey().String()
			w.resp.setKey(crossign.UsageMaster, bobID, signedRaw(t, f))
		}, []expect{
			{userVerified, bobID, "", crossign.ErrMalformed},
		}},
		{"other: master key with a duplicate member", func(t *testing.T, w *world, v *crossign.Verifier) {
			raw := string(w.resp.keys[crossign.UsageMaster][bobID])
			raw = strings.Replace(raw, `{"keys"`, `{"user_id":"@mallory:example.org","keys"`, 1)
			w.resp.setKey(crossign.UsageMaster, bobID, json.RawMessage(raw))
		}, []expect{
			{userVerified, bobID, "", crossign.ErrDuplicateKey},
		}},
		{"other: no master key", func(t *testing.T, w *world, v *crossign.Verifier) {
			delete(w.resp.keys[crossign.UsageMaster], bobID)
		}, []expect{
			{userVerified, bobID, "", crossign.ErrMissingKey},
			{selfSigning, bobID, "", crossign.ErrMissingKey},
			{crossSigned, bobID, "BOB1", crossign.ErrMissingKey},
		}},

		// Another user's self-signing key.
		{"other: no self-signing key", func(t *testing.T, w *world, v *crossign.Verifier) {
			delete(w.resp.keys[crossign.UsageSelfSigning], bobID)
		}, []expect{
			{userVerified, bobID, "", nil},
			{selfSigning, bobID, "", crossign.ErrMissingKey},
			{crossSigned, bobID, "BOB1", crossign.ErrMissingKey},
		}},
		{"other: self-signing key not signed by the master key", func(t *testing.T, w *world, v *crossign.Verifier) {
			w.resp.setKey(crossign.UsageSelfSigning, bobID, signedRaw(t, keyObject(bobID, crossign.UsageSelfSigning, w.bob.SelfSigning.PublicKey())))
		}, []expect{
			{userVerified, bobID, "", nil},
			{selfSigning, bobID, "", crossign.ErrMissingSignature},
			{crossSigned, bobID, "BOB1", crossign.ErrMissingSignature},
			{deviceVerified, bobID, "BOB1", crossign.ErrMissingSignature},
		}},
		{"other: self-signing key signed by another user's master key", func(t *testing.T, w *world, v *crossign.Verifier) {
			w.resp.setKey(crossign.UsageSelfSigning, bobID, signedRaw(t, keyObject(bobID, crossign.UsageSelfSigning, w.bob.SelfSigning.PublicKey()), by(w.alice, w.alice.Master)))
		}, []expect{
			{selfSigning, bobID, "", crossign.ErrWrongSigner},
			{crossSigned, bobID, "BOB1", crossign.ErrWrongSigner},
		}},
		{"other: self-signing key with a bad signature", func(t *testing.T, w *world, v *crossign.Verifier) {
			b := w.bob
			sig := sigOver(t, keyObject(bobID, crossign.UsageSelfSigning, b.UserSigning.PublicKey()), by(b, b.Master))
			raw := withSignature(t, signedRaw(t, keyObject(bobID, crossign.UsageSelfSigning, b.SelfSigning.PublicKey())), bobID, b.Master.KeyID(), sig)
			w.resp.setKey(crossign.UsageSelfSigning, bobID, raw)
		}, []expect{
			{selfSigning, bobID, "", crossign.ErrBadSignature},
			{crossSigned, bobID, "BOB1", crossign.ErrBadSignature},
		}},
		{"other: self-signing key with usage user_signing", func(t *testing.T, w *world, v *crossign.Verifier) {
			b := w.bob
			w.resp.setKey(crossign.UsageSelfSigning, bobID, signedRaw(t, keyObject(bobID, crossign.UsageUserSigning, b.SelfSigning.PublicKey()), by(b, b.Master)))
		}, []expect{
			{selfSigning, bobID, "", crossign.ErrWrongUsage},
			{crossSigned, bobID, "BOB1", crossign.ErrWrongUsage},
		}},
		{"other: self-signing key with two usages", func(t *testing.T, w *world, v *crossign.Verifier) {
			b := w.bob
			f := keyObject(bobID, crossign.UsageSelfSigning, b.SelfSigning.PublicKey())
			f["usage"] = []string{"self_signing", "user_signing"}
			w.resp.setKey(crossign.UsageSelfSigning, bobID, signedRaw(t, f, by(b, b.Master)))
		}, []expect{
			{selfSigning, bobID, "", crossign.ErrWrongUsage},
		}},
		{"other: self-signing key naming another user", func(t *testing.T, w *world, v *crossign.Verifier) {
			b := w.bob
			w.resp.setKey(crossign.UsageSelfSigning, bobID, signedRaw(t, keyObject("@carol:example.org", crossign.UsageSelfSigning, b.SelfSigning.PublicKey()), by(b, b.Master)))
		}, []expect{
			{selfSigning, bobID, "", crossign.ErrWrongUserID},
			{crossSigned, bobID, "BOB1", crossign.ErrWrongUserID},
		}},

		// Another user's devices.
		{"other: device not signed by the self-signing key", func(t *testing.T, w *world, v *crossign.Verifier) {
			w.resp.setDevice(bobID, "BOB1", signedRaw(t, w.bob1.fields(), w.bob1.self()))
		}, []expect{
			{userVerified, bobID, "", nil},
			{crossSigned, bobID, "BOB1", crossign.ErrMissingSignature},
			{deviceVerified, bobID, "BOB1", crossign.ErrMissingSignature},
		}},
		{"other: device with a bad self-signing signature", func(t *testing.T, w *world, v *crossign.Verifier) {
			b := w.bob
			f := w.bob1.fields()
			f["algorithms"] = []string{"m.olm.v1.curve25519-aes-sha2"}
			sig := sigOver(t, f, by(b, b.SelfSigning))
			w.resp.setDevice(bobID, "BOB1", withSignature(t, signedRaw(t, w.bob1.fields(), w.bob1.self()), bobID, b.SelfSigning.KeyID(), sig))
		}, []expect{
			{crossSigned, bobID, "BOB1", crossign.ErrBadSignature},
		}},
		{"other: device signature padded base64", func(t *testing.T, w *world, v *crossign.Verifier) {
			b := w.bob
			sig := sigOver(t, w.bob1.fields(), by(b, b.SelfSigning)) + "=="
			w.resp.setDevice(bobID, "BOB1", withSignature(t, signedRaw(t, w.bob1.fields(), w.bob1.self()), bobID, b.SelfSigning.KeyID(), sig))
		}, []expect{
			{crossSigned, bobID, "BOB1", crossign.ErrBadSignature},
		}},
		{"other: device signature malleated (S + ℓ)", func(t *testing.T, w *world, v *crossign.Verifier) {
			b := w.bob
			sig := malleate(t, sigOver(t, w.bob1.fields(), by(b, b.SelfSigning)))
			w.resp.setDevice(bobID, "BOB1", withSignature(t, signedRaw(t, w.bob1.fields(), w.bob1.self()), bobID, b.SelfSigning.KeyID(), sig))
		}, []expect{
			{crossSigned, bobID, "BOB1", crossign.ErrBadSignature},
		}},
		{"other: device signed by the master key instead", func(t *testing.T, w *world, v *crossign.Verifier) {
			w.resp.setDevice(bobID, "BOB1", signedRaw(t, w.bob1.fields(), w.bob1.self(), by(w.bob, w.bob.Master)))
		}, []expect{
			{crossSigned, bobID, "BOB1", crossign.ErrWrongSigner},
		}},
		{"other: device signed by another user's self-signing key", func(t *testing.T, w *world, v *crossign.Verifier) {
			w.resp.setDevice(bobID, "BOB1", signedRaw(t, w.bob1.fields(), w.bob1.self(), signer{bobID, w.alice.SelfSigning.KeyID(), w.alice.SelfSigning}))
		}, []expect{
			{crossSigned, bobID, "BOB1", crossign.ErrWrongSigner},
		}},
		{"other: device listed under another device ID", func(t *testing.T, w *world, v *crossign.Verifier) {
			w.resp.setDevice(bobID, "BOB2", w.resp.devices[bobID]["BOB1"])
		}, []expect{
			{crossSigned, bobID, "BOB1", nil},
			{crossSigned, bobID, "BOB2", crossign.ErrWrongDeviceID},
		}},
		{"other: device listed under another user", func(t *testing.T, w *world, v *crossign.Verifier) {
			w.resp.setDevice(aliceID, "BOB1", w.resp.devices[bobID]["BOB1"])
		}, []expect{
			{crossSigned, aliceID, "BOB1", crossign.ErrWrongUserID},
		}},
		{"other: device key filed under another device ID", func(t *testing.T, w *world, v *crossign.Verifier) {
			f := w.bob1.fields()
			f["keys"].(map[string]string)["ed25519:BOB9"] = w.bob1.public().String()
			w.resp.setDevice(bobID, "BOB1", signedRaw(t, f, w.bob1.self(), by(w.bob, w.bob.SelfSigning)))
		}, []expect{
			{crossSigned, bobID, "BOB1", crossign.ErrKeyIDMismatch},
		}},
		{"other: device without self-signature", func(t *testing.T, w *world, v *crossign.Verifier) {
			w.resp.setDevice(bobID, "BOB1", signedRaw(t, w.bob1.fields(), by(w.bob, w.bob.SelfSigning)))
		}, []expect{
			{crossSigned, bobID, "BOB1", crossign.ErrMissingSignature},
		}},
		{"other: device with a bad self-signature", func(t *testing.T, w *world, v *crossign.Verifier) {
			f := w.bob1.fields()
			f["device_id"] = "BOB9"
			sig := sigOver(t, f, w.bob1.self())
			w.resp.setDevice(bobID, "BOB1", withSignature(t, signedRaw(t, w.bob1.fields(), by(w.bob, w.bob.SelfSigning)), bobID, "ed25519:BOB1", sig))
		}, []expect{
			{crossSigned, bobID, "BOB1", crossign.ErrBadSignature},
		}},
		{"other: device with a fraction", func(t *testing.T, w *world, v *crossign.Verifier) {
			raw := strings.Replace(string(w.resp.devices[bobID]["BOB1"]), `{"algorithms"`, `{"a":0.5,"algorithms"`, 1)
			w.resp.setDevice(bobID, "BOB1", json.RawMessage(raw))
		}, []expect{
			{crossSigned, bobID, "BOB1", crossign.ErrNumber},
			{userVerified, bobID, "", nil},
		}},
		{"other: device with a huge integer", func(t *testing.T, w *world, v *crossign.Verifier) {
			raw := strings.Replace(string(w.resp.devices[bobID]["BOB1"]), `{"algorithms"`, `{"a":9007199254740992,"algorithms"`, 1)
			w.resp.setDevice(bobID, "BOB1", json.RawMessage(raw))
		}, []expect{
			{crossSigned, bobID, "BOB1", crossign.ErrNumber},
		}},
		{"other: device with a duplicate member", func(t *testing.T, w *world, v *crossign.Verifier) {
			raw := strings.Replace(string(w.resp.devices[bobID]["BOB1"]), `{"algorithms"`, `{"device_id":"EVIL","algorithms"`, 1)
			w.resp.setDevice(bobID, "BOB1", json.RawMessage(raw))
		}, []expect{
			{crossSigned, bobID, "BOB1", crossign.ErrDuplicateKey},
		}},
		{"other: device without keys", func(t *testing.T, w *world, v *crossign.Verifier) {
			f := w.bob1.fields()
			delete(f, "keys")
			w.resp.setDevice(bobID, "BOB1", signedRaw(t, f, w.bob1.self()))
		}, []expect{
			{crossSigned, bobID, "BOB1", crossign.ErrMalformed},
		}},
		{"key/device confusion: device named after the master key", func(t *testing.T, w *world, v *crossign.Verifier) {
			id := w.bob.Master.PublicKey().String()
			d := newTestDevice(bobID, id)
			w.resp.setDevice(bobID, id, signedRaw(t, d.fields(), d.self(), by(w.bob, w.bob.SelfSigning)))
		}, []expect{
			{crossSigned, bobID, "BOB1", nil},
			{crossSigned, bobID, "", crossign.ErrKeyConfusion},
			{deviceVerified, bobID, "", crossign.ErrKeyConfusion},
		}},
		{"key/device confusion: device named after the self-signing key", func(t *testing.T, w *world, v *crossign.Verifier) {
			id := w.bob.SelfSigning.PublicKey().String()
			d := newTestDevice(bobID, id)
			w.resp.setDevice(bobID, id, signedRaw(t, d.fields(), d.self(), by(w.bob, w.bob.SelfSigning)))
		}, []expect{
			{crossSigned, bobID, "", crossign.ErrKeyConfusion},
		}},

		// Identity changes.
		{"identity reset, new key not verified", func(t *testing.T, w *world, v *crossign.Verifier) {
			v.Pinned = map[string]olm.Ed25519PublicKey{bobID: w.bob.Master.PublicKey()}
			w.resetBob(t, false)
		}, []expect{
			{userVerified, bobID, "", crossign.ErrIdentityChanged},
			{selfSigning, bobID, "", nil},
			{crossSigned, bobID, "BOB1", nil},
			{deviceVerified, bobID, "BOB1", crossign.ErrIdentityChanged},
		}},
		{"identity reset, new key verified", func(t *testing.T, w *world, v *crossign.Verifier) {
			v.Pinned = map[string]olm.Ed25519PublicKey{bobID: w.bob.Master.PublicKey()}
			w.resetBob(t, true)
		}, []expect{
			{userVerified, bobID, "", nil},
			{deviceVerified, bobID, "BOB1", nil},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			v := w.verifier()
			if tt.mutate != nil {
				tt.mutate(t, w, v)
			}
			rep := w.evaluate(t, v)
			for _, e := range tt.want {
				if e.device == "" && (e.what == crossSigned || e.what == deviceVerified) {
					// The device named after a key: find it.
					for _, id := range []string{w.bob.Master.PublicKey().String(), w.bob.SelfSigning.PublicKey().String(), w.alice.Master.PublicKey().String()} {
						if rep.Device(e.user, id) != nil {
							e.device = id
						}
					}
				}
				check(t, rep, e)
			}
		})
	}
}

// resetBob replaces Bob's cross-signing keys with new ones, re-signs his
// device with the new self-signing key, and has Alice's user-signing key
// sign the new master key if verified.
func (w *world) resetBob(t *testing.T, verified bool) {
	t.Helper()
	nb := testKeys(t, bobID+" reset")
	nb.UserID = bobID
	var signers []signer
	if verified {
		signers = append(signers, by(w.alice, w.alice.UserSigning))
	}
	w.resp.setKey(crossign.UsageMaster, bobID, signedRaw(t, keyObject(bobID, crossign.UsageMaster, nb.Master.PublicKey()), signers...))
	w.resp.setKey(crossign.UsageSelfSigning, bobID, signedRaw(t, keyObject(bobID, crossign.UsageSelfSigning, nb.SelfSigning.PublicKey()), by(nb, nb.Master)))
	w.resp.setDevice(bobID, "BOB1", signedRaw(t, w.bob1.fields(), w.bob1.self(), by(nb, nb.SelfSigning)))
	w.bob = nb
}

// TestPins checks trust on first use: first-seen master keys are pinned, a
// change is reported and not pinned until verified, and Evaluate changes
// nothing in the Verifier.
func TestPins(t *testing.T) {
	w := newWorld(t)
	v := w.verifier()
	rep := w.evaluate(t, v)
	pins := rep.Pins()
	if pins[aliceID] != w.alice.Master.PublicKey() || pins[bobID] != w.bob.Master.PublicKey() || len(pins) != 2 {
		t.Fatalf("first pins = %v", pins)
	}
	if u := rep.User(bobID); u.IdentityChanged {
		t.Error("first sight reported as a change")
	}
	if v.Pinned != nil {
		t.Error("Evaluate changed the Verifier")
	}

	old := w.bob.Master.PublicKey()
	v.Pinned = pins
	w.resetBob(t, false)
	rep = w.evaluate(t, v)
	u := rep.User(bobID)
	if !u.IdentityChanged || u.PinnedMasterKey != old || u.MasterKey.PublicKey() != w.bob.Master.PublicKey() {
		t.Errorf("change not reported: changed %v, pinned %s, now %s", u.IdentityChanged, u.PinnedMasterKey, u.MasterKey.PublicKey())
	}
	if got := rep.Pins()[bobID]; got != old {
		t.Errorf("unverified new key pinned: %s, want the old %s", got, old)
	}
	// Evaluating again still reports the change: no silent re-trust.
	v.Pinned = rep.Pins()
	if u := w.evaluate(t, v).User(bobID); !errors.Is(u.Reason, crossign.ErrIdentityChanged) {
		t.Errorf("second evaluation: reason %v, want ErrIdentityChanged", u.Reason)
	}
	// Verifying the new key pins it, and the change is still reported once.
	w.resetBob(t, true)
	v.Pinned = map[string]olm.Ed25519PublicKey{bobID: old}
	rep = w.evaluate(t, v)
	if u := rep.User(bobID); !u.Verified || !u.IdentityChanged {
		t.Errorf("verified new key: verified %v, changed %v", u.Verified, u.IdentityChanged)
	}
	if got := rep.Pins()[bobID]; got != w.bob.Master.PublicKey() {
		t.Errorf("verified new key not pinned: %s", got)
	}
}

func TestEvaluateMisconfigured(t *testing.T) {
	q, err := crossign.ParseQueryResponse([]byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (&crossign.Verifier{}).Evaluate(q); !errors.Is(err, crossign.ErrWrongUserID) {
		t.Errorf("no UserID: %v", err)
	}
	ssk, _ := crossign.NewPrivateKey(crossign.UsageSelfSigning, seed("x"))
	if _, err := (&crossign.Verifier{UserID: aliceID, MasterKey: ssk}).Evaluate(q); !errors.Is(err, crossign.ErrWrongUsage) {
		t.Errorf("self-signing key as master key: %v", err)
	}
	rep, err := (&crossign.Verifier{UserID: aliceID}).Evaluate(q)
	if err != nil || len(rep.UserIDs()) != 0 || rep.User(aliceID) != nil || rep.Device(aliceID, "X") != nil {
		t.Errorf("empty response: %v, %v", rep, err)
	}
}
