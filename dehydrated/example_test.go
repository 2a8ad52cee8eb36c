package dehydrated_test

import (
	"encoding/json"
	"fmt"

	"github.com/souverain/e2ee/dehydrated"
	"github.com/souverain/e2ee/internal/b64"
	"github.com/souverain/e2ee/megolm"
	"github.com/souverain/e2ee/olm"
)

// Example creates a dehydrated device, lets another device send it a room
// key while the user is offline, and rehydrates it to recover the key.
func Example() {
	// The user's client: a new device and the key kept in secret storage.
	key := dehydrated.GenerateKey()
	secret := key.Secret() // store under dehydrated.UnstableSecretName
	device, err := dehydrated.NewDevice("@alice:example.org")
	if err != nil {
		panic(err)
	}
	upload, err := device.UploadRequest(key, dehydrated.DefaultDisplayName)
	if err != nil {
		panic(err)
	}
	// PUT dehydrated.Path with the body json.Marshal(upload).

	// Bob's device claims a one-time key of the device and sends it a room
	// key over Olm; the homeserver keeps the event for the device.
	bob, _ := olm.NewAccount()
	var otk olm.Curve25519PublicKey
	for _, signed := range upload.OneTimeKeys {
		otk, _, err = olm.VerifySignedKey(signed, "@alice:example.org", upload.DeviceID, device.Account().Ed25519Key())
		if err != nil {
			panic(err)
		}
		break
	}
	session, _ := bob.NewOutboundSession(device.Account().Curve25519Key(), otk)
	group, _ := megolm.NewGroupSession()
	content, _ := json.Marshal(map[string]string{
		"algorithm":   olm.AlgorithmMegolm,
		"room_id":     "!history:example.org",
		"session_id":  group.SessionID(),
		"session_key": group.SessionKey().Encode(),
	})
	payload, _ := olm.NewPayload(bob, "@bob:example.org", "@alice:example.org", device.Account().Ed25519Key(), "m.room_key", content)
	m, _ := session.Encrypt(payload)
	event, _ := json.Marshal(map[string]any{
		"type":   "m.room.encrypted",
		"sender": "@bob:example.org",
		"content": map[string]any{
			"algorithm":  olm.AlgorithmOlm,
			"sender_key": bob.Curve25519Key().String(),
			"ciphertext": map[string]any{
				upload.DeviceID: map[string]any{"type": int(m.Type()), "body": b64.Encode(m.Bytes())},
			},
		},
	})
	sealed, _ := group.Encrypt([]byte("sent while every device was off"))

	// Later, a new device of Alice's: the key from secret storage, the
	// device from GET dehydrated.Path, its events from POST …/events.
	key2, err := dehydrated.KeyFromSecret(secret)
	if err != nil {
		panic(err)
	}
	deviceData, _ := json.Marshal(upload.DeviceData)
	r, err := dehydrated.Rehydrate(key2, "@alice:example.org", upload.DeviceID, deviceData)
	if err != nil {
		panic(err)
	}
	got := r.ReceiveEvents([]json.RawMessage{event})
	for _, rk := range got.RoomKeys {
		plain, _, err := rk.Session.Decrypt(sealed)
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s from %s: %s\n", rk.RoomID, rk.Sender, plain)
	}
	// Output:
	// !history:example.org from @bob:example.org: sent while every device was off
}
