package dehydrated_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/souverain/e2ee/dehydrated"
)

// elementDevice is testdata/element_device.json: a dehydrated device that
// Element's crypto stack created, captured by
// interop/dehydrated_element_test.go (SOUVERAIN_WRITE_VECTORS=1).
type elementDevice struct {
	Origin     string            `json:"origin"`
	UserID     string            `json:"user_id"`
	Key        string            `json:"key"`
	DeviceID   string            `json:"device_id"`
	DeviceData json.RawMessage   `json:"device_data"`
	Curve25519 string            `json:"curve25519"`
	Ed25519    string            `json:"ed25519"`
	Events     []json.RawMessage `json:"events"`
	RoomKeys   []struct {
		Sender        string `json:"sender"`
		RoomID        string `json:"room_id"`
		SessionID     string `json:"session_id"`
		SenderKey     string `json:"sender_key"`
		SenderEd25519 string `json:"sender_ed25519"`
		Ciphertext    string `json:"ciphertext"`
		Plaintext     string `json:"plaintext"`
	} `json:"room_keys"`
}

func loadElementDevice(t testing.TB) *elementDevice {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "element_device.json"))
	if err != nil {
		t.Fatal(err)
	}
	var v elementDevice
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return &v
}

// TestElementDevice rehydrates the device Element created and decrypts the
// room messages whose keys Element sent to it, from its owner and from
// another user.
func TestElementDevice(t *testing.T) {
	v := loadElementDevice(t)
	key, err := dehydrated.KeyFromSecret(v.Key)
	if err != nil {
		t.Fatal(err)
	}
	r, err := dehydrated.Rehydrate(key, v.UserID, v.DeviceID, v.DeviceData)
	if err != nil {
		t.Fatalf("%s: %v", v.Origin, err)
	}
	if r.Account().Curve25519Key().String() != v.Curve25519 || r.Account().Ed25519Key().String() != v.Ed25519 {
		t.Fatalf("identity keys %s %s", r.Account().Curve25519Key(), r.Account().Ed25519Key())
	}
	got := r.ReceiveEvents(v.Events)
	if len(got.RoomKeys) != len(v.RoomKeys) || len(got.Failed) != 0 {
		t.Fatalf("received %+v", got)
	}
	for i, want := range v.RoomKeys {
		rk := got.RoomKeys[i]
		if rk.Sender != want.Sender || rk.RoomID != want.RoomID || rk.SessionID != want.SessionID ||
			rk.SenderKey.String() != want.SenderKey || rk.SenderEd25519.String() != want.SenderEd25519 {
			t.Fatalf("room key %d: %+v", i, rk)
		}
		ct, _ := base64.RawStdEncoding.DecodeString(want.Ciphertext)
		plain, _, err := rk.Session.Decrypt(ct)
		if err != nil || string(plain) != want.Plaintext {
			t.Fatalf("room key %d decrypted %q, %v", i, plain, err)
		}
	}

	// Must fail: another key; a changed pickle.
	if _, err := dehydrated.Rehydrate(dehydrated.GenerateKey(), v.UserID, v.DeviceID, v.DeviceData); !errors.Is(err, dehydrated.ErrWrongKey) {
		t.Fatalf("wrong key: %v", err)
	}
	var d dehydrated.DeviceData
	json.Unmarshal(v.DeviceData, &d)
	p := []byte(d.DevicePickle)
	p[10] ^= 'A' ^ 'B'
	if p[10] == '+' || p[10] == '/' {
		p[10] = 'C'
	}
	d.DevicePickle = string(p)
	changed, _ := json.Marshal(d)
	if _, err := dehydrated.Rehydrate(key, v.UserID, v.DeviceID, changed); !errors.Is(err, dehydrated.ErrWrongKey) {
		t.Fatalf("changed pickle: %v", err)
	}
}
