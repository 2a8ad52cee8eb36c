package machine_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/souverain/e2ee/machine"
	"github.com/souverain/e2ee/sas"
)

// policy is how a test bot answers what the machine reports.
type policy struct {
	onRequest string // "accept", "cancel", "ignore"
	onCompare string // "confirm", "mismatch", "cancel", "ignore"
}

// bot drives one client's verifications from the changes the machine
// reports, as an application would: no polling of Verifications().
type bot struct {
	c       *client
	p       policy
	r       *roomRelay
	changes []machine.VerificationChange
}

// roomRelay stands for a room: in-room verification events sent by the
// bots are delivered, in order, to both of them (the sender sees its own
// echo, as in a real room).
type roomRelay struct {
	bots  []*bot
	queue []roomMsg
	seq   int
	clock *clock
}

type roomMsg struct {
	from *bot
	ev   sas.Event
}

func (r *roomRelay) send(from *bot, evs []sas.Event) {
	for _, ev := range evs {
		r.queue = append(r.queue, roomMsg{from, ev})
	}
}

// deliver delivers one event with a fresh event ID, which it returns.
func (r *roomRelay) deliver(from *bot, ev sas.Event) string {
	r.seq++
	id := fmt.Sprintf("$verif%d", r.seq)
	for _, b := range r.bots {
		in := sas.Event{Type: ev.Type, Content: ev.Content, Sender: from.c.user, RoomID: ev.RoomID,
			EventID: id, OriginServerTS: r.clock.now().UnixMilli()}
		upd, err := b.c.m.ReceiveRoomVerificationEvent(ctx, in)
		if err != nil {
			b.c.t.Fatal(err)
		}
		b.c.flush()
		r.send(b, upd.RoomEvents)
		b.handle(upd.Changes)
	}
	return id
}

// pump delivers the queued events until none are left.
func (r *roomRelay) pump() {
	for len(r.queue) > 0 {
		m := r.queue[0]
		r.queue = r.queue[1:]
		r.deliver(m.from, m.ev)
	}
}

// handle acts on changes, and on the changes its own acts report.
func (b *bot) handle(chs []machine.VerificationChange) {
	b.c.t.Helper()
	for len(chs) > 0 {
		ch := chs[0]
		chs = chs[1:]
		b.changes = append(b.changes, ch)
		var evs []sas.Event
		var err error
		v := ch.Verification
		switch ch.Action {
		case machine.VerificationAcceptOrCancel:
			switch b.p.onRequest {
			case "accept":
				evs, err = v.Accept()
			case "cancel":
				evs = v.Cancel()
			}
		case machine.VerificationStartSAS:
			evs, err = v.StartSAS()
		case machine.VerificationCompare:
			switch b.p.onCompare {
			case "confirm":
				evs, err = v.Confirm()
			case "mismatch":
				evs, err = v.Mismatch()
			case "cancel":
				evs = v.Cancel()
			}
		}
		if err != nil {
			b.c.t.Fatalf("%s: %s: %v", b.c.user, ch.Action, err)
		}
		if len(evs) == 0 {
			continue
		}
		upd, err := b.c.m.SendVerificationEvents(ctx, evs)
		if err != nil {
			b.c.t.Fatal(err)
		}
		chs = append(chs, upd.Changes...)
		b.c.flush()
		b.r.send(b, upd.RoomEvents)
	}
}

func (b *bot) sync() {
	b.c.t.Helper()
	res, err := b.c.m.ReceiveSync(ctx, b.c.hs.Sync(b.c.user, b.c.dev))
	if err != nil {
		b.c.t.Fatal(err)
	}
	b.c.flush()
	b.r.send(b, res.VerificationRoomEvents)
	b.handle(res.Verifications)
	b.r.pump()
}

// trace renders the changes as "state/action" steps.
func (b *bot) trace() []string {
	var out []string
	for _, ch := range b.changes {
		out = append(out, ch.State.String()+"/"+ch.Action.String())
	}
	return out
}

func (b *bot) last() machine.VerificationChange {
	if len(b.changes) == 0 {
		return machine.VerificationChange{}
	}
	return b.changes[len(b.changes)-1]
}

// contains reports whether want appears in got in order.
func contains(got, want []string) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}

