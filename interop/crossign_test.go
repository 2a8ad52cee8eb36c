package interop_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/souverain/e2ee/crossign"
	"github.com/souverain/e2ee/interop/libolm"
	"github.com/souverain/e2ee/olm"
	"github.com/souverain/e2ee/signedjson"
)

// Cross tests of the crossign and signedjson packages: against libolm's
// Ed25519 (olm_ed25519_verify, olm_account_sign, olm_pk_sign) and against
// Element's crypto stack (element/crossign.mjs).

const (
	csAlice = "@alice:example.org"
	csBob   = "@bob:example.org"
	csCarol = "@carol:example.org"
)

func csSeed(label string) []byte {
	h := sha256.Sum256([]byte("souverain crossign interop " + label))
	return h[:]
}

// TestCrossignSignedHereVerifyWithLibolm checks that what we sign verifies
// with libolm's olm_ed25519_verify over the signed bytes: device keys from
// olm.Account, the self-signing key's signature on them, and the master
// key's signature on the self-signing key.
func TestCrossignSignedHereVerifyWithLibolm(t *testing.T) {
	acct, err := olm.NewAccount()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := acct.DeviceKeys(csAlice, "DEV")
	if err != nil {
		t.Fatal(err)
	}
	dev, err := crossign.ParseDevice(raw)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := crossign.GenerateKeys(csAlice)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := keys.SignDevice(dev)
	if err != nil {
		t.Fatal(err)
	}
	ssk, err := keys.PublicKey(crossign.UsageSelfSigning)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		obj   *signedjson.Object
		keyID string
		key   olm.Ed25519PublicKey
	}{
		{"device self-signature", dev.Object(), "ed25519:DEV", acct.Ed25519Key()},
		{"self-signing key on device", signed.Object, keys.SelfSigning.KeyID(), keys.SelfSigning.PublicKey()},
		{"master key on self-signing key", ssk.Object(), keys.Master.KeyID(), keys.Master.PublicKey()},
	} {
		t.Run(c.name, func(t *testing.T) {
			sig, ok := c.obj.Signature(csAlice, c.keyID)
			if !ok {
				t.Fatalf("no signature by %s", c.keyID)
			}
			if err := libolm.Ed25519Verify(c.key.String(), c.obj.SigningBytes(), sig); err != nil {
				t.Errorf("libolm: %v", err)
			}
			// And libolm refuses it over other bytes.
			if err := libolm.Ed25519Verify(c.key.String(), append(c.obj.SigningBytes(), ' '), sig); err == nil {
				t.Error("libolm accepts the signature over other bytes")
			}
		})
	}
}

