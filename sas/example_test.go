package sas_test

import (
	"fmt"

	"github.com/souverain/e2ee/olm"
	"github.com/souverain/e2ee/sas"
)

// Two devices verify each other with emojis. Each has a Machine; the
// caller carries the events between them (in a client, through
// /sendToDevice and /sync). Both screens show the same 7 emojis, the users
// say they match, and each side ends with the other's keys verified. The
// emojis differ on every run; ExampleShortAuthString_Emojis shows how they
// print.
func Example() {
	aliceAccount, _ := olm.NewAccount()
	bobAccount, _ := olm.NewAccount()
	// What /keys/query returned, signatures checked.
	directory := map[string]sas.UserKeys{
		"@alice:example.org": {Devices: map[string]olm.Ed25519PublicKey{"ALICEDEVICE": aliceAccount.Ed25519Key()}},
		"@bob:example.org":   {Devices: map[string]olm.Ed25519PublicKey{"BOBDEVICE": bobAccount.Ed25519Key()}},
	}
	keys := func(user string) (sas.UserKeys, bool) { k, ok := directory[user]; return k, ok }
	alice, _ := sas.NewMachine(sas.Config{UserID: "@alice:example.org", DeviceID: "ALICEDEVICE", DeviceKey: aliceAccount.Ed25519Key(), Keys: keys})
	bob, _ := sas.NewMachine(sas.Config{UserID: "@bob:example.org", DeviceID: "BOBDEVICE", DeviceKey: bobAccount.Ed25519Key(), Keys: keys})

	// relay delivers events to-device until both sides are quiet.
	relay := func(from string, evs []sas.Event) {
		type msg struct {
			from string
			ev   sas.Event
		}
		queue := []msg{}
		for _, ev := range evs {
			queue = append(queue, msg{from, ev})
		}
		for len(queue) > 0 {
			m := queue[0]
			queue = queue[1:]
			to, sender := bob, "@alice:example.org"
			if m.ev.ToUser == "@alice:example.org" {
				to, sender = alice, "@bob:example.org"
			}
			out, err := to.Receive(sas.Event{Type: m.ev.Type, Content: m.ev.Content, Sender: sender})
			if err != nil {
				fmt.Println(err)
			}
			for _, ev := range out {
				queue = append(queue, msg{m.ev.ToUser, ev})
			}
		}
	}

	va, out, _ := alice.RequestToDevice("@bob:example.org", "BOBDEVICE")
	relay("@alice:example.org", out)
	vb := bob.Verification("", va.FlowID())
	out, _ = vb.Accept() // Bob accepts the request
	relay("@bob:example.org", out)
	out, _ = va.StartSAS()
	relay("@alice:example.org", out)

	sa, _, _ := va.ShortAuthString()
	sb, _, _ := vb.ShortAuthString()
	// Each device shows its ShortAuthString().Emojis(): symbol and name.
	fmt.Println("both show the same 7 emojis:", sa.Emojis() == sb.Emojis())

	out, _ = va.Confirm() // Alice: they match
	relay("@alice:example.org", out)
	out, _ = vb.Confirm() // Bob: they match
	relay("@bob:example.org", out)

	r, _ := va.Result()
	fmt.Println(va.State(), r.DeviceID, *r.DeviceKey == bobAccount.Ed25519Key())
	r, _ = vb.Result()
	fmt.Println(vb.State(), r.DeviceID, *r.DeviceKey == aliceAccount.Ed25519Key())
	// Output:
	// both show the same 7 emojis: true
	// done BOBDEVICE true
	// done ALICEDEVICE true
}

// The emojis and decimals for fixed SAS bytes, as users see them.
func ExampleShortAuthString_Emojis() {
	s := sas.ShortAuthString{0x04, 0x20, 0xc4, 0x14, 0x61, 0xc8}
	for _, e := range s.Emojis() {
		fmt.Println(e)
	}
	fmt.Println(s)
	// Output:
	// 🐱 Cat
	// 🦁 Lion
	// 🐎 Horse
	// 🦄 Unicorn
	// 🐷 Pig
	// 🐘 Elephant
	// 🐰 Rabbit
	// 1132-1784-3608
}

// Two ephemeral keys, exchanged, give both sides the same string.
func ExampleSAS_Establish() {
	alice, _ := sas.New()
	bob, _ := sas.New()
	aliceEst, _ := alice.Establish(bob.PublicKey())
	bobEst, _ := bob.Establish(alice.PublicKey())
	info := sas.SASInfo(sas.Party{UserID: "@alice:example.org", DeviceID: "A"}, alice.PublicKey(),
		sas.Party{UserID: "@bob:example.org", DeviceID: "B"}, bob.PublicKey(), "txn-1")
	fmt.Println(aliceEst.ShortAuthString(info) == bobEst.ShortAuthString(info))
	// Output: true
}
