package interop_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/souverain/e2ee/dehydrated"
	"github.com/souverain/e2ee/signedjson"
)

// This file proves that souverain's dehydrated devices (MSC3814)
// interoperate with Element's crypto stack (matrix-rust-sdk's
// DehydratedDevices with vodozemac, as @matrix-org/matrix-sdk-crypto-wasm):
// a device Element creates is rehydrated by souverain, and a device
// souverain creates (in both device_data formats) is rehydrated by Element,
// with room keys sent to it in between by Element's OlmMachine, which
// shares keys only with a dehydrated device cross-signed by its owner. The
// node harness is element/dehydrated.mjs, which also plays the homeserver.

const dhUser = "@alice:example.org"

type dhInit struct {
	Ed25519           string `json:"ed25519"`
	Curve25519        string `json:"curve25519"`
	SelfSigningSeed   string `json:"self_signing_seed"`
	SelfSigningPublic string `json:"self_signing_public"`
	Versions          struct {
		MatrixSDKCrypto string `json:"matrix_sdk_crypto"`
		Vodozemac       string `json:"vodozemac"`
	} `json:"versions"`
}

type dhEvents struct {
	Events []json.RawMessage `json:"events"`
}

// dhKey is a fixed dehydration key, so that the captured vector can be
// checked later without node.
var dhKey = func() []byte {
	k := make([]byte, 32)
	for i := range k {
		k[i] = byte(0xd0 + i)
	}
	return k
}()

