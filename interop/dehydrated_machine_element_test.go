package interop_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/souverain/e2ee/crossign"
	"github.com/souverain/e2ee/dehydrated"
	"github.com/souverain/e2ee/internal/fakehs"
	"github.com/souverain/e2ee/machine"
	"github.com/souverain/e2ee/machine/memstore"
)

// TestElementSharesWithMachineDehydratedDevice: the machine creates and
// uploads a cross-signed dehydrated device and its only device logs out;
// Element's crypto stack (matrix-rust-sdk's OlmMachine, sharing with all
// devices, which withholds keys from dehydrated devices that are not
// cross-signed) sends its room key to the dehydrated device; a new device
// of the machine's user rehydrates it and reads Element's messages. With
// the cross-signature stripped by the server, Element withholds the key.
func TestElementSharesWithMachineDehydratedDevice(t *testing.T) {
	for _, strip := range []bool{false, true} {
		name := "cross-signed"
		if strip {
			name = "unsigned"
		}
		t.Run(name, func(t *testing.T) {
			node := startRoomKeysElement(t)
			w := newMEWorld(t, node, "dehyd-"+name)
			ks, err := crossign.GenerateKeys(w.goUser)
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range []*crossign.PrivateKey{ks.Master, ks.SelfSigning, ks.UserSigning} {
				if err := w.m.SetSecret(meCtx, k.Usage().SecretName(), k.Secret()); err != nil {
					t.Fatal(err)
				}
				pub, err := ks.PublicKey(k.Usage())
				if err != nil {
					t.Fatal(err)
				}
				w.hs.SetCrossSigningKey(w.goUser, string(k.Usage()), pub.Bytes())
			}
			d, err := w.m.CreateDehydratedDevice(meCtx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.hs.Do(w.goUser, w.goDev, d.Request); err != nil {
				t.Fatal(err)
			}
			if strip {
				var up dehydrated.UploadRequest
				json.Unmarshal(d.Request.Body, &up)
				var keys map[string]any
				json.Unmarshal(up.DeviceKeys, &keys)
				sigs := keys["signatures"].(map[string]any)[w.goUser].(map[string]any)
				for id := range sigs {
					if id != "ed25519:"+d.DeviceID {
						delete(sigs, id)
					}
				}
				b, _ := json.Marshal(keys)
				w.hs.SetDeviceKeys(w.goUser, d.DeviceID, b)
			}
			secret, _, _ := w.m.Secret(meCtx, dehydrated.SecretName)
			w.hs.DeleteDevice(w.goUser, w.goDev)

			// Element learns the change, claims a one-time key of the
			// dehydrated device, shares and writes.
			w.elemSync()
			users := []string{w.goUser, w.elemUser}
			var claim struct {
				Request *rkRequest `json:"request"`
			}
			node.call(&claim, "missing_sessions", map[string]any{"users": users})
			if claim.Request != nil {
				w.elemSend([]rkRequest{*claim.Request})
			}
			var share struct {
				Requests []rkRequest `json:"requests"`
			}
			node.call(&share, "share_room_key", map[string]any{"room": w.room, "users": users})
			w.elemSend(share.Requests)
			var enc struct {
				Content json.RawMessage `json:"content"`
			}
			node.call(&enc, "encrypt", map[string]any{"room": w.room, "type": "m.room.message", "content": map[string]any{"msgtype": "m.text", "body": "while you were away"}})
			event := w.event(w.elemUser, enc.Content)

			inbox := w.hs.Peek(w.goUser, d.DeviceID)
			if len(inbox) != 1 {
				t.Fatalf("the dehydrated device got %d events", len(inbox))
			}
			if strip {
				if !strings.Contains(string(inbox[0]), "m.room_key.withheld") || !strings.Contains(string(inbox[0]), "m.unverified") {
					t.Fatalf("Element sent the unsigned dehydrated device %s", inbox[0])
				}
				return
			}
			if !strings.Contains(string(inbox[0]), `"m.room.encrypted"`) {
				t.Fatalf("Element sent the dehydrated device %s", inbox[0])
			}

			// A new device of the machine's user rehydrates.
			m2, err := machine.New(meCtx, machine.Options{UserID: w.goUser, DeviceID: "GODEV2", Store: memstore.New(), PickleKey: make([]byte, machine.PickleKeySize)})
			if err != nil {
				t.Fatal(err)
			}
			m2.SetSecret(meCtx, dehydrated.SecretName, secret)
			m2.SetRoomEncryption(meCtx, w.room, json.RawMessage(`{"algorithm":"m.megolm.v1.aes-sha2"}`))
			body, err := w.hs.Do(w.goUser, "GODEV2", machine.GetDehydratedDeviceRequest())
			if err != nil {
				t.Fatal(err)
			}
			r, err := m2.Rehydrate(meCtx, nil, body)
			if err != nil {
				t.Fatal(err)
			}
			var keys []machine.RoomKeyInfo
			for req := r.NextRequest(); req != nil; req = r.NextRequest() {
				page, err := w.hs.Do(w.goUser, "GODEV2", *req)
				if err != nil {
					t.Fatal(err)
				}
				res, err := r.ReceiveEvents(meCtx, page)
				if err != nil {
					t.Fatal(err)
				}
				if len(res.Failed) != 0 {
					t.Fatalf("refused: %v", res.Failed)
				}
				keys = append(keys, res.RoomKeys...)
			}
			if len(keys) != 1 || keys[0].RoomID != w.room {
				t.Fatalf("room keys: %+v", keys)
			}
			got, err := m2.DecryptRoomEvent(meCtx, w.room, event)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(got.Content), "while you were away") || got.Provenance != machine.ProvenanceDirect {
				t.Errorf("decrypted %s (%s)", got.Content, got.Provenance)
			}
		})
	}
}