// TestVerificationChanges drives verifications between two machines only
// from what ReceiveSync, ReceiveRoomVerificationEvent and
// SendVerificationEvents report, to-device and in a room, with a table of
// outcomes: done, declined, mismatch, cancelled by the other side, and
// timeouts (of an unanswered request, and of a SAS nobody confirms), which
// ReceiveSync detects without any call of Tick. In a room each event is
// received by its own call, so a side may be told of more intermediate
// states than to-device (where one sync can carry several events): the
// wanted steps are checked in order, not as the whole trace.
func TestVerificationChanges(t *testing.T) {
	cases := []verificationCase{
		{
			name:  "accept, compare, confirm, done",
			alice: policy{onCompare: "confirm"}, bob: policy{onRequest: "accept", onCompare: "confirm"},
			aliceWant: []string{"requested/wait", "ready/start SAS", "keys exchanged/compare", "done/done"},
			bobWant:   []string{"request received/accept or cancel", "ready/wait", "keys exchanged/compare", "done/done"},
			wantDone:  true, compareShown: 2,
		},
		{
			name:  "declined",
			alice: policy{}, bob: policy{onRequest: "cancel"},
			aliceWant:   []string{"requested/wait", "cancelled/cancelled"},
			bobWant:     []string{"request received/accept or cancel", "cancelled/cancelled"},
			aliceCancel: sas.CancelUser, bobCancel: sas.CancelUser, bobByUs: true,
		},
		{
			name:  "mismatch",
			alice: policy{onCompare: "ignore"}, bob: policy{onRequest: "accept", onCompare: "mismatch"},
			// Bob's key and his cancel reach alice in one sync: she is
			// told of the end only.
			aliceWant:   []string{"ready/start SAS", "key sent/wait", "cancelled/cancelled"},
			bobWant:     []string{"keys exchanged/compare", "cancelled/cancelled"},
			aliceCancel: sas.CancelMismatchedSAS, bobCancel: sas.CancelMismatchedSAS, bobByUs: true, compareShown: 1,
		},
		{
			name:  "cancelled by the other side",
			alice: policy{onCompare: "cancel"}, bob: policy{onRequest: "accept", onCompare: "ignore"},
			aliceWant:   []string{"keys exchanged/compare", "cancelled/cancelled"},
			bobWant:     []string{"keys exchanged/compare", "cancelled/cancelled"},
			aliceCancel: sas.CancelUser, bobCancel: sas.CancelUser, aliceByUs: true, compareShown: 2,
		},
		{
			name:  "unanswered request times out",
			alice: policy{}, bob: policy{onRequest: "ignore"},
			wait:        sas.RequestPromptTimeout + time.Second,
			aliceWant:   []string{"requested/wait", "cancelled/cancelled"},
			bobWant:     []string{"request received/accept or cancel", "cancelled/cancelled"},
			aliceCancel: sas.CancelTimeout, bobCancel: sas.CancelTimeout, bobByUs: true,
		},
		{
			name:  "nobody confirms: timeout",
			alice: policy{onCompare: "ignore"}, bob: policy{onRequest: "accept", onCompare: "ignore"},
			wait:        sas.Timeout + time.Second,
			aliceWant:   []string{"keys exchanged/compare", "cancelled/cancelled"},
			bobWant:     []string{"keys exchanged/compare", "cancelled/cancelled"},
			aliceCancel: sas.CancelTimeout, bobCancel: sas.CancelTimeout, compareShown: 2,
			// Bob syncs first in each round: he times out and tells alice.
			bobByUs: true,
		},
	}
	for _, transport := range []string{"to-device", "in-room"} {
		for _, c := range cases {
			t.Run(transport+"/"+c.name, func(t *testing.T) {
				runVerificationCase(t, transport, c.alice, c.bob, c.wait, func(alice, bob *bot, w *world) {
					check(t, c, alice, bob, w, transport)
				})
			})
		}
	}
}

