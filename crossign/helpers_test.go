package crossign_test

import (
	"crypto"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"testing"

	"github.com/souverain/e2ee/crossign"
	"github.com/souverain/e2ee/internal/canonicaljson"
	"github.com/souverain/e2ee/olm"
	"github.com/souverain/e2ee/signedjson"
)

// seed returns a deterministic 32-byte seed for a label.
func seed(label string) []byte {
	h := sha256.Sum256([]byte("souverain crossign test " + label))
	return h[:]
}

func b64(b []byte) string { return base64.RawStdEncoding.EncodeToString(b) }

// testKeys returns deterministic cross-signing keys for userID.
func testKeys(t testing.TB, userID string) *crossign.PrivateKeys {
	t.Helper()
	ks := &crossign.PrivateKeys{UserID: userID}
	var err error
	if ks.Master, err = crossign.NewPrivateKey(crossign.UsageMaster, seed(userID+" master")); err != nil {
		t.Fatal(err)
	}
	if ks.SelfSigning, err = crossign.NewPrivateKey(crossign.UsageSelfSigning, seed(userID+" ssk")); err != nil {
		t.Fatal(err)
	}
	if ks.UserSigning, err = crossign.NewPrivateKey(crossign.UsageUserSigning, seed(userID+" usk")); err != nil {
		t.Fatal(err)
	}
	return ks
}

// signer is one signature to put on an object.
type signer struct {
	entity, keyID string
	key           crypto.Signer
}

// signedRaw signs the object obj with each signer and returns it as JSON.
func signedRaw(t testing.TB, obj map[string]any, signers ...signer) json.RawMessage {
	t.Helper()
	raw, err := canonicaljson.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	o, err := signedjson.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range signers {
		if err := o.Sign(s.entity, s.keyID, s.key); err != nil {
			t.Fatal(err)
		}
	}
	return o.Bytes()
}

// keyObject returns the fields of a cross-signing key object.
func keyObject(userID string, usage crossign.Usage, pub olm.Ed25519PublicKey) map[string]any {
	return map[string]any{
		"user_id": userID,
		"usage":   []string{string(usage)},
		"keys":    map[string]string{"ed25519:" + pub.String(): pub.String()},
	}
}

// testDevice is a device with a deterministic Ed25519 key; its Curve25519
// key is arbitrary bytes, which no check here looks into.
type testDevice struct {
	userID, id string
	key        ed25519.PrivateKey
}

func newTestDevice(userID, id string) *testDevice {
	return &testDevice{userID: userID, id: id, key: ed25519.NewKeyFromSeed(seed(userID + " device " + id))}
}

func (d *testDevice) public() olm.Ed25519PublicKey {
	var k olm.Ed25519PublicKey
	copy(k[:], d.key.Public().(ed25519.PublicKey))
	return k
}

// self is the device's self-signature signer.
func (d *testDevice) self() signer { return signer{d.userID, "ed25519:" + d.id, d.key} }

// fields returns the device keys object without signatures.
func (d *testDevice) fields() map[string]any {
	curve := sha256.Sum256([]byte("curve " + d.id))
	return map[string]any{
		"user_id":    d.userID,
		"device_id":  d.id,
		"algorithms": []string{olm.AlgorithmOlm, olm.AlgorithmMegolm},
		"keys": map[string]string{
			"curve25519:" + d.id: b64(curve[:]),
			"ed25519:" + d.id:    d.public().String(),
		},
		"unsigned": map[string]any{"device_display_name": "device " + d.id},
	}
}

// by returns a signer for key k of ks under ks's user.
func by(ks *crossign.PrivateKeys, k *crossign.PrivateKey) signer {
	return signer{ks.UserID, k.KeyID(), k}
}

// response is a /keys/query response under construction: tests replace
// entries before encoding it.
type response struct {
	devices map[string]map[string]json.RawMessage
	keys    map[crossign.Usage]map[string]json.RawMessage
}

func (r *response) setDevice(userID, deviceID string, raw json.RawMessage) {
	if r.devices[userID] == nil {
		r.devices[userID] = map[string]json.RawMessage{}
	}
	r.devices[userID][deviceID] = raw
}

func (r *response) setKey(u crossign.Usage, userID string, raw json.RawMessage) {
	r.keys[u][userID] = raw
}