// TestCrossignLibolmSignedVerifyHere builds a whole cross-signed identity
// with libolm alone (olm_pk_sign for the three cross-signing keys from
// their seeds, olm_account_sign for the device) and checks that it
// evaluates as trusted here, and that libolm's signatures are the ones we
// make from the same seeds.
func TestCrossignLibolmSignedVerifyHere(t *testing.T) {
	if n := libolm.PkSigningSeedLength(); n != crossign.SeedSize {
		t.Fatalf("libolm seed length %d, want %d", n, crossign.SeedSize)
	}
	acct, err := libolm.NewAccountRand()
	if err != nil {
		t.Fatal(err)
	}
	defer acct.Free()
	ik, err := acct.IdentityKeys()
	if err != nil {
		t.Fatal(err)
	}
	seeds := map[crossign.Usage][]byte{}
	pubs := map[crossign.Usage]string{}
	for _, u := range []crossign.Usage{crossign.UsageMaster, crossign.UsageSelfSigning, crossign.UsageUserSigning} {
		seeds[u] = csSeed(string(u))
		pub, _, err := libolm.PkSign(seeds[u], nil)
		if err != nil {
			t.Fatal(err)
		}
		ours, err := crossign.NewPrivateKey(u, seeds[u])
		if err != nil {
			t.Fatal(err)
		}
		if pub != ours.PublicKey().String() {
			t.Fatalf("%s: libolm public key %s, ours %s", u, pub, ours.PublicKey())
		}
		pubs[u] = pub
	}
	// pkSign signs obj with the cross-signing key of role u via libolm and
	// checks that our signature from the same seed is identical.
	pkSign := func(obj *signedjson.Object, u crossign.Usage) {
		t.Helper()
		_, sig, err := libolm.PkSign(seeds[u], obj.SigningBytes())
		if err != nil {
			t.Fatal(err)
		}
		raw, err := base64.RawStdEncoding.DecodeString(sig)
		if err != nil {
			t.Fatal(err)
		}
		if err := obj.AddSignature(csAlice, "ed25519:"+pubs[u], raw); err != nil {
			t.Fatal(err)
		}
		ours, _ := crossign.NewPrivateKey(u, seeds[u])
		check, _ := signedjson.Parse(obj.SigningBytes())
		if err := check.Sign(csAlice, ours.KeyID(), ours); err != nil {
			t.Fatal(err)
		}
		if s, _ := check.Signature(csAlice, ours.KeyID()); s != sig {
			t.Errorf("libolm signature %s, ours %s", sig, s)
		}
	}
	keyObj := func(u crossign.Usage) *signedjson.Object {
		obj, err := signedjson.Parse(mustJSON(t, map[string]any{
			"user_id": csAlice, "usage": []string{string(u)}, "keys": map[string]string{"ed25519:" + pubs[u]: pubs[u]},
		}))
		if err != nil {
			t.Fatal(err)
		}
		return obj
	}
	master, ssk, usk := keyObj(crossign.UsageMaster), keyObj(crossign.UsageSelfSigning), keyObj(crossign.UsageUserSigning)
	pkSign(ssk, crossign.UsageMaster)
	pkSign(usk, crossign.UsageMaster)
	device, err := signedjson.Parse(mustJSON(t, map[string]any{
		"user_id": csAlice, "device_id": "LIBOLM", "algorithms": []string{olm.AlgorithmOlm, olm.AlgorithmMegolm},
		"keys":     map[string]string{"curve25519:LIBOLM": ik.Curve25519, "ed25519:LIBOLM": ik.Ed25519},
		"unsigned": map[string]any{"device_display_name": "libolm"},
	}))
	if err != nil {
		t.Fatal(err)
	}
	sig, err := acct.Sign(device.SigningBytes())
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.RawStdEncoding.DecodeString(sig)
	if err := device.AddSignature(csAlice, "ed25519:LIBOLM", raw); err != nil {
		t.Fatal(err)
	}
	pkSign(device, crossign.UsageSelfSigning)
	// The device also signs the master key, as a verified device may.
	sig, err = acct.Sign(master.SigningBytes())
	if err != nil {
		t.Fatal(err)
	}
	raw, _ = base64.RawStdEncoding.DecodeString(sig)
	if err := master.AddSignature(csAlice, "ed25519:LIBOLM", raw); err != nil {
		t.Fatal(err)
	}

	resp := mustJSON(t, map[string]any{
		"device_keys":       map[string]any{csAlice: map[string]any{"LIBOLM": device}},
		"master_keys":       map[string]any{csAlice: master},
		"self_signing_keys": map[string]any{csAlice: ssk},
		"user_signing_keys": map[string]any{csAlice: usk},
	})
	q, err := crossign.ParseQueryResponse(resp)
	if err != nil {
		t.Fatal(err)
	}
	edKey, err := olm.ParseEd25519PublicKey(ik.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	masterPriv, _ := crossign.NewPrivateKey(crossign.UsageMaster, seeds[crossign.UsageMaster])
	for name, v := range map[string]*crossign.Verifier{
		"private master key":     {UserID: csAlice, MasterKey: masterPriv},
		"verified libolm device": {UserID: csAlice, VerifiedDevices: map[string]olm.Ed25519PublicKey{"LIBOLM": edKey}},
	} {
		t.Run(name, func(t *testing.T) {
			rep, err := v.Evaluate(q)
			if err != nil {
				t.Fatal(err)
			}
			u := rep.User(csAlice)
			if !u.Verified || u.SelfSigningKey == nil || u.UserSigningKey == nil {
				t.Fatalf("identity: verified %v (%v), ssk %v, usk %v (%v)", u.Verified, u.Reason, u.SelfSigningReason, u.UserSigningKey, u.UserSigningReason)
			}
			if d := rep.Device(csAlice, "LIBOLM"); !d.Verified {
				t.Errorf("libolm device: %v", d.Reason)
			}
		})
	}
}

// TestCrossignMalleabilityAgainstLibolm shows a difference that is on
// purpose: libolm 3.2.13 accepts a signature whose S is replaced by S + ℓ
// (CVE-2024-45193); we refuse it.
func TestCrossignMalleabilityAgainstLibolm(t *testing.T) {
	k, err := crossign.NewPrivateKey(crossign.UsageSelfSigning, csSeed("malleable"))
	if err != nil {
		t.Fatal(err)
	}
	obj, _ := signedjson.Parse([]byte(`{"user_id":"@alice:example.org","device_id":"DEV"}`))
	if err := obj.Sign(csAlice, k.KeyID(), k); err != nil {
		t.Fatal(err)
	}
	sig, _ := obj.Signature(csAlice, k.KeyID())
	raw, _ := base64.RawStdEncoding.DecodeString(sig)
	le := func(b []byte) []byte {
		out := make([]byte, len(b))
		for i := range b {
			out[len(b)-1-i] = b[i]
		}
		return out
	}
	l, _ := new(big.Int).SetString("7237005577332262213973186563042994240857116359379907606001950938285454250989", 10)
	s := new(big.Int).Add(new(big.Int).SetBytes(le(raw[32:])), l)
	sb := append(make([]byte, 32-len(s.Bytes())), s.Bytes()...)
	mall := base64.RawStdEncoding.EncodeToString(append(raw[:32:32], le(sb)...))
	libolmErr := libolm.Ed25519Verify(k.PublicKey().String(), obj.SigningBytes(), mall)
	t.Logf("libolm on S + ℓ: %v", libolmErr)
	bad := bytes.Replace(obj.Bytes(), []byte(sig), []byte(mall), 1)
	if err := signedjson.Verify(bad, csAlice, k.KeyID(), k.PublicKey().Bytes()); !errors.Is(err, signedjson.ErrBadSignature) {
		t.Errorf("we accept S + ℓ: %v", err)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// csNode runs element/crossign.mjs in mode with req on stdin and decodes
// its answer into resp. It skips the test if node or the npm packages are
// missing.
func csNode(t *testing.T, mode string, req, resp any) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not installed: skipping the Element interop test")
	}
	if _, err := os.Stat(filepath.Join("element", "node_modules", "@matrix-org", "matrix-sdk-crypto-wasm")); err != nil {
		t.Skip("element/node_modules missing (run npm install in interop/element): skipping the Element interop test")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "crossign.mjs", mode)
	cmd.Dir = "element"
	cmd.Stdin = bytes.NewReader(mustJSON(t, req))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node crossign.mjs %s: %v\n%s", mode, err, stderr.String())
	}
	if err := json.Unmarshal(out, resp); err != nil {
		t.Fatalf("node crossign.mjs %s: answer %q: %v", mode, out, err)
	}
}

