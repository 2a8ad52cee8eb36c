package machine_test

import (
	"context"
	"fmt"

	"github.com/souverain/e2ee/internal/fakehs"
	"github.com/souverain/e2ee/machine"
	"github.com/souverain/e2ee/machine/memstore"
	"github.com/souverain/e2ee/sas"
)

// A bot's verification loop: no polling. Each /sync's SyncResult says
// which verifications changed and what to do; the bot acts on the
// Verification, hands the events to SendVerificationEvents, and acts on
// the changes that reports in turn. Here Bob's bot accepts Alice's request
// and confirms the emojis (a real bot would show them to a human first,
// or confirm only with an explicit option).
func ExampleVerificationChange() {
	ctx := context.Background()
	hs := fakehs.New()
	newMachine := func(user, device string) *machine.Machine {
		m, err := machine.New(ctx, machine.Options{UserID: user, DeviceID: device, Store: memstore.New(), PickleKey: make([]byte, machine.PickleKeySize)})
		if err != nil {
			panic(err)
		}
		return m
	}
	flush := func(m *machine.Machine) {
		for reqs, _ := m.OutgoingRequests(ctx); len(reqs) > 0; reqs, _ = m.OutgoingRequests(ctx) {
			for _, r := range reqs {
				body, _ := hs.Do(m.UserID(), m.DeviceID(), r) // HTTP r.Method r.Path r.Body
				m.MarkRequestSent(ctx, r.ID, body)
			}
		}
	}
	// act is the bot's whole verification logic.
	var act func(m *machine.Machine, chs []machine.VerificationChange)
	act = func(m *machine.Machine, chs []machine.VerificationChange) {
		for _, ch := range chs {
			var evs []sas.Event
			switch ch.Action {
			case machine.VerificationAcceptOrCancel:
				fmt.Printf("%s: %s asks to verify\n", m.UserID(), ch.OtherUser)
				evs, _ = ch.Verification.Accept()
			case machine.VerificationStartSAS:
				evs, _ = ch.Verification.StartSAS()
			case machine.VerificationCompare:
				fmt.Printf("%s: compare %d emojis\n", m.UserID(), len(ch.Emojis))
				evs, _ = ch.Verification.Confirm()
			case machine.VerificationDone:
				fmt.Printf("%s: verified %s's device %s\n", m.UserID(), ch.Result.UserID, ch.Result.DeviceID)
			case machine.VerificationCancelled:
				fmt.Printf("%s: cancelled: %s\n", m.UserID(), ch.Cancellation.Code)
			}
			if len(evs) > 0 {
				upd, _ := m.SendVerificationEvents(ctx, evs) // and send upd.RoomEvents in their rooms
				flush(m)
				act(m, upd.Changes)
			}
		}
	}
	sync := func(m *machine.Machine) {
		res, _ := m.ReceiveSync(ctx, hs.Sync(m.UserID(), m.DeviceID()))
		flush(m) // and send res.VerificationRoomEvents in their rooms
		act(m, res.Verifications)
	}

	alice, bob := newMachine("@alice:example.org", "ALICE"), newMachine("@bob:example.org", "BOB")
	flush(alice) // device keys uploaded
	flush(bob)
	alice.UpdateTrackedUsers(ctx, []string{"@bob:example.org"})
	bob.UpdateTrackedUsers(ctx, []string{"@alice:example.org"})
	flush(alice)
	flush(bob)

	_, evs, _ := alice.Verifications().RequestToDevice("@bob:example.org", "BOB")
	alice.SendVerificationEvents(ctx, evs)
	flush(alice)
	for range 4 {
		sync(bob)
		sync(alice)
	}
	ds, _ := bob.Devices(ctx, "@alice:example.org")
	fmt.Println("Bob sees Alice's device as", ds[0].Verification)
	// Output:
	// @bob:example.org: @alice:example.org asks to verify
	// @bob:example.org: compare 7 emojis
	// @alice:example.org: compare 7 emojis
	// @bob:example.org: verified @alice:example.org's device ALICE
	// @alice:example.org: verified @bob:example.org's device BOB
	// Bob sees Alice's device as verified
}