// runVerificationCase has alice request a verification of bob and both
// bots act on what their machines report, for some rounds of syncs (the
// clock advanced by wait in the middle), then calls done.
func runVerificationCase(t *testing.T, transport string, ap, bp policy, wait time.Duration, done func(alice, bob *bot, w *world)) {
	w := newWorld(t)
	r := &roomRelay{clock: w.clock}
	alice, bob := &bot{c: w.alice, p: ap, r: r}, &bot{c: w.bob, p: bp, r: r}
	r.bots = []*bot{alice, bob}
	w.alice.query(w.bob.user)
	w.bob.query(w.alice.user)
	if transport == "to-device" {
		_, evs, err := w.alice.m.Verifications().RequestToDevice(w.bob.user, w.bob.dev)
		if err != nil {
			t.Fatal(err)
		}
		upd, err := w.alice.m.SendVerificationEvents(ctx, evs)
		if err != nil {
			t.Fatal(err)
		}
		w.alice.flush()
		alice.handle(upd.Changes)
	} else {
		v, ev, err := w.alice.m.Verifications().RequestInRoom(w.room, w.bob.user)
		if err != nil {
			t.Fatal(err)
		}
		// The server gives the request its event ID before anyone sees it.
		r.seq++
		id := fmt.Sprintf("$verif%d", r.seq)
		if err := v.RequestSent(id); err != nil {
			t.Fatal(err)
		}
		r.seq--
		if got := r.deliver(alice, ev); got != id {
			t.Fatalf("request delivered as %s, want %s", got, id)
		}
		r.pump()
	}
	for round := 0; round < 8; round++ {
		bob.sync()
		alice.sync()
		if round == 4 && wait > 0 {
			w.clock.advance(wait)
		}
	}
	done(alice, bob, w)
}

type verificationCase struct {
	name         string
	alice, bob   policy
	wait         time.Duration // clock advance once nothing moves
	aliceWant    []string
	bobWant      []string
	aliceCancel  sas.CancelCode
	bobCancel    sas.CancelCode
	aliceByUs    bool
	bobByUs      bool
	wantDone     bool
	compareShown int
}

func check(t *testing.T, c verificationCase, alice, bob *bot, w *world, transport string) {
	t.Helper()
	if !contains(alice.trace(), c.aliceWant) {
		t.Errorf("alice saw %q, want %q in order", alice.trace(), c.aliceWant)
	}
	if !contains(bob.trace(), c.bobWant) {
		t.Errorf("bob saw %q, want %q in order", bob.trace(), c.bobWant)
	}
	for _, p := range []struct {
		b    *bot
		code sas.CancelCode
		us   bool
	}{{alice, c.aliceCancel, c.aliceByUs}, {bob, c.bobCancel, c.bobByUs}} {
		l := p.b.last()
		if c.wantDone {
			if l.Action != machine.VerificationDone || l.Result == nil || l.Result.DeviceKey == nil {
				t.Errorf("%s: last change %+v, want done with a device key", p.b.c.user, l)
			}
			continue
		}
		if l.Action != machine.VerificationCancelled || l.Cancellation == nil ||
			l.Cancellation.Code != p.code || l.Cancellation.ByUs != p.us {
			t.Errorf("%s: last change %+v (%+v), want cancelled %s by us %v", p.b.c.user, l, l.Cancellation, p.code, p.us)
		}
	}
	var shown []string
	for _, b := range []*bot{alice, bob} {
		for _, ch := range b.changes {
			if ch.Action == machine.VerificationCompare {
				if len(ch.Emojis) != 7 || len(ch.Decimals) != 3 || !slices.Contains(ch.SASMethods, sas.SASEmoji) {
					t.Errorf("%s: compare without a SAS: %+v", b.c.user, ch)
				}
				shown = append(shown, fmt.Sprint(ch.Emojis, ch.Decimals))
			}
		}
	}
	// In a room the side that mismatches may have shown its SAS to the
	// other side's bot too (each event is its own call): at least as many.
	if len(shown) < c.compareShown || transport == "to-device" && len(shown) != c.compareShown || len(shown) == 2 && shown[0] != shown[1] {
		t.Errorf("SAS shown: %q", shown)
	}
	// Each change is reported once: later syncs report nothing.
	w.alice.sync()
	if n := len(w.alice.lastResult.Verifications); n != 0 {
		t.Errorf("a quiet sync reported %d changes", n)
	}
	room := ""
	if transport == "in-room" {
		room = w.room
	}
	for _, ch := range append(alice.changes, bob.changes...) {
		if ch.FlowID == "" || ch.RoomID != room || ch.Verification == nil || !strings.HasPrefix(ch.OtherUser, "@") {
			t.Errorf("incomplete change %+v", ch)
		}
	}
}
