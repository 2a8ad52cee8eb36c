package keybackup_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/souverain/e2ee/keybackup"
	"github.com/souverain/e2ee/olm"
)

const testUser = "@alice:example.org"

// masterKey is a cross-signing key for the tests, made with crypto/ed25519.
type masterKey struct {
	priv ed25519.PrivateKey
	pub  olm.Ed25519PublicKey
}

func newMasterKey(t testing.TB) masterKey {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := olm.NewEd25519PublicKey(pub)
	return masterKey{priv, k}
}

func (m masterKey) sign(msg []byte) olm.Ed25519Signature {
	s, _ := olm.NewEd25519Signature(ed25519.Sign(m.priv, msg))
	return s
}

func newDevice(t testing.TB) *olm.Account {
	a, err := olm.NewAccount()
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestAuthDataSignVerify(t *testing.T) {
	bk, _ := keybackup.GenerateBackupKey()
	device := newDevice(t)
	master := newMasterKey(t)
	stranger := newMasterKey(t)

	ad := keybackup.NewAuthData(bk.PublicKey())
	if err := ad.Sign(testUser, "DEVICE", device.Sign); err != nil {
		t.Fatal(err)
	}
	if err := ad.Sign(testUser, master.pub.String(), master.sign); err != nil {
		t.Fatal(err)
	}
	text, err := ad.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := keybackup.ParseAuthData(text)
	if err != nil {
		t.Fatal(err)
	}
	if parsed.PublicKey != bk.PublicKey() {
		t.Fatal("public key changed")
	}
	again, _ := parsed.MarshalJSON()
	if string(again) != string(text) {
		t.Fatalf("re-encoded\n%s\nwant\n%s", again, text)
	}

	deviceKey := keybackup.DeviceSigningKey("DEVICE", device.Ed25519Key())
	masterTrusted := keybackup.MasterSigningKey(master.pub)
	tests := []struct {
		name string
		user string
		keys []keybackup.TrustedKey
		ok   bool
	}{
		{"device", testUser, []keybackup.TrustedKey{deviceKey}, true},
		{"master", testUser, []keybackup.TrustedKey{masterTrusted}, true},
		{"both", testUser, []keybackup.TrustedKey{deviceKey, masterTrusted}, true},
		{"stranger then master", testUser, []keybackup.TrustedKey{keybackup.MasterSigningKey(stranger.pub), masterTrusted}, true},
		{"no keys", testUser, nil, false},
		{"stranger", testUser, []keybackup.TrustedKey{keybackup.MasterSigningKey(stranger.pub)}, false},
		{"other user", "@mallory:example.org", []keybackup.TrustedKey{deviceKey, masterTrusted}, false},
		{"right ID wrong key", testUser, []keybackup.TrustedKey{keybackup.DeviceSigningKey("DEVICE", stranger.pub)}, false},
		{"device key under master's ID", testUser, []keybackup.TrustedKey{{ID: master.pub.String(), Key: device.Ed25519Key()}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parsed.Verify(tt.user, tt.keys...)
			if tt.ok {
				if err != nil {
					t.Fatal(err)
				}
				if got.Key != tt.keys[len(tt.keys)-1].Key && got.Key != tt.keys[0].Key {
					t.Fatal("wrong key reported")
				}
				return
			}
			if !errors.Is(err, keybackup.ErrUntrusted) {
				t.Fatalf("err = %v", err)
			}
			if err := parsed.CheckTrusted(tt.user, nil, tt.keys...); !errors.Is(err, keybackup.ErrUntrusted) {
				t.Fatalf("CheckTrusted = %v", err)
			}
		})
	}
}

// TestAuthDataTampered changes a signed auth_data in ways a hostile server
// might and checks that the signature no longer holds.
func TestAuthDataTampered(t *testing.T) {
	bk, _ := keybackup.GenerateBackupKey()
	attacker, _ := keybackup.GenerateBackupKey()
	master := newMasterKey(t)
	trusted := keybackup.MasterSigningKey(master.pub)

	ad := keybackup.NewAuthData(bk.PublicKey())
	ad.Sign(testUser, master.pub.String(), master.sign)
	text, _ := ad.MarshalJSON()
	var obj map[string]any
	json.Unmarshal(text, &obj)

	edit := func(f func(map[string]any)) []byte {
		var c map[string]any
		json.Unmarshal(text, &c)
		f(c)
		b, _ := json.Marshal(c)
		return b
	}
	// Fields the signature does not cover may change.
	for name, in := range map[string][]byte{
		"unsigned added": edit(func(c map[string]any) { c["unsigned"] = map[string]any{"x": 1} }),
		"key order":      []byte(`{"signatures":` + mustJSON(obj["signatures"]) + `,"public_key":"` + bk.PublicKey().String() + `"}`),
		"extra signatures": edit(func(c map[string]any) {
			c["signatures"].(map[string]any)["@bob:x"] = map[string]any{"ed25519:B": "AAAA"}
		}),
	} {
		t.Run(name, func(t *testing.T) {
			a, err := keybackup.ParseAuthData(in)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := a.Verify(testUser, trusted); err != nil {
				t.Fatal(err)
			}
		})
	}
	for name, in := range map[string][]byte{
		"attacker's public key": edit(func(c map[string]any) { c["public_key"] = attacker.PublicKey().String() }),
		"field added":           edit(func(c map[string]any) { c["private_key_salt"] = "x" }),
		"signature flipped": edit(func(c map[string]any) {
			sigs := c["signatures"].(map[string]any)[testUser].(map[string]any)
			sig, _ := olm.ParseEd25519Signature(sigs["ed25519:"+master.pub.String()].(string))
			sig[10] ^= 1
			sigs["ed25519:"+master.pub.String()] = sig.String()
		}),
		"signature truncated": edit(func(c map[string]any) {
			sigs := c["signatures"].(map[string]any)[testUser].(map[string]any)
			sigs["ed25519:"+master.pub.String()] = sigs["ed25519:"+master.pub.String()].(string)[:80]
		}),
		"signatures removed": edit(func(c map[string]any) { delete(c, "signatures") }),
	} {
		t.Run(name, func(t *testing.T) {
			a, err := keybackup.ParseAuthData(in)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := a.Verify(testUser, trusted); !errors.Is(err, keybackup.ErrUntrusted) {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// TestCheckTrustedSwappedBackup is the attack of SECURITY.md item 45: the
// server replaces the backup version with one whose key it holds. Without
// a trusted signature and without our private key, it is refused.
func TestCheckTrustedSwappedBackup(t *testing.T) {
	ours, _ := keybackup.GenerateBackupKey()
	theirs, _ := keybackup.GenerateBackupKey()
	device := newDevice(t)
	trusted := keybackup.DeviceSigningKey("DEVICE", device.Ed25519Key())

	// The server's version, self-signed by a device it invented.
	fake := newDevice(t)
	swapped := keybackup.NewAuthData(theirs.PublicKey())
	swapped.Sign(testUser, "DEVICE", fake.Sign)
	if err := swapped.CheckTrusted(testUser, ours, trusted); !errors.Is(err, keybackup.ErrUntrusted) {
		t.Fatalf("swapped backup: err = %v", err)
	}
	// Our own backup, unsigned, is trusted because we hold its key.
	mine := keybackup.NewAuthData(ours.PublicKey())
	if err := mine.CheckTrusted(testUser, ours); err != nil {
		t.Fatal(err)
	}
	// Signed by our device, trusted without the private key.
	mine.Sign(testUser, "DEVICE", device.Sign)
	if err := mine.CheckTrusted(testUser, nil, trusted); err != nil {
		t.Fatal(err)
	}
}

func TestParseAuthDataErrors(t *testing.T) {
	bk, _ := keybackup.GenerateBackupKey()
	pub := bk.PublicKey().String()
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"empty", ``, keybackup.ErrBadFormat},
		{"null", `null`, keybackup.ErrBadFormat},
		{"array", `[]`, keybackup.ErrBadFormat},
		{"no public key", `{"signatures":{}}`, keybackup.ErrBadFormat},
		{"public key number", `{"public_key":5}`, keybackup.ErrBadFormat},
		{"public key short", `{"public_key":"AAAA"}`, keybackup.ErrBadPublicKey},
		{"public key not base64", `{"public_key":"` + strings.Repeat("*", 43) + `"}`, keybackup.ErrBadPublicKey},
		{"duplicate key", `{"public_key":"` + pub + `","public_key":"` + pub + `"}`, keybackup.ErrBadFormat},
		{"float", `{"public_key":"` + pub + `","x":1.5}`, keybackup.ErrBadFormat},
		{"integer respelt", `{"public_key":"` + pub + `","x":1.0}`, keybackup.ErrBadFormat},
		{"integer by exponent", `{"public_key":"` + pub + `","x":1e3}`, keybackup.ErrBadFormat},
		{"minus zero", `{"public_key":"` + pub + `","x":-0}`, keybackup.ErrBadFormat},
		{"signatures string", `{"public_key":"` + pub + `","signatures":"x"}`, keybackup.ErrBadFormat},
		{"signature number", `{"public_key":"` + pub + `","signatures":{"@a:b":{"ed25519:X":1}}}`, keybackup.ErrBadFormat},
		{"too large", `{"public_key":"` + pub + `","x":"` + strings.Repeat("a", keybackup.MaxAuthDataSize) + `"}`, keybackup.ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := keybackup.ParseAuthData([]byte(tt.in)); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestBackupVersion(t *testing.T) {
	bk, _ := keybackup.GenerateBackupKey()
	device := newDevice(t)
	ad := keybackup.NewAuthData(bk.PublicKey())
	ad.Sign(testUser, "DEVICE", device.Sign)
	v := &keybackup.BackupVersion{Algorithm: keybackup.BackupAlgorithm, AuthData: ad}
	body, err := v.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(body), "count") || strings.Contains(string(body), "version\"") {
		t.Fatalf("creation body has server fields: %s", body)
	}
	// What the server answers.
	var obj map[string]any
	json.Unmarshal(body, &obj)
	obj["version"], obj["count"], obj["etag"] = "7", 42, "abc"
	resp, _ := json.Marshal(obj)
	got, err := keybackup.ParseBackupVersion(resp)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != "7" || got.Count != 42 || got.ETag != "abc" || got.AuthData.PublicKey != bk.PublicKey() {
		t.Fatalf("got %+v", got)
	}
	if err := got.AuthData.CheckTrusted(testUser, nil, keybackup.DeviceSigningKey("DEVICE", device.Ed25519Key())); err != nil {
		t.Fatal(err)
	}

	obj["algorithm"] = "org.matrix.msc3270.v1.aes-hmac-sha2"
	other, _ := json.Marshal(obj)
	if _, err := keybackup.ParseBackupVersion(other); !errors.Is(err, keybackup.ErrUnsupportedAlgorithm) {
		t.Fatalf("err = %v", err)
	}
	for _, bad := range []string{``, `[]`, `{"algorithm":"` + keybackup.BackupAlgorithm + `"}`, `{"algorithm":"` + keybackup.BackupAlgorithm + `","auth_data":{}}`} {
		if _, err := keybackup.ParseBackupVersion([]byte(bad)); !errors.Is(err, keybackup.ErrBadFormat) {
			t.Errorf("%s: err = %v", bad, err)
		}
	}
	if _, err := (&keybackup.BackupVersion{Algorithm: keybackup.BackupAlgorithm}).MarshalJSON(); err == nil {
		t.Error("version without auth_data marshalled")
	}
}