func (r *response) bytes(t testing.TB) []byte {
	t.Helper()
	body := map[string]any{"failures": map[string]any{}}
	dk := map[string]any{}
	for u, m := range r.devices {
		inner := map[string]any{}
		for d, raw := range m {
			inner[d] = raw
		}
		dk[u] = inner
	}
	body["device_keys"] = dk
	for u, name := range map[crossign.Usage]string{
		crossign.UsageMaster: "master_keys", crossign.UsageSelfSigning: "self_signing_keys", crossign.UsageUserSigning: "user_signing_keys",
	} {
		m := map[string]any{}
		for user, raw := range r.keys[u] {
			m[user] = raw
		}
		body[name] = m
	}
	// encoding/json, not the canonical encoder: raw entries may be
	// deliberately non-canonical.
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (r *response) parse(t testing.TB) *crossign.QueryResponse {
	t.Helper()
	q, err := crossign.ParseQueryResponse(r.bytes(t))
	if err != nil {
		t.Fatalf("ParseQueryResponse: %v", err)
	}
	return q
}

// world is Alice (us, on device ALICE1) and Bob, both fully cross-signed,
// with Alice having verified Bob: the server's view as a response.
type world struct {
	alice, bob           *crossign.PrivateKeys
	alice1, alice2, bob1 *testDevice
	resp                 *response
}

const (
	aliceID = "@alice:example.org"
	bobID   = "@bob:example.org"
)

func newWorld(t testing.TB) *world {
	t.Helper()
	w := &world{
		alice:  testKeys(t, aliceID),
		bob:    testKeys(t, bobID),
		alice1: newTestDevice(aliceID, "ALICE1"),
		alice2: newTestDevice(aliceID, "ALICE2"),
		bob1:   newTestDevice(bobID, "BOB1"),
		resp: &response{
			devices: map[string]map[string]json.RawMessage{},
			keys: map[crossign.Usage]map[string]json.RawMessage{
				crossign.UsageMaster: {}, crossign.UsageSelfSigning: {}, crossign.UsageUserSigning: {},
			},
		},
	}
	a, b := w.alice, w.bob
	r := w.resp
	// Alice: master key signed by her first device; SSK and USK by the
	// master key; both devices by the SSK.
	r.setKey(crossign.UsageMaster, aliceID, signedRaw(t, keyObject(aliceID, crossign.UsageMaster, a.Master.PublicKey()), w.alice1.self()))
	r.setKey(crossign.UsageSelfSigning, aliceID, signedRaw(t, keyObject(aliceID, crossign.UsageSelfSigning, a.SelfSigning.PublicKey()), by(a, a.Master)))
	r.setKey(crossign.UsageUserSigning, aliceID, signedRaw(t, keyObject(aliceID, crossign.UsageUserSigning, a.UserSigning.PublicKey()), by(a, a.Master)))
	for _, d := range []*testDevice{w.alice1, w.alice2} {
		r.setDevice(aliceID, d.id, signedRaw(t, d.fields(), d.self(), by(a, a.SelfSigning)))
	}
	// Bob: master key signed by Alice's USK (the server shows Alice her
	// own signatures), SSK by his master key, his device by his SSK. The
	// server never shows Bob's USK to Alice.
	r.setKey(crossign.UsageMaster, bobID, signedRaw(t, keyObject(bobID, crossign.UsageMaster, b.Master.PublicKey()), by(a, a.UserSigning)))
	r.setKey(crossign.UsageSelfSigning, bobID, signedRaw(t, keyObject(bobID, crossign.UsageSelfSigning, b.SelfSigning.PublicKey()), by(b, b.Master)))
	r.setDevice(bobID, "BOB1", signedRaw(t, w.bob1.fields(), w.bob1.self(), by(b, b.SelfSigning)))
	return w
}

// verifier is Alice's verifier on ALICE1, holding her master key.
func (w *world) verifier() *crossign.Verifier {
	return &crossign.Verifier{
		UserID:          aliceID,
		MasterKey:       w.alice.Master,
		VerifiedDevices: map[string]olm.Ed25519PublicKey{"ALICE1": w.alice1.public()},
	}
}

func (w *world) evaluate(t testing.TB, v *crossign.Verifier) *crossign.Report {
	t.Helper()
	rep, err := v.Evaluate(w.resp.parse(t))
	if err != nil {
		t.Fatalf("Evaluate: %v", err)
	}
	return rep
}