// elementStatus is what Element's OlmMachine says of a user and some of
// its devices.
type elementStatus struct {
	Identity bool `json:"identity"`
	Verified bool `json:"verified"`
	Devices  map[string]struct {
		Known               bool `json:"known"`
		CrossSigned         bool `json:"cross_signed"`
		CrossSigningTrusted bool `json:"cross_signing_trusted"`
		Verified            bool `json:"verified"`
	} `json:"devices"`
}

// csUser is a user of ours: an olm account for one device and
// cross-signing keys, as published.
type csUser struct {
	id, deviceID string
	acct         *olm.Account
	keys         *crossign.PrivateKeys
	upload       *crossign.DeviceSigningUpload
	device       *crossign.Device // with the self-signing key's signature
	extra        []*crossign.Device
}

func newCSUser(t *testing.T, id, deviceID string) *csUser {
	t.Helper()
	u := &csUser{id: id, deviceID: deviceID}
	var err error
	if u.acct, err = olm.NewAccount(); err != nil {
		t.Fatal(err)
	}
	if u.keys, err = crossign.GenerateKeys(id); err != nil {
		t.Fatal(err)
	}
	if u.upload, err = u.keys.DeviceSigningUpload(); err != nil {
		t.Fatal(err)
	}
	raw, err := u.acct.DeviceKeys(id, deviceID)
	if err != nil {
		t.Fatal(err)
	}
	if u.device, err = crossign.ParseDevice(raw); err != nil {
		t.Fatal(err)
	}
	so, err := u.keys.SignDevice(u.device)
	if err != nil {
		t.Fatal(err)
	}
	if err := u.device.Object().AddSignatures(so.Object); err != nil {
		t.Fatal(err)
	}
	return u
}

