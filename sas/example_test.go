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
			_, out, err := to.Receive(sas.Event{Type: m.ev.Type, Content: m.ev.Content, Sender: sender})
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

// A bot verifies whoever asks: it never polls Verifications, it learns of
// each new request from what Receive returns, accepts it, and confirms the
// emojis once its operator (here, the log) has seen them. The other side
// is a user's device, driven as in Example.
func ExampleMachine_Receive() {
	botAccount, _ := olm.NewAccount()
	userAccount, _ := olm.NewAccount()
	directory := map[string]sas.UserKeys{
		"@bot:example.org":   {Devices: map[string]olm.Ed25519PublicKey{"BOTDEVICE": botAccount.Ed25519Key()}},
		"@alice:example.org": {Devices: map[string]olm.Ed25519PublicKey{"PHONE": userAccount.Ed25519Key()}},
	}
	keys := func(user string) (sas.UserKeys, bool) { k, ok := directory[user]; return k, ok }
	bot, _ := sas.NewMachine(sas.Config{UserID: "@bot:example.org", DeviceID: "BOTDEVICE", DeviceKey: botAccount.Ed25519Key(), Keys: keys})
	user, _ := sas.NewMachine(sas.Config{UserID: "@alice:example.org", DeviceID: "PHONE", DeviceKey: userAccount.Ed25519Key(), Keys: keys})

	// toUser stands for /sendToDevice: the user's device handles the
	// bot's events and returns its answers.
	toUser := func(evs []sas.Event) (answers []sas.Event) {
		for _, ev := range evs {
			_, out, _ := user.Receive(sas.Event{Type: ev.Type, Content: ev.Content, Sender: "@bot:example.org"})
			answers = append(answers, out...)
		}
		return answers
	}

	// onSync is the bot's handler for each verification event /sync
	// brings, and returns what to send.
	onSync := func(ev sas.Event) []sas.Event {
		v, out, err := bot.Receive(ev)
		if err != nil {
			fmt.Println("refused:", err)
		}
		if v == nil {
			return out
		}
		switch v.State() {
		case sas.StateRequestReceived: // a new request: accept it
			fmt.Println("request from", v.OtherUser(), v.OtherDevice())
			more, err := v.Accept()
			if err != nil {
				fmt.Println(err)
			}
			out = append(out, more...)
		case sas.StateKeysExchanged: // show the emojis, then confirm
			s, _, _ := v.ShortAuthString()
			fmt.Println("emojis to compare:", len(s.Emojis()))
			more, _ := v.Confirm()
			out = append(out, more...)
		case sas.StateDone:
			r, _ := v.Result()
			fmt.Println("verified", r.UserID, r.DeviceID)
		}
		return out
	}

	// The user asks the bot to verify, then starts SAS once it is ready;
	// the user confirms too once the emojis are shown.
	vu, pending, _ := user.RequestToDevice("@bot:example.org", "BOTDEVICE")
	for len(pending) > 0 {
		var next []sas.Event
		for _, ev := range pending {
			next = append(next, toUser(onSync(sas.Event{Type: ev.Type, Content: ev.Content, Sender: "@alice:example.org"}))...)
		}
		switch vu.State() {
		case sas.StateReady:
			out, _ := vu.StartSAS()
			next = append(next, out...)
		case sas.StateKeysExchanged:
			out, _ := vu.Confirm()
			next = append(next, out...)
		}
		pending = next
	}
	fmt.Println("user side:", vu.State())
	// Output:
	// request from @alice:example.org PHONE
	// emojis to compare: 7
	// verified @alice:example.org PHONE
	// user side: done
}
