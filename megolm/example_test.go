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
	imported, _ := megolm.ImportInboundGroupSessionFrom(later, megolm.ProvenanceForwarded)

	fmt.Println(imported.Compare(direct), direct.Compare(imported))
	best := imported.Merge(direct)
	fmt.Println(best.FirstKnownIndex(), best.Provenance())
	// Output:
	// Worse Better
	// 0 direct
}

// What a client shows beside a decrypted message depends on how the
// session reached it. A backup entry can be written by anyone who knows the
// backup's public key: its messages decrypt, but the session never counts
// as coming from the sender it names, however many messages decrypt.
func ExampleInboundGroupSession_Provenance() {
	sender, _ := megolm.NewGroupSession()
	roomKey := sender.SessionKey()
	ciphertext, _ := sender.Encrypt([]byte("hello"))

	// Received in m.room_key over Olm: the key is signed by the session's
	// creator, who is the Olm sender.
	direct, _ := megolm.NewInboundGroupSession(roomKey)
	// The same session restored from a server-side backup.
	restored, _ := megolm.ImportInboundGroupSessionFrom(direct.Export(), megolm.ProvenanceBackup)

	for _, s := range []*megolm.InboundGroupSession{direct, restored} {
		checked := s.SignatureChecked()
		plaintext, _, err := s.Decrypt(ciphertext)
		authenticated := s.Provenance() == megolm.ProvenanceDirect
		fmt.Printf("%s: %s (err %v); signature checked %v then %v; sender authenticated: %v\n",
			s.Provenance(), plaintext, err, checked, s.SignatureChecked(), authenticated)
	}
	// Output:
	// direct: hello (err <nil>); signature checked true then true; sender authenticated: true
	// backup: hello (err <nil>); signature checked false then true; sender authenticated: false
}