// extraDevice adds a device whose keys the device signs itself and which
// signer (if not nil) signs with its key ID: a device that is not properly
// cross-signed.
func (u *csUser) extraDevice(t *testing.T, deviceID string, signer *crossign.PrivateKey) *crossign.Device {
	t.Helper()
	acct, err := olm.NewAccount()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := acct.DeviceKeys(u.id, deviceID)
	if err != nil {
		t.Fatal(err)
	}
	d, err := crossign.ParseDevice(raw)
	if err != nil {
		t.Fatal(err)
	}
	if signer != nil {
		if err := d.Object().Sign(u.id, signer.KeyID(), signer); err != nil {
			t.Fatal(err)
		}
	}
	u.extra = append(u.extra, d)
	return d
}

// query returns the user's keys as /keys/query shows them to others (no
// user-signing key).
func (u *csUser) query() map[string]any {
	devices := map[string]any{u.deviceID: u.device}
	for _, d := range u.extra {
		devices[d.DeviceID()] = d
	}
	return map[string]any{
		"device_keys":       map[string]any{u.id: devices},
		"master_keys":       map[string]any{u.id: u.upload.MasterKey},
		"self_signing_keys": map[string]any{u.id: u.upload.SelfSigningKey},
	}
}

// csServer merges published objects and uploaded signatures as a
// homeserver does, and answers /keys/query.
type csServer struct {
	t       *testing.T
	devices map[string]map[string]*signedjson.Object
	keys    map[string]map[string]*signedjson.Object // member → user → key
}

func newCSServer(t *testing.T) *csServer {
	return &csServer{t: t, devices: map[string]map[string]*signedjson.Object{}, keys: map[string]map[string]*signedjson.Object{
		"master_keys": {}, "self_signing_keys": {}, "user_signing_keys": {},
	}}
}

func (s *csServer) parse(v any) *signedjson.Object {
	s.t.Helper()
	raw, ok := v.(json.RawMessage)
	if !ok {
		raw = mustJSON(s.t, v)
	}
	o, err := signedjson.Parse(raw)
	if err != nil {
		s.t.Fatal(err)
	}
	return o
}

func (s *csServer) addDevice(user, device string, v any) {
	if s.devices[user] == nil {
		s.devices[user] = map[string]*signedjson.Object{}
	}
	s.devices[user][device] = s.parse(v)
}

// uploadSigningKeys takes a /keys/device_signing/upload body.
func (s *csServer) uploadSigningKeys(user string, body map[string]json.RawMessage) {
	for member, kind := range map[string]string{"master_key": "master_keys", "self_signing_key": "self_signing_keys", "user_signing_key": "user_signing_keys"} {
		if raw, ok := body[member]; ok {
			s.keys[kind][user] = s.parse(raw)
		}
	}
}

// uploadSignatures merges a /keys/signatures/upload body; every object
// must be the very object published (AddSignatures checks the signed
// bytes).
func (s *csServer) uploadSignatures(body map[string]map[string]json.RawMessage) {
	s.t.Helper()
	for user, objs := range body {
		for id, raw := range objs {
			signed := s.parse(raw)
			target := s.devices[user][id]
			for _, m := range s.keys {
				if k := m[user]; k != nil {
					if kk, err := crossign.ParseKey(k.Bytes()); err == nil && kk.PublicKey().String() == id {
						target = k
					}
				}
			}
			if target == nil {
				s.t.Fatalf("signature upload for unknown %s %s", user, id)
			}
			if err := target.AddSignatures(signed); err != nil {
				s.t.Fatalf("signature upload for %s %s: %v", user, id, err)
			}
		}
	}
}

// query returns a /keys/query response for users as viewer sees it.
func (s *csServer) query(viewer string, users ...string) *crossign.QueryResponse {
	s.t.Helper()
	body := map[string]any{"device_keys": map[string]any{}}
	for kind := range s.keys {
		body[kind] = map[string]any{}
	}
	for _, u := range users {
		body["device_keys"].(map[string]any)[u] = s.devices[u]
		for kind, m := range s.keys {
			if kind == "user_signing_keys" && u != viewer {
				continue
			}
			if k := m[u]; k != nil {
				body[kind].(map[string]any)[u] = k
			}
		}
	}
	q, err := crossign.ParseQueryResponse(mustJSON(s.t, body))
	if err != nil {
		s.t.Fatal(err)
	}
	return q
}