// TestMachineRehydratesElementDehydratedDevice: Element's crypto stack
// (with its own cross-signing identity for Alice) creates Alice's
// dehydrated device, uploaded with Alice's cross-signing keys to the fake
// homeserver; Bob's machine, under its default policy, shares his room key
// with it (Element's device is marked dehydrated and cross-signed as the
// machine requires); a new machine device of Alice, holding the key Element
// made, rehydrates it and reads Bob's message.
func TestMachineRehydratesElementDehydratedDevice(t *testing.T) {
	e := startNodeHarness(t, "dehydrated.mjs")
	const alice, bob, room = "@alice:localhost", "@bob:localhost", "!mixed:localhost"
	e.call(nil, "init", map[string]any{"name": "e1", "user": alice, "device": "ELEMENT1", "cross_signing": true})
	var created struct {
		Body      json.RawMessage `json:"body"`
		KeyBase64 string          `json:"key_base64"`
	}
	e.call(&created, "create_dehydrated", map[string]any{"name": "e1"})
	var st struct {
		Server struct {
			CrossSigning map[string]map[string]json.RawMessage `json:"crossSigning"`
		} `json:"server"`
	}
	e.call(&st, "server", nil)
	hs := fakehs.New()
	cs := st.Server.CrossSigning[alice]
	if cs["master_key"] == nil || cs["self_signing_key"] == nil {
		t.Fatalf("Element's cross-signing keys: %v", cs)
	}
	hs.SetCrossSigningKey(alice, "master", cs["master_key"])
	hs.SetCrossSigningKey(alice, "self_signing", cs["self_signing_key"])
	if _, err := hs.Do(alice, "ELEMENT1", machine.Request{Method: "PUT", Path: dehydrated.Path, Body: created.Body}); err != nil {
		t.Fatalf("fakehs refused Element's dehydrated device: %v", err)
	}
	deviceID, _ := hs.DehydratedDevice(alice)

	open := func(user, dev string) *machine.Machine {
		m, err := machine.New(meCtx, machine.Options{UserID: user, DeviceID: dev, Store: memstore.New(), PickleKey: make([]byte, machine.PickleKeySize)})
		if err != nil {
			t.Fatal(err)
		}
		m.SetRoomEncryption(meCtx, room, json.RawMessage(`{"algorithm":"m.megolm.v1.aes-sha2"}`))
		return m
	}
	send := func(m *machine.Machine, reqs []machine.Request) {
		for _, r := range reqs {
			body, err := hs.Do(m.UserID(), m.DeviceID(), r)
			if err != nil {
				t.Fatalf("%s: %v", r.Kind, err)
			}
			if err := m.MarkRequestSent(meCtx, r.ID, body); err != nil {
				t.Fatal(err)
			}
		}
	}
	b := open(bob, "BOB")
	for i := 0; ; i++ {
		reqs, err := b.ShareRoomKey(meCtx, room, []string{alice, bob})
		if err != nil {
			t.Fatal(err)
		}
		if len(reqs) == 0 {
			break
		}
		if i > 10 {
			t.Fatal("sharing never ends")
		}
		send(b, reqs)
	}
	ds, _ := b.Devices(meCtx, alice)
	if len(ds) != 1 || !ds[0].Dehydrated || ds[0].Verification != machine.VerificationUnverifiedIdentity {
		t.Fatalf("Bob's view of Element's dehydrated device: %+v", ds)
	}
	if inbox := hs.Peek(alice, deviceID); len(inbox) != 1 || !strings.Contains(string(inbox[0]), `"m.room.encrypted"`) {
		t.Fatalf("Bob sent Element's dehydrated device %s", inbox)
	}
	content, err := b.EncryptRoomEvent(meCtx, room, "m.room.message", json.RawMessage(`{"msgtype":"m.text","body":"to Element's dehydrated device"}`))
	if err != nil {
		t.Fatal(err)
	}
	event, _ := json.Marshal(map[string]any{"type": "m.room.encrypted", "sender": bob, "room_id": room, "event_id": "$1", "origin_server_ts": 1, "content": content})

	a := open(alice, "GOALICE")
	if err := a.SetSecret(meCtx, dehydrated.UnstableSecretName, created.KeyBase64); err != nil {
		t.Fatal(err)
	}
	body, err := hs.Do(alice, "GOALICE", machine.GetDehydratedDeviceRequest())
	if err != nil {
		t.Fatal(err)
	}
	r, err := a.Rehydrate(meCtx, nil, body)
	if err != nil {
		t.Fatalf("rehydrate Element's device: %v", err)
	}
	keys := 0
	for req := r.NextRequest(); req != nil; req = r.NextRequest() {
		page, err := hs.Do(alice, "GOALICE", *req)
		if err != nil {
			t.Fatal(err)
		}
		res, err := r.ReceiveEvents(meCtx, page)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Failed) != 0 {
			t.Fatalf("refused: %v", res.Failed)
		}
		keys += len(res.RoomKeys)
	}
	if keys != 1 {
		t.Fatalf("%d room keys", keys)
	}
	got, err := a.DecryptRoomEvent(meCtx, room, event)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(got.Content), "to Element's dehydrated device") || got.Provenance != machine.ProvenanceDirect {
		t.Errorf("decrypted %s (%s)", got.Content, got.Provenance)
	}
}
