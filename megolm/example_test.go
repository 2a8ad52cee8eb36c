package megolm_test

import (
	"fmt"

	"github.com/souverain/e2ee/megolm"
)

// A sender shares one room key with three devices (in a client, inside
// m.room_key events sent over Olm) and each of them reads the room.
func Example() {
	sender, _ := megolm.NewGroupSession()
	roomKey := sender.SessionKey().Encode() // the m.room_key "session_key"

	var devices []*megolm.InboundGroupSession
	for range 3 {
		key, err := megolm.ParseSessionKey(roomKey)
		if err != nil {
			panic(err)
		}
		s, _ := megolm.NewInboundGroupSession(key)
		devices = append(devices, s)
	}

	ciphertext, _ := sender.Encrypt([]byte(`{"type":"m.room.message","content":{"body":"hello, room"}}`))
	for i, d := range devices {
		plaintext, index, err := d.Decrypt(ciphertext)
		fmt.Printf("device %d: index %d, same session %v, err %v: %s\n", i, index, d.SessionID() == sender.SessionID(), err, plaintext)
	}
	// Output:
	// device 0: index 0, same session true, err <nil>: {"type":"m.room.message","content":{"body":"hello, room"}}
	// device 1: index 0, same session true, err <nil>: {"type":"m.room.message","content":{"body":"hello, room"}}
	// device 2: index 0, same session true, err <nil>: {"type":"m.room.message","content":{"body":"hello, room"}}
}

// A key forwarded or restored from backup arrives in the export format; the
// better of two copies is kept.
func ExampleInboundGroupSession_Merge() {
	sender, _ := megolm.NewGroupSession()
	key, _ := megolm.ParseSessionKey(sender.SessionKey().Encode())
	direct, _ := megolm.NewInboundGroupSession(key)

	later, _ := direct.ExportAt(5)
	imported, _ := megolm.ImportInboundGroupSession(later)

	fmt.Println(imported.Compare(direct), direct.Compare(imported))
	best := imported.Merge(direct)
	fmt.Println(best.FirstKnownIndex(), best.IsVerified())
	// Output:
	// Worse Better
	// 0 true
}