// TestCrossignElement runs Element through cross-signing bootstrap and the
// verification of one of our users, then checks both ways: Element's
// uploads (keys, signatures, private keys as secret storage keeps them)
// evaluate as trusted here, and our keys are cross-signed and, once
// Element's user-signing key signs them, verified there.
func TestCrossignElement(t *testing.T) {
	bob := newCSUser(t, csBob, "BOBDEV")
	bob.extraDevice(t, "BOBLONE", nil)                 // not cross-signed
	bob.extraDevice(t, "BOBUSK", bob.keys.UserSigning) // signed by the wrong key
	other, _ := crossign.GenerateKeys(csBob)           // a stranger's self-signing key
	bob.extraDevice(t, "BOBFORGED", other.SelfSigning)
	devices := []string{"BOBDEV", "BOBLONE", "BOBUSK", "BOBFORGED"}
	var out struct {
		DeviceKeys          json.RawMessage                       `json:"device_keys"`
		SigningKeys         map[string]json.RawMessage            `json:"signing_keys"`
		Signatures          map[string]map[string]json.RawMessage `json:"signatures"`
		Export              map[string]string                     `json:"export"`
		Own, Before, After  elementStatus
		UserSignatureUpload map[string]map[string]json.RawMessage `json:"user_signature_upload"`
	}
	csNode(t, "element-identity", map[string]any{
		"user_id": csAlice, "device_id": "ALICEDEV",
		"other": map[string]any{"user_id": csBob, "device_ids": devices, "query": bob.query()},
	}, &out)

	// Element's judgement of our keys.
	t.Run("ours trusted by Element", func(t *testing.T) {
		if d := out.Own.Devices["ALICEDEV"]; !out.Own.Verified || !d.CrossSigned || !d.Verified {
			t.Errorf("Element's own identity: %+v", out.Own)
		}
		if b := out.Before; !b.Identity || b.Verified {
			t.Errorf("before verifying Bob, Element says %+v; want our identity known, not verified", b)
		}
		if a := out.After; !a.Verified {
			t.Errorf("after verifying Bob, Element says %+v; want him verified", a)
		}
		for _, id := range devices {
			want := id == "BOBDEV"
			b, a := out.Before.Devices[id], out.After.Devices[id]
			if !b.Known || b.CrossSigned != want || b.CrossSigningTrusted || b.Verified {
				t.Errorf("%s before: Element says %+v; want known, cross-signed %v, not trusted", id, b, want)
			}
			if a.CrossSigned != want || a.CrossSigningTrusted != want || a.Verified != want {
				t.Errorf("%s after: Element says %+v; want cross-signed, trusted and verified %v", id, a, want)
			}
		}
	})

	// The server's view, built from Element's uploads and ours.
	srv := newCSServer(t)
	var dk struct {
		DeviceID string `json:"device_id"`
	}
	if err := json.Unmarshal(out.DeviceKeys, &dk); err != nil || dk.DeviceID != "ALICEDEV" {
		t.Fatalf("Element's device keys: %s (%v)", out.DeviceKeys, err)
	}
	srv.addDevice(csAlice, "ALICEDEV", out.DeviceKeys)
	srv.uploadSigningKeys(csAlice, out.SigningKeys)
	srv.uploadSignatures(out.Signatures)
	srv.addDevice(csBob, "BOBDEV", bob.device)
	for _, d := range bob.extra {
		srv.addDevice(csBob, d.DeviceID(), d)
	}
	up, err := json.Marshal(bob.upload)
	if err != nil {
		t.Fatal(err)
	}
	var bobBody map[string]json.RawMessage
	_ = json.Unmarshal(up, &bobBody)
	srv.uploadSigningKeys(csBob, bobBody)

	// Element's private keys, as secret storage keeps them.
	alicePriv := &crossign.PrivateKeys{UserID: csAlice}
	for u, dst := range map[crossign.Usage]**crossign.PrivateKey{
		crossign.UsageMaster: &alicePriv.Master, crossign.UsageSelfSigning: &alicePriv.SelfSigning, crossign.UsageUserSigning: &alicePriv.UserSigning,
	} {
		k, err := crossign.ParsePrivateKey(u, out.Export[string(u)])
		if err != nil {
			t.Fatalf("Element's exported %s key: %v", u, err)
		}
		*dst = k
		pub, err := crossign.ParseKey(out.SigningKeys[map[crossign.Usage]string{
			crossign.UsageMaster: "master_key", crossign.UsageSelfSigning: "self_signing_key", crossign.UsageUserSigning: "user_signing_key",
		}[u]])
		if err != nil {
			t.Fatalf("Element's uploaded %s key: %v", u, err)
		}
		if pub.PublicKey() != k.PublicKey() || pub.Usage() != u || pub.UserID() != csAlice {
			t.Errorf("%s: exported private key gives %s, uploaded key is %v", u, k.PublicKey(), pub)
		}
	}

	t.Run("Element trusted here", func(t *testing.T) {
		q := srv.query(csAlice, csAlice)
		d, err := q.Device(csAlice, "ALICEDEV")
		if err != nil {
			t.Fatal(err)
		}
		for name, v := range map[string]*crossign.Verifier{
			"with the exported master key": {UserID: csAlice, MasterKey: alicePriv.Master},
			"through Element's device signature on the master key": {
				UserID: csAlice, VerifiedDevices: map[string]olm.Ed25519PublicKey{"ALICEDEV": d.Ed25519Key()},
			},
		} {
			t.Run(name, func(t *testing.T) {
				rep, err := v.Evaluate(q)
				if err != nil {
					t.Fatal(err)
				}
				u := rep.User(csAlice)
				if !u.Verified || u.SelfSigningKey == nil || u.UserSigningKey == nil {
					t.Fatalf("Element's identity: %v / %v / %v", u.Reason, u.SelfSigningReason, u.UserSigningReason)
				}
				if dt := rep.Device(csAlice, "ALICEDEV"); !dt.Verified {
					t.Errorf("Element's device: %v", dt.Reason)
				}
			})
		}
		// Without either, Element's identity is well formed but not ours
		// to trust.
		rep, _ := (&crossign.Verifier{UserID: csAlice}).Evaluate(q)
		if u := rep.User(csAlice); !errors.Is(u.Reason, crossign.ErrNotVerified) {
			t.Errorf("no private key, no verified device: %v", u.Reason)
		}
		if dt := rep.Device(csAlice, "ALICEDEV"); !dt.CrossSigned {
			t.Errorf("Element's device not cross-signed: %v", dt.CrossSigningReason)
		}
	})

	t.Run("Element's user-signing signature on our master key", func(t *testing.T) {
		q := srv.query(csAlice, csAlice, csBob)
		rep, _ := (&crossign.Verifier{UserID: csAlice, MasterKey: alicePriv.Master}).Evaluate(q)
		if u := rep.User(csBob); !errors.Is(u.Reason, crossign.ErrNotVerified) {
			t.Fatalf("before Element's signature, Bob: %v", u.Reason)
		}
		srv.uploadSignatures(out.UserSignatureUpload)
		q = srv.query(csAlice, csAlice, csBob)
		rep, _ = (&crossign.Verifier{UserID: csAlice, MasterKey: alicePriv.Master}).Evaluate(q)
		if u := rep.User(csBob); !u.Verified {
			t.Errorf("Bob, signed by Element's user-signing key: %v", u.Reason)
		}
		// The same judgement as Element's on each device.
		for _, id := range devices {
			d := rep.Device(csBob, id)
			if want := out.After.Devices[id]; d.CrossSigned != want.CrossSigned || d.Verified != want.Verified {
				t.Errorf("%s: here cross-signed %v, verified %v (%v); Element says %+v", id, d.CrossSigned, d.Verified, d.Reason, want)
			}
		}
		// (Bob's user-signing key is hidden from Alice, so its signature
		// is merely not the one needed.)
		for id, want := range map[string]error{"BOBLONE": crossign.ErrMissingSignature, "BOBUSK": crossign.ErrMissingSignature, "BOBFORGED": crossign.ErrMissingSignature} {
			if d := rep.Device(csBob, id); !errors.Is(d.Reason, want) {
				t.Errorf("%s: %v, want %v", id, d.Reason, want)
			}
		}
	})

	t.Run("our user-signing signature on Element's master key", func(t *testing.T) {
		q := srv.query(csBob, csAlice)
		master, err := q.CrossSigningKey(csAlice, crossign.UsageMaster)
		if err != nil {
			t.Fatal(err)
		}
		so, err := bob.keys.SignUser(master)
		if err != nil {
			t.Fatal(err)
		}
		var up crossign.SignatureUpload
		if err := up.Add(so); err != nil {
			t.Fatal(err)
		}
		var body map[string]map[string]json.RawMessage
		_ = json.Unmarshal(mustJSON(t, &up), &body)
		srv.uploadSignatures(body)
		rep, err := (&crossign.Verifier{UserID: csBob, MasterKey: bob.keys.Master}).Evaluate(srv.query(csBob, csBob, csAlice))
		if err != nil {
			t.Fatal(err)
		}
		if u := rep.User(csAlice); !u.Verified {
			t.Errorf("Alice (Element), signed by our user-signing key: %v", u.Reason)
		}
		if d := rep.Device(csAlice, "ALICEDEV"); !d.Verified {
			t.Errorf("Element's device: %v", d.Reason)
		}
	})
}

