package crossign_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/souverain/e2ee/crossign"
	"github.com/souverain/e2ee/olm"
)

// TestOlmDeviceKeys checks that the signed device keys an olm.Account
// produces parse as a Device with the account's keys.
func TestOlmDeviceKeys(t *testing.T) {
	a, err := olm.NewAccount()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := a.DeviceKeys(aliceID, "DEV")
	if err != nil {
		t.Fatal(err)
	}
	d, err := crossign.ParseDevice(raw)
	if err != nil {
		t.Fatal(err)
	}
	if d.UserID() != aliceID || d.DeviceID() != "DEV" || d.Ed25519Key() != a.Ed25519Key() || d.Curve25519Key() != a.Curve25519Key() {
		t.Errorf("device = %v, keys %s %s", d, d.Ed25519Key(), d.Curve25519Key())
	}
	if diff := cmp.Diff([]string{olm.AlgorithmOlm, olm.AlgorithmMegolm}, d.Algorithms()); diff != "" {
		t.Errorf("Algorithms (-want +got):\n%s", diff)
	}
	if string(d.Bytes()) != string(raw) {
		t.Errorf("Bytes = %s, want the canonical input %s", d.Bytes(), raw)
	}
	if d.DisplayName() != "" {
		t.Errorf("DisplayName = %q", d.DisplayName())
	}
}

