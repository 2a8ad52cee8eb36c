package machine_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/souverain/e2ee/machine"
)

func TestRoundTrip(t *testing.T) {
	w := newWorld(t)
	a, b := w.alice, w.bob
	a.share(w.room, a.user, b.user)
	ev := roomEvent(w.room, a.user, a.encrypt(w.room, `{"msgtype":"m.text","body":"hello"}`))

	res := b.sync()
	if len(res.RoomKeys) != 1 || res.RoomKeys[0].RoomID != w.room || res.RoomKeys[0].Provenance != machine.ProvenanceDirect {
		t.Fatalf("room keys received: %+v", res.RoomKeys)
	}
	d := b.decrypt(w.room, ev)
	if d.Type != "m.room.message" || !strings.Contains(string(d.Content), "hello") {
		t.Errorf("decrypted %s %s", d.Type, d.Content)
	}
	if d.Sender != a.user || d.SenderDevice == nil || d.SenderDevice.DeviceID != "ALICE" {
		t.Errorf("sender %s device %+v", d.Sender, d.SenderDevice)
	}
	if d.Provenance != machine.ProvenanceDirect || d.Verification != machine.VerificationUnsigned {
		t.Errorf("provenance %s verification %s", d.Provenance, d.Verification)
	}
	// Alice reads her own message.
	if d := a.decrypt(w.room, ev); !strings.Contains(string(d.Content), "hello") {
		t.Errorf("alice decrypted %s", d.Content)
	}

	// Bob answers over the same Olm channel and his own Megolm session.
	b.share(w.room, a.user, b.user)
	ev2 := roomEvent(w.room, b.user, b.encrypt(w.room, `{"msgtype":"m.text","body":"hi alice"}`))
	a.sync()
	if d := a.decrypt(w.room, ev2); !strings.Contains(string(d.Content), "hi alice") {
		t.Errorf("alice decrypted %s", d.Content)
	}

	// Same event again: fine. Same ciphertext under another event ID: replay.
	b.decrypt(w.room, ev)
	var orig map[string]any
	json.Unmarshal(ev, &orig)
	orig["event_id"] = "$other"
	forged, _ := json.Marshal(orig)
	if _, err := b.m.DecryptRoomEvent(ctx, w.room, forged); !errors.Is(err, machine.ErrReplay) {
		t.Errorf("replayed index: %v, want ErrReplay", err)
	}
	// The replay record survives a restart.
	b.restart()
	b.decrypt(w.room, ev)
	if _, err := b.m.DecryptRoomEvent(ctx, w.room, forged); !errors.Is(err, machine.ErrReplay) {
		t.Errorf("replayed index after restart: %v, want ErrReplay", err)
	}
}