// TestCrossignElementTakesOurIdentity gives Element cross-signing keys made
// here for its own user: it must accept our public key objects and our
// private keys in secret storage form, and sign its device with our
// self-signing key so that the device is trusted both there and here.
func TestCrossignElementTakesOurIdentity(t *testing.T) {
	keys, err := crossign.GenerateKeys(csCarol)
	if err != nil {
		t.Fatal(err)
	}
	up, err := keys.DeviceSigningUpload()
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Status                map[string]bool `json:"status"`
		DeviceKeys            json.RawMessage `json:"device_keys"`
		Before, After         elementStatus
		DeviceSignatureUpload map[string]map[string]json.RawMessage `json:"device_signature_upload"`
	}
	csNode(t, "own-identity", map[string]any{
		"user_id": csCarol, "device_id": "CAROLDEV",
		"master_key": up.MasterKey, "self_signing_key": up.SelfSigningKey, "user_signing_key": up.UserSigningKey,
		"secrets": map[string]string{
			"master": keys.Master.Secret(), "self_signing": keys.SelfSigning.Secret(), "user_signing": keys.UserSigning.Secret(),
		},
	}, &out)
	if !out.Status["has_master"] || !out.Status["has_self_signing"] || !out.Status["has_user_signing"] {
		t.Errorf("Element did not import our private keys: %v", out.Status)
	}
	if !out.Before.Identity || out.Before.Devices["CAROLDEV"].CrossSigned {
		t.Errorf("before signing its device, Element says %+v", out.Before)
	}
	if a, d := out.After, out.After.Devices["CAROLDEV"]; !a.Verified || !d.CrossSigned || !d.CrossSigningTrusted {
		t.Errorf("after signing its device with our self-signing key, Element says %+v", a)
	}

	srv := newCSServer(t)
	srv.addDevice(csCarol, "CAROLDEV", out.DeviceKeys)
	var body map[string]json.RawMessage
	_ = json.Unmarshal(mustJSON(t, up), &body)
	srv.uploadSigningKeys(csCarol, body)
	q := srv.query(csCarol, csCarol)
	rep, _ := (&crossign.Verifier{UserID: csCarol, MasterKey: keys.Master}).Evaluate(q)
	if d := rep.Device(csCarol, "CAROLDEV"); d.CrossSigned || !errors.Is(d.CrossSigningReason, crossign.ErrMissingSignature) {
		t.Errorf("Element's device before its signature upload: cross-signed %v, %v", d.CrossSigned, d.CrossSigningReason)
	}
	srv.uploadSignatures(out.DeviceSignatureUpload)
	rep, _ = (&crossign.Verifier{UserID: csCarol, MasterKey: keys.Master}).Evaluate(srv.query(csCarol, csCarol))
	if u := rep.User(csCarol); !u.Verified {
		t.Errorf("our identity: %v", u.Reason)
	}
	if d := rep.Device(csCarol, "CAROLDEV"); !d.Verified {
		t.Errorf("Element's device signed by Element with our self-signing key: %v", d.Reason)
	}
}
