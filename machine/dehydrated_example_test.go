package machine_test

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/souverain/e2ee/crossign"
	"github.com/souverain/e2ee/dehydrated"
	"github.com/souverain/e2ee/internal/fakehs"
	"github.com/souverain/e2ee/machine"
	"github.com/souverain/e2ee/machine/memstore"
)

// Alice uploads a dehydrated device and logs out; Bob writes to her; her
// next device rehydrates the dehydrated device, a page of events at a
// time, reads Bob's message and replaces the dehydrated device.
func ExampleMachine_CreateDehydratedDevice() {
	ctx := context.Background()
	hs := fakehs.New() // stands for HTTP calls to the homeserver
	room, alice, bob := "!room:example.org", "@alice:example.org", "@bob:example.org"
	open := func(user, device string) *machine.Machine {
		m, err := machine.New(ctx, machine.Options{UserID: user, DeviceID: device, Store: memstore.New(), PickleKey: make([]byte, machine.PickleKeySize)})
		if err != nil {
			panic(err)
		}
		m.SetRoomEncryption(ctx, room, json.RawMessage(`{"algorithm":"m.megolm.v1.aes-sha2"}`))
		return m
	}
	send := func(m *machine.Machine, reqs []machine.Request) {
		for _, r := range reqs {
			if body, err := hs.Do(m.UserID(), m.DeviceID(), r); err == nil {
				m.MarkRequestSent(ctx, r.ID, body)
			}
		}
	}
	// Alice's cross-signing keys, published, and held by her devices (as
	// secret storage would give them).
	ks, _ := crossign.GenerateKeys(alice)
	for _, u := range []crossign.Usage{crossign.UsageMaster, crossign.UsageSelfSigning} {
		k, _ := ks.PublicKey(u)
		hs.SetCrossSigningKey(alice, string(u), k.Bytes())
	}
	holdKeys := func(m *machine.Machine) {
		for _, k := range []*crossign.PrivateKey{ks.Master, ks.SelfSigning, ks.UserSigning} {
			m.SetSecret(ctx, k.Usage().SecretName(), k.Secret())
		}
	}

	a1 := open(alice, "PHONE")
	holdKeys(a1)
	d, err := a1.CreateDehydratedDevice(ctx, nil) // a new key, stored as a secret
	if err != nil {
		panic(err)
	}
	hs.Do(alice, "PHONE", d.Request) // PUT …/dehydrated_device
	key, _, _ := a1.Secret(ctx, dehydrated.SecretName)
	hs.DeleteDevice(alice, "PHONE") // Alice logs out

	b := open(bob, "BOB")
	for reqs, _ := b.ShareRoomKey(ctx, room, []string{alice, bob}); len(reqs) > 0; reqs, _ = b.ShareRoomKey(ctx, room, []string{alice, bob}) {
		send(b, reqs)
	}
	content, _ := b.EncryptRoomEvent(ctx, room, "m.room.message", json.RawMessage(`{"msgtype":"m.text","body":"sent while you were away"}`))
	event, _ := json.Marshal(map[string]any{"type": "m.room.encrypted", "sender": bob, "event_id": "$1", "origin_server_ts": 1, "content": content})

	a2 := open(alice, "LAPTOP")
	a2.SetSecret(ctx, dehydrated.SecretName, key) // from secret storage
	body, _ := hs.Do(alice, "LAPTOP", machine.GetDehydratedDeviceRequest())
	r, err := a2.Rehydrate(ctx, nil, body)
	if err != nil {
		panic(err)
	}
	for req := r.NextRequest(); req != nil; req = r.NextRequest() {
		page, _ := hs.Do(alice, "LAPTOP", *req) // POST …/dehydrated_device/{id}/events
		res, err := r.ReceiveEvents(ctx, page)
		if err != nil {
			panic(err)
		}
		fmt.Printf("%d room keys, %d refused, done: %v\n", len(res.RoomKeys), len(res.Failed), res.Done)
	}
	r.Close()

	dec, err := a2.DecryptRoomEvent(ctx, room, event)
	if err != nil {
		panic(err)
	}
	var msg struct{ Body string }
	json.Unmarshal(dec.Content, &msg)
	fmt.Printf("%s (%s key): %s\n", dec.Sender, dec.Provenance, msg.Body)

	holdKeys(a2)
	d2, _ := a2.CreateDehydratedDevice(ctx, nil) // the same key, a new device
	hs.Do(alice, "LAPTOP", d2.Request)
	fmt.Println("replaced:", d2.DeviceID != d.DeviceID, "new key:", d2.NewKey)
	// Output:
	// 1 room keys, 0 refused, done: false
	// 0 room keys, 0 refused, done: true
	// @bob:example.org (direct key): sent while you were away
	// replaced: true new key: false
}