func TestParseKey(t *testing.T) {
	k := testKeys(t, aliceID)
	pub := k.SelfSigning.PublicKey()
	good := keyObject(aliceID, crossign.UsageSelfSigning, pub)
	key, err := crossign.ParseKey(signedRaw(t, good, by(k, k.Master)))
	if err != nil {
		t.Fatal(err)
	}
	if key.UserID() != aliceID || key.Usage() != crossign.UsageSelfSigning || key.PublicKey() != pub || key.KeyID() != "ed25519:"+pub.String() {
		t.Errorf("key = %v", key)
	}
	if err := key.Object().Verify(aliceID, k.Master.KeyID(), k.Master.PublicKey().Bytes()); err != nil {
		t.Errorf("master signature: %v", err)
	}

	with := func(name string, v any) map[string]any {
		m := keyObject(aliceID, crossign.UsageSelfSigning, pub)
		if v == nil {
			delete(m, name)
		} else {
			m[name] = v
		}
		return m
	}
	p := pub.String()
	tests := []struct {
		name string
		raw  string
		want error
	}{
		{"not an object", `[]`, crossign.ErrMalformed},
		{"duplicate member", strings.Replace(string(signedRaw(t, good)), `{"keys"`, `{"usage":["master"],"keys"`, 1), crossign.ErrDuplicateKey},
		{"float", strings.Replace(string(signedRaw(t, good)), `{"keys"`, `{"n":1.5,"keys"`, 1), crossign.ErrNumber},
		{"no user_id", string(signedRaw(t, with("user_id", nil))), crossign.ErrMalformed},
		{"empty user_id", string(signedRaw(t, with("user_id", ""))), crossign.ErrMalformed},
		{"user_id not a string", string(signedRaw(t, with("user_id", 5))), crossign.ErrMalformed},
		{"no usage", string(signedRaw(t, with("usage", nil))), crossign.ErrMalformed},
		{"usage a string", string(signedRaw(t, with("usage", "self_signing"))), crossign.ErrMalformed},
		{"usage empty", string(signedRaw(t, with("usage", []string{}))), crossign.ErrWrongUsage},
		{"usage unknown", string(signedRaw(t, with("usage", []string{"signing"}))), crossign.ErrWrongUsage},
		{"usage twice", string(signedRaw(t, with("usage", []string{"self_signing", "self_signing"}))), crossign.ErrWrongUsage},
		{"usage of two roles", string(signedRaw(t, with("usage", []string{"master", "self_signing"}))), crossign.ErrWrongUsage},
		{"no keys", string(signedRaw(t, with("keys", nil))), crossign.ErrMalformed},
		{"keys empty", string(signedRaw(t, with("keys", map[string]string{}))), crossign.ErrMalformed},
		{"keys an array", string(signedRaw(t, with("keys", []string{p}))), crossign.ErrMalformed},
		{"key not a string", string(signedRaw(t, with("keys", map[string]int{"ed25519:" + p: 1}))), crossign.ErrMalformed},
		{"curve25519 key", string(signedRaw(t, with("keys", map[string]string{"curve25519:" + p: p}))), crossign.ErrMalformed},
		{"bare key ID", string(signedRaw(t, with("keys", map[string]string{p: p}))), crossign.ErrMalformed},
		{"key ID names another key", string(signedRaw(t, with("keys", map[string]string{"ed25519:" + k.Master.PublicKey().String(): p}))), crossign.ErrKeyIDMismatch},
		{"key ID is a device ID", string(signedRaw(t, with("keys", map[string]string{"ed25519:DEVICE": p}))), crossign.ErrKeyIDMismatch},
		{"key padded", string(signedRaw(t, with("keys", map[string]string{"ed25519:" + p + "=": p + "="}))), crossign.ErrInvalidKey},
		{"key short", string(signedRaw(t, with("keys", map[string]string{"ed25519:" + p[:40]: p[:40]}))), crossign.ErrInvalidKey},
		{"key with stray bits", string(signedRaw(t, with("keys", map[string]string{"ed25519:" + p[:42] + "B": p[:42] + "B"}))), crossign.ErrInvalidKey},
		{"key not base64", string(signedRaw(t, with("keys", map[string]string{"ed25519:" + p[:42] + "!": p[:42] + "!"}))), crossign.ErrInvalidKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, err := crossign.ParseKey([]byte(tt.raw))
			if err == nil {
				t.Fatalf("ParseKey = %v, want an error", key)
			}
			checkReason(t, "ParseKey", err, tt.want)
			if !strings.HasPrefix(err.Error(), "crossign: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

func TestParseDevice(t *testing.T) {
	d := newTestDevice(aliceID, "DEV")
	good := signedRaw(t, d.fields(), d.self())
	dev, err := crossign.ParseDevice(good)
	if err != nil {
		t.Fatal(err)
	}
	if dev.DisplayName() != "device DEV" || dev.Ed25519Key() != d.public() {
		t.Errorf("device = %v, name %q", dev, dev.DisplayName())
	}
	with := func(name string, v any) map[string]any {
		m := d.fields()
		if v == nil {
			delete(m, name)
		} else {
			m[name] = v
		}
		return m
	}
	keys := d.fields()["keys"].(map[string]string)
	ed, curve := keys["ed25519:DEV"], keys["curve25519:DEV"]
	tests := []struct {
		name string
		raw  json.RawMessage
		want error
	}{
		{"not an object", json.RawMessage(`"DEV"`), crossign.ErrMalformed},
		{"no user_id", signedRaw(t, with("user_id", nil), d.self()), crossign.ErrMalformed},
		{"no device_id", signedRaw(t, with("device_id", nil), d.self()), crossign.ErrMalformed},
		{"device_id a number", signedRaw(t, with("device_id", 7), d.self()), crossign.ErrMalformed},
		{"no algorithms", signedRaw(t, with("algorithms", nil), d.self()), crossign.ErrMalformed},
		{"algorithms not strings", signedRaw(t, with("algorithms", []int{1}), d.self()), crossign.ErrMalformed},
		{"no keys", signedRaw(t, with("keys", nil), d.self()), crossign.ErrMalformed},
		{"no ed25519 key", signedRaw(t, with("keys", map[string]string{"curve25519:DEV": curve}), d.self()), crossign.ErrKeyIDMismatch},
		{"no curve25519 key", signedRaw(t, with("keys", map[string]string{"ed25519:DEV": ed}), d.self()), crossign.ErrKeyIDMismatch},
		{"keys of another device", signedRaw(t, with("keys", map[string]string{"ed25519:OTHER": ed, "curve25519:OTHER": curve}), d.self()), crossign.ErrKeyIDMismatch},
		{"extra key of another device", signedRaw(t, with("keys", map[string]string{"ed25519:DEV": ed, "curve25519:DEV": curve, "ed25519:OTHER": ed}), d.self()), crossign.ErrKeyIDMismatch},
		{"ed25519 key padded", signedRaw(t, with("keys", map[string]string{"ed25519:DEV": ed + "=", "curve25519:DEV": curve}), d.self()), crossign.ErrInvalidKey},
		{"curve25519 key short", signedRaw(t, with("keys", map[string]string{"ed25519:DEV": ed, "curve25519:DEV": curve[:10]}), d.self()), crossign.ErrInvalidKey},
		{"no self-signature", signedRaw(t, d.fields()), crossign.ErrMissingSignature},
		{"self-signature under another user", signedRaw(t, d.fields(), signer{bobID, "ed25519:DEV", d.key}), crossign.ErrMissingSignature},
		{"signed by another device", signedRaw(t, d.fields(), signer{aliceID, "ed25519:DEV", newTestDevice(aliceID, "X").key}), crossign.ErrBadSignature},
		{"tampered after signing", json.RawMessage(strings.Replace(string(good), `"device_id":"DEV"`, `"device_id":"DEV","x":1`, 1)), crossign.ErrBadSignature},
		{"duplicate member", json.RawMessage(strings.Replace(string(good), `{"algorithms"`, `{"user_id":"@mallory:x","algorithms"`, 1)), crossign.ErrDuplicateKey},
		{"huge integer", json.RawMessage(strings.Replace(string(good), `{"algorithms"`, `{"n":1e16,"algorithms"`, 1)), crossign.ErrNumber},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dev, err := crossign.ParseDevice(tt.raw)
			if err == nil {
				t.Fatalf("ParseDevice = %v, want an error", dev)
			}
			checkReason(t, "ParseDevice", err, tt.want)
		})
	}
	// Unknown algorithms' keys are someone else's business.
	m := d.fields()
	m["keys"].(map[string]string)["org.example.future:OTHER"] = "anything"
	if _, err := crossign.ParseDevice(signedRaw(t, m, d.self())); err != nil {
		t.Errorf("device with a key of an unknown algorithm: %v", err)
	}
}

func TestObjectsJSON(t *testing.T) {
	k := testKeys(t, aliceID)
	pk, err := k.PublicKey(crossign.UsageUserSigning)
	if err != nil {
		t.Fatal(err)
	}
	var wrap struct {
		Device *crossign.Device `json:"device"` // in encoding/json's (sorted) map order
		Key    *crossign.Key    `json:"key"`
	}
	d := newTestDevice(aliceID, "DEV")
	in, _ := json.Marshal(map[string]json.RawMessage{"key": pk.Bytes(), "device": signedRaw(t, d.fields(), d.self())})
	if err := json.Unmarshal(in, &wrap); err != nil {
		t.Fatal(err)
	}
	if wrap.Key.PublicKey() != k.UserSigning.PublicKey() || wrap.Device.DeviceID() != "DEV" {
		t.Errorf("decoded %v %v", wrap.Key, wrap.Device)
	}
	out, err := json.Marshal(wrap)
	if err != nil || string(out) != string(in) {
		t.Errorf("re-encoded:\n%s\nwant\n%s (%v)", out, in, err)
	}
	if err := json.Unmarshal([]byte(`{"key":{"usage":["master"]}}`), &wrap); !errors.Is(err, crossign.ErrMalformed) {
		t.Errorf("bad key: %v", err)
	}
	if err := json.Unmarshal([]byte(`{"device":{}}`), &wrap); !errors.Is(err, crossign.ErrMalformed) {
		t.Errorf("bad device: %v", err)
	}
	if got := pk.String(); got != "crossign.Key(user_signing of "+aliceID+": "+k.UserSigning.PublicKey().String()+")" {
		t.Errorf("Key.String = %s", got)
	}
	if _, ok := wrap.Device.Object().Member("unsigned"); !ok {
		t.Error("device lost its unsigned member")
	}
}
