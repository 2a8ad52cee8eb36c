package machine_test

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/souverain/e2ee/internal/fakehs"
	"github.com/souverain/e2ee/machine"
	"github.com/souverain/e2ee/machine/memstore"
)

// A bot's loop: feed /sync to the machine, send what it asks for, share the
// room key, encrypt and decrypt. The fake homeserver stands for net/http
// calls to a real one (method, path and JSON body of each request).
func Example() {
	ctx := context.Background()
	hs := fakehs.New()
	room := "!room:example.org"
	members := []string{"@alice:example.org", "@bob:example.org"}
	newBot := func(user, device string) *machine.Machine {
		m, err := machine.New(ctx, machine.Options{UserID: user, DeviceID: device, Store: memstore.New(), PickleKey: make([]byte, machine.PickleKeySize)})
		if err != nil {
			panic(err)
		}
		m.SetRoomEncryption(ctx, room, json.RawMessage(`{"algorithm":"m.megolm.v1.aes-sha2"}`)) // from the room state
		return m
	}
	send := func(m *machine.Machine, reqs []machine.Request) {
		for _, r := range reqs {
			if body, err := hs.Do(m.UserID(), m.DeviceID(), r); err == nil { // HTTP r.Method r.Path r.Body
				m.MarkRequestSent(ctx, r.ID, body)
			}
		}
	}
	sync := func(m *machine.Machine) {
		m.ReceiveSync(ctx, hs.Sync(m.UserID(), m.DeviceID())) // to_device, device_lists, key counts of /sync
		reqs, _ := m.OutgoingRequests(ctx)
		send(m, reqs)
	}
	alice, bob := newBot(members[0], "ALICE"), newBot(members[1], "BOB")
	sync(alice)
	sync(bob)

	for reqs, _ := alice.ShareRoomKey(ctx, room, members); len(reqs) > 0; reqs, _ = alice.ShareRoomKey(ctx, room, members) {
		send(alice, reqs)
	}
	content, _ := alice.EncryptRoomEvent(ctx, room, "m.room.message", json.RawMessage(`{"msgtype":"m.text","body":"hello"}`))
	event, _ := json.Marshal(map[string]any{"type": "m.room.encrypted", "sender": members[0], "event_id": "$1", "origin_server_ts": 1, "content": content})

	sync(bob)
	d, err := bob.DecryptRoomEvent(ctx, room, event)
	if err != nil {
		panic(err)
	}
	var msg struct{ Body string }
	json.Unmarshal(d.Content, &msg)
	fmt.Printf("%s (%s, %s key): %s\n", d.Sender, d.Verification, d.Provenance, msg.Body)
	// Output: @alice:example.org (unsigned, direct key): hello
}