// TestDehydratedElementToSouverain: Element creates a dehydrated device,
// Element's OlmMachine sends it a room key, souverain rehydrates it and
// decrypts a room message with the key.
func TestDehydratedElementToSouverain(t *testing.T) {
	e := startNodeHarness(t, "dehydrated.mjs")
	var el dhInit
	e.call(&el, "init", map[string]any{"name": "e1", "user": dhUser, "device": "ELEMENT1", "cross_signing": true})
	t.Logf("Element: matrix-sdk-crypto %s, vodozemac %s", el.Versions.MatrixSDKCrypto, el.Versions.Vodozemac)

	var created struct {
		Body struct {
			DeviceID   string          `json:"device_id"`
			DeviceData json.RawMessage `json:"device_data"`
			DeviceKeys json.RawMessage `json:"device_keys"`
		} `json:"body"`
	}
	e.call(&created, "create_dehydrated", map[string]any{"name": "e1", "key": base64.StdEncoding.EncodeToString(dhKey)})
	var alg struct {
		Algorithm string `json:"algorithm"`
	}
	json.Unmarshal(created.Body.DeviceData, &alg)
	if alg.Algorithm != dehydrated.AlgorithmV2 {
		t.Fatalf("Element wrote device_data %s", created.Body.DeviceData)
	}

	const room = "!dehydrated:example.org"
	e.call(nil, "share", map[string]any{"name": "e1", "room": room, "users": []string{dhUser}})
	var enc struct {
		Content struct {
			Ciphertext string `json:"ciphertext"`
			SessionID  string `json:"session_id"`
		} `json:"content"`
	}
	e.call(&enc, "encrypt", map[string]any{"name": "e1", "room": room, "type": "m.room.message", "content": map[string]any{"msgtype": "m.text", "body": "sent while you were away"}})
	// Bob, another user on Element, shares a room with Alice too: his
	// client sends the key to her dehydrated device because Alice's
	// self-signing key signed it.
	var bob dhInit
	e.call(&bob, "init", map[string]any{"name": "bob", "user": "@bob:example.org", "device": "BOBPHONE"})
	const bobRoom = "!bob-and-alice:example.org"
	e.call(nil, "share", map[string]any{"name": "bob", "room": bobRoom, "users": []string{dhUser}})
	var bobEnc struct {
		Content struct {
			Ciphertext string `json:"ciphertext"`
			SessionID  string `json:"session_id"`
		} `json:"content"`
	}
	e.call(&bobEnc, "encrypt", map[string]any{"name": "bob", "room": bobRoom, "type": "m.room.message", "content": map[string]any{"msgtype": "m.text", "body": "from bob"}})

	var inbox dhEvents
	e.call(&inbox, "events", map[string]any{"user": dhUser, "device": created.Body.DeviceID})
	if len(inbox.Events) == 0 {
		t.Fatal("Element sent nothing to its dehydrated device")
	}

	key, err := dehydrated.NewKey(dhKey)
	if err != nil {
		t.Fatal(err)
	}
	r, err := dehydrated.Rehydrate(key, dhUser, created.Body.DeviceID, created.Body.DeviceData)
	if err != nil {
		t.Fatalf("rehydrate Element's device: %v", err)
	}
	// The device keys Element uploaded are those of the rehydrated account.
	var dk struct {
		Keys map[string]string `json:"keys"`
	}
	json.Unmarshal(created.Body.DeviceKeys, &dk)
	if dk.Keys["curve25519:"+created.Body.DeviceID] != r.Account().Curve25519Key().String() ||
		dk.Keys["ed25519:"+created.Body.DeviceID] != r.Account().Ed25519Key().String() {
		t.Fatalf("identity keys differ: Element uploaded %v", dk.Keys)
	}
	got := r.ReceiveEvents(inbox.Events)
	if len(got.Failed) != 0 {
		t.Fatalf("failed events: %v", got.Failed)
	}
	if len(got.RoomKeys) != 2 {
		t.Fatalf("%d room keys", len(got.RoomKeys))
	}
	rk, bobKey := got.RoomKeys[0], got.RoomKeys[1]
	if bobKey.Sender != "@bob:example.org" || bobKey.RoomID != bobRoom || bobKey.SenderKey.String() != bob.Curve25519 ||
		bobKey.SenderEd25519.String() != bob.Ed25519 || bobKey.SessionID != bobEnc.Content.SessionID {
		t.Fatalf("Bob's room key %+v", bobKey)
	}
	bobCT, _ := base64.RawStdEncoding.DecodeString(bobEnc.Content.Ciphertext)
	bobPlain, _, err := bobKey.Session.Decrypt(bobCT)
	if err != nil || !strings.Contains(string(bobPlain), "from bob") {
		t.Fatalf("Bob's message: %s, %v", bobPlain, err)
	}
	if rk.RoomID != room || rk.SessionID != enc.Content.SessionID || rk.Sender != dhUser ||
		rk.SenderKey.String() != el.Curve25519 || rk.SenderEd25519.String() != el.Ed25519 {
		t.Fatalf("room key %+v", rk)
	}
	ct, err := base64.RawStdEncoding.DecodeString(enc.Content.Ciphertext)
	if err != nil {
		t.Fatal(err)
	}
	plain, _, err := rk.Session.Decrypt(ct)
	if err != nil {
		t.Fatalf("decrypt Element's message with the rehydrated key: %v", err)
	}
	var ev struct {
		Content struct {
			Body string `json:"body"`
		} `json:"content"`
	}
	json.Unmarshal(plain, &ev)
	if ev.Content.Body != "sent while you were away" {
		t.Fatalf("decrypted %s", plain)
	}

	// Keep Element's device as a vector for the core tests (which run
	// without node) when asked to.
	if os.Getenv("SOUVERAIN_WRITE_VECTORS") != "" {
		v := map[string]any{
			"comment":     "A dehydrated device created by Element's crypto stack (DehydratedDevices.create, keysForUpload) under the key, with the identity keys it uploaded, and the Megolm sessions Element's OlmMachine then sent it: one from the same user, one from another user (Bob), each with a room message encrypted in it.",
			"origin":      "@matrix-org/matrix-sdk-crypto-wasm " + el.Versions.MatrixSDKCrypto + " (matrix-sdk-crypto), vodozemac " + el.Versions.Vodozemac + ", via interop/dehydrated_element_test.go",
			"user_id":     dhUser,
			"key":         base64.RawStdEncoding.EncodeToString(dhKey),
			"device_id":   created.Body.DeviceID,
			"device_data": created.Body.DeviceData,
			"curve25519":  r.Account().Curve25519Key().String(),
			"ed25519":     r.Account().Ed25519Key().String(),
			"events":      inbox.Events,
			"room_keys": []map[string]any{
				{"sender": dhUser, "room_id": room, "session_id": rk.SessionID, "sender_key": el.Curve25519, "sender_ed25519": el.Ed25519,
					"ciphertext": enc.Content.Ciphertext, "plaintext": string(plain)},
				{"sender": "@bob:example.org", "room_id": bobRoom, "session_id": bobKey.SessionID, "sender_key": bob.Curve25519, "sender_ed25519": bob.Ed25519,
					"ciphertext": bobEnc.Content.Ciphertext, "plaintext": string(bobPlain)},
			},
		}
		b, _ := json.MarshalIndent(v, "", "  ")
		if err := os.WriteFile(filepath.Join("..", "dehydrated", "testdata", "element_device.json"), append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDehydratedSouverainToElement: souverain creates a dehydrated device
// (cross-signed with the user's self-signing key), Element's OlmMachine
// sends it a room key, and another Element device of the user rehydrates
// it, imports the key and decrypts the room message.
func TestDehydratedSouverainToElement(t *testing.T) {
	for _, alg := range []string{dehydrated.AlgorithmV2, dehydrated.AlgorithmV1} {
		t.Run(alg, func(t *testing.T) {
			e := startNodeHarness(t, "dehydrated.mjs")
			var el dhInit
			e.call(&el, "init", map[string]any{"name": "e1", "user": dhUser, "device": "ELEMENT1", "cross_signing": true})
			var el2 dhInit
			e.call(&el2, "init", map[string]any{"name": "e2", "user": dhUser, "device": "ELEMENT2"})

			key := dehydrated.GenerateKey()
			d, err := dehydrated.NewDevice(dhUser)
			if err != nil {
				t.Fatal(err)
			}
			req, err := d.UploadRequestWithAlgorithm(key, dehydrated.DefaultDisplayName, alg)
			if err != nil {
				t.Fatal(err)
			}
			seed, err := base64.RawStdEncoding.DecodeString(el.SelfSigningSeed)
			if err != nil || len(seed) != ed25519.SeedSize {
				t.Fatalf("self-signing seed %q: %v", el.SelfSigningSeed, err)
			}
			if err := req.SignDeviceKeys(dhUser, signedjson.KeyID(el.SelfSigningPublic), ed25519.NewKeyFromSeed(seed)); err != nil {
				t.Fatal(err)
			}
			e.call(nil, "put_dehydrated", map[string]any{"user": dhUser, "body": req})

			const room = "!dehydrated:example.org"
			e.call(nil, "share", map[string]any{"name": "e1", "room": room, "users": []string{dhUser}})
			var enc struct {
				Content json.RawMessage `json:"content"`
			}
			e.call(&enc, "encrypt", map[string]any{"name": "e1", "room": room, "type": "m.room.message", "content": map[string]any{"msgtype": "m.text", "body": "history for the new device"}})
			var inbox dhEvents
			e.call(&inbox, "events", map[string]any{"user": dhUser, "device": d.DeviceID()})
			if len(inbox.Events) == 0 {
				t.Fatal("Element sent nothing to souverain's dehydrated device (not cross-signed?)")
			}

			// souverain reads its own device back too.
			data, _ := json.Marshal(req.DeviceData)
			r, err := dehydrated.Rehydrate(key, dhUser, d.DeviceID(), data)
			if err != nil {
				t.Fatal(err)
			}
			if got := r.ReceiveEvents(inbox.Events); len(got.RoomKeys) != 1 {
				t.Fatalf("souverain: %+v", got)
			}

			var rehydrated struct {
				RoomKeys []struct {
					RoomID    string `json:"room_id"`
					SessionID string `json:"session_id"`
					SenderKey string `json:"sender_key"`
				} `json:"room_keys"`
			}
			e.call(&rehydrated, "rehydrate", map[string]any{
				"name": "e2", "key": base64.StdEncoding.EncodeToString(key.Bytes()),
				"device_id": d.DeviceID(), "device_data": req.DeviceData, "events": inbox.Events,
			})
			if len(rehydrated.RoomKeys) != 1 || rehydrated.RoomKeys[0].RoomID != room || rehydrated.RoomKeys[0].SenderKey != el.Curve25519 {
				t.Fatalf("Element rehydrated %+v", rehydrated.RoomKeys)
			}
			var dec struct {
				Event struct {
					Content struct {
						Body string `json:"body"`
					} `json:"content"`
				} `json:"event"`
			}
			event := map[string]any{
				"type": "m.room.encrypted", "sender": dhUser, "event_id": "$history", "origin_server_ts": 1,
				"room_id": room, "content": enc.Content,
			}
			e.call(&dec, "decrypt", map[string]any{"name": "e2", "room": room, "event": event})
			if dec.Event.Content.Body != "history for the new device" {
				t.Fatalf("Element decrypted %+v", dec)
			}
		})
	}
}

// TestDehydratedSouverainSendsToElementDevice: a room key sent by souverain
// (megolm and olm packages) to Element's dehydrated device is found by
// souverain's and Element's rehydration alike.
func TestDehydratedSouverainSendsToElementDevice(t *testing.T) {
	e := startNodeHarness(t, "dehydrated.mjs")
	var el dhInit
	e.call(&el, "init", map[string]any{"name": "e1", "user": dhUser, "device": "ELEMENT1", "cross_signing": true})
	var el2 dhInit
	e.call(&el2, "init", map[string]any{"name": "e2", "user": dhUser, "device": "ELEMENT2"})
	var created struct {
		Body dehydrated.UploadRequest `json:"body"`
	}
	key := dehydrated.GenerateKey()
	e.call(&created, "create_dehydrated", map[string]any{"name": "e1", "key": base64.StdEncoding.EncodeToString(key.Bytes())})

	bob := newDhSender(t, "@bob:example.org")
	ev, group := bob.roomKey(&created.Body, dhUser, "!bob:example.org")
	sealed, err := group.Encrypt([]byte(`{"type":"m.room.message","content":{"msgtype":"m.text","body":"from souverain"},"room_id":"!bob:example.org"}`))
	if err != nil {
		t.Fatal(err)
	}

	data, _ := json.Marshal(created.Body.DeviceData)
	r, err := dehydrated.Rehydrate(key, dhUser, created.Body.DeviceID, data)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.ReceiveEvents([]json.RawMessage{ev}); len(got.RoomKeys) != 1 || got.RoomKeys[0].SessionID != group.SessionID() {
		t.Fatalf("souverain: %+v", got)
	}
	var rehydrated struct {
		RoomKeys []struct {
			SessionID string `json:"session_id"`
			SenderKey string `json:"sender_key"`
		} `json:"room_keys"`
	}
	e.call(&rehydrated, "rehydrate", map[string]any{
		"name": "e2", "key": base64.StdEncoding.EncodeToString(key.Bytes()),
		"device_id": created.Body.DeviceID, "device_data": created.Body.DeviceData, "events": []json.RawMessage{ev},
	})
	if len(rehydrated.RoomKeys) != 1 || rehydrated.RoomKeys[0].SessionID != group.SessionID() || rehydrated.RoomKeys[0].SenderKey != bob.account.Curve25519Key().String() {
		t.Fatalf("Element rehydrated %+v", rehydrated.RoomKeys)
	}
	var dec struct {
		Event struct {
			Content struct {
				Body string `json:"body"`
			} `json:"content"`
		} `json:"event"`
	}
	event := map[string]any{
		"type": "m.room.encrypted", "sender": "@bob:example.org", "event_id": "$bob", "origin_server_ts": 1, "room_id": "!bob:example.org",
		"content": map[string]any{
			"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": base64.RawStdEncoding.EncodeToString(sealed),
			"sender_key": bob.account.Curve25519Key().String(), "device_id": "BOB", "session_id": group.SessionID(),
		},
	}
	e.call(&dec, "decrypt", map[string]any{"name": "e2", "room": "!bob:example.org", "event": event})
	if dec.Event.Content.Body != "from souverain" {
		t.Fatalf("Element decrypted %+v", dec)
	}
}

// TestDehydratedElementKeySecret: the key Element makes and stores in
// secret storage (DehydratedDeviceKey.toBase64) is what KeyFromSecret reads.
func TestDehydratedElementKeySecret(t *testing.T) {
	e := startNodeHarness(t, "dehydrated.mjs")
	e.call(nil, "init", map[string]any{"name": "e1", "user": dhUser, "device": "ELEMENT1", "cross_signing": true})
	var created struct {
		Body      dehydrated.UploadRequest `json:"body"`
		KeyBase64 string                   `json:"key_base64"`
	}
	e.call(&created, "create_dehydrated", map[string]any{"name": "e1"})
	key, err := dehydrated.KeyFromSecret(created.KeyBase64)
	if err != nil {
		t.Fatalf("Element's secret %q: %v", created.KeyBase64, err)
	}
	data, _ := json.Marshal(created.Body.DeviceData)
	if _, err := dehydrated.Rehydrate(key, dhUser, created.Body.DeviceID, data); err != nil {
		t.Fatalf("rehydrate with the key from Element's secret: %v", err)
	}
	if key.Secret() != created.KeyBase64 {
		t.Fatalf("Secret() = %q, Element stores %q", key.Secret(), created.KeyBase64)
	}
}
