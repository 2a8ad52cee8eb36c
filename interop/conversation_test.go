package interop_test

import (
	"bytes"
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/souverain/e2ee/interop/libolm"
	"github.com/souverain/e2ee/olm"
)

var conversationSeed = flag.Uint64("conversation.seed", 0, "seed of TestRandomConversation's schedule (0: from the clock)")

// Schedule parameters of TestRandomConversation.
const (
	conversationSends = 1200 // messages sent per run, both directions
	deliveryWindow    = 10   // out-of-order delivery mostly picks among the oldest this many
	// maxTransientSkipped bounds the skipped keys an out-of-order delivery
	// may leave; maxDrops bounds the messages dropped per receiver, each of
	// which may leave one skipped key for good. Their sum is libolm's
	// MAX_SKIPPED_MESSAGE_KEYS, so the conversation never loses a key to
	// the list's limit.
	maxTransientSkipped = olm.MaxSkippedMessageKeys - maxDrops
	maxDrops            = 10
)

// convMsg is a message in flight.
type convMsg struct {
	w         wireMsg
	chain     int // sender's chain, numbered across the conversation
	index     int // index in the chain
	plaintext []byte
	seq       int
}

type chainModel struct {
	id, next int
}

type skipModel struct{ chain, index int }

// convEnd is one end of the conversation: the session in one
// implementation (primary), a copy in the other implementation (mirror)
// that receives every message too, and a model of libolm's ratchet state
// that predicts which messages decrypt.
type convEnd struct {
	name            string
	primary, mirror session

	sendChain, sendIndex int // sendChain -1: the next message starts a chain

	chains  []chainModel // receiver chains, newest first
	seen    map[int]bool // chains ever received
	skipped []skipModel  // newest first
	queue   []*convMsg   // in flight to this end, oldest first
	held    []heldMsg    // taken out of the queue for a long delay
	done    []*convMsg   // delivered, for replays
	drops   int          // messages dropped or held
}

// heldMsg is a message delayed far beyond the delivery window, so that its
// chain may be dropped by the receiver before it arrives.
type heldMsg struct {
	m       *convMsg
	release int // step of the conversation when it is delivered
}

// predict says whether m decrypts at e and returns the number of skipped
// keys afterwards, the chain a new chain would evict (-1 for none), and a
// function applying the change to the model.
func (e *convEnd) predict(m *convMsg) (ok bool, skippedAfter, evicts int, commit func()) {
	for ci := range e.chains {
		c := &e.chains[ci]
		if c.id != m.chain {
			continue
		}
		if m.index < c.next {
			j := slices.Index(e.skipped, skipModel{m.chain, m.index})
			if j < 0 {
				return false, len(e.skipped), -1, nil
			}
			return true, len(e.skipped) - 1, -1, func() { e.skipped = slices.Delete(e.skipped, j, j+1) }
		}
		return true, len(e.skipped) + m.index - c.next, -1, func() {
			for i := c.next; i < m.index; i++ {
				e.skipped = slices.Insert(e.skipped, 0, skipModel{m.chain, i})
			}
			c.next = m.index + 1
		}
	}
	if e.seen[m.chain] || e.sendChain < 0 {
		// An evicted chain, or a new chain without a sender chain to
		// compute it from.
		return false, len(e.skipped), -1, nil
	}
	evicts = -1
	if len(e.chains) == olm.MaxReceiverChains {
		evicts = e.chains[len(e.chains)-1].id
	}
	return true, len(e.skipped) + m.index, evicts, func() {
		e.chains = slices.Insert(e.chains, 0, chainModel{m.chain, m.index + 1})
		if len(e.chains) > olm.MaxReceiverChains {
			e.chains = e.chains[:olm.MaxReceiverChains]
		}
		e.seen[m.chain] = true
		for i := range m.index {
			e.skipped = slices.Insert(e.skipped, 0, skipModel{m.chain, i})
		}
		e.sendChain = -1 // the ratchet turns: the next send starts a chain
	}
}

func (e *convEnd) hasSkippedFor(chain int) bool {
	return slices.ContainsFunc(e.skipped, func(s skipModel) bool { return s.chain == chain })
}

type convStats struct {
	sent, delivered, outOfOrder, dropped, held, lost, replayed, tampered, maxSkipped, chains int
}

// TestRandomConversation runs long conversations between libolm and
// souverain, each end in one implementation, with messages delivered out of
// order within a window, dropped, replayed and tampered with, on a schedule
// from a seeded math/rand. Every message is decrypted by both
// implementations from the same state (the end's session and a copy of it
// in the other implementation): both must agree with a model of libolm's
// ratchet on whether it decrypts and to what, and must be left in the same
// state, compared as libolm pickles. The schedule keeps within libolm's
// limits: at most 40 skipped message keys and 5 receiver chains per
// session, never losing a skipped key to them.
func TestRandomConversation(t *testing.T) {
	seed := *conversationSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("schedule seed %d (rerun with -conversation.seed=%d)", seed, seed)
	for i, aliceImpl := range impls {
		t.Run("alice="+aliceImpl, func(t *testing.T) {
			runConversation(t, rand.New(rand.NewPCG(seed, uint64(i))), aliceImpl)
		})
	}
}

func runConversation(t *testing.T, rng *rand.Rand, aliceImpl string) {
	key := make([]byte, rng.IntN(70))
	for i := range key {
		key[i] = byte(rng.Uint32())
	}

	aAcc, bAcc := newAccount(t, aliceImpl), newAccount(t, other(aliceImpl))
	aliceS := aAcc.outbound(t, bAcc.curve(t), bAcc.oneTimeKey(t))
	first := aliceS.encrypt(t, []byte("first"))
	bobS, pt, err := bAcc.inbound(t, aAcc.curve(t), first)
	if err != nil || string(pt) != "first" {
		t.Fatalf("inbound = %q, %v", pt, err)
	}
	alice := &convEnd{name: "alice", primary: aliceS, sendChain: 0, sendIndex: 1, seen: map[int]bool{}}
	bob := &convEnd{name: "bob", primary: bobS, sendChain: -1,
		chains: []chainModel{{id: 0, next: 1}}, seen: map[int]bool{0: true}}
	ends := [2]*convEnd{alice, bob}
	for _, e := range ends {
		e.mirror = moveSession(t, e.primary, other(e.primary.impl()), key)
	}
	nextChain := 1
	var st convStats
	talker := 0

	send := func(from int) {
		e, to := ends[from], ends[1-from]
		if e.sendChain < 0 {
			e.sendChain, e.sendIndex = nextChain, 0
			nextChain++
		}
		plaintext := make([]byte, rng.IntN(120))
		for i := range plaintext {
			plaintext[i] = byte(rng.Uint32())
		}
		plaintext = fmt.Appendf(plaintext, "#%d", st.sent)
		m := &convMsg{w: e.primary.encrypt(t, plaintext), chain: e.sendChain, index: e.sendIndex, plaintext: plaintext, seq: st.sent}
		e.sendIndex++
		st.sent++
		to.queue = append(to.queue, m)
		// The mirror cannot make the same random ratchet key: copy the
		// sender's new state over.
		e.mirror = moveSession(t, e.primary, e.mirror.impl(), key)
	}

	// receive hands w to both sessions of e and checks them against want
	// (nil: must fail) and against each other.
	receive := func(e *convEnd, w wireMsg, want []byte, what string) {
		t.Helper()
		got1, err1 := e.primary.decrypt(w)
		got2, err2 := e.mirror.decrypt(w)
		for _, r := range []struct {
			impl string
			got  []byte
			err  error
		}{{e.primary.impl(), got1, err1}, {e.mirror.impl(), got2, err2}} {
			switch {
			case want == nil && r.err == nil:
				t.Fatalf("%s at %s: %s decrypted a message that must fail", what, e.name, r.impl)
			case want != nil && r.err != nil:
				t.Fatalf("%s at %s: %s: %v", what, e.name, r.impl, r.err)
			case want != nil && !bytes.Equal(r.got, want):
				t.Fatalf("%s at %s: %s decrypted %q, want %q", what, e.name, r.impl, r.got, want)
			}
		}
		p1, p2 := e.primary.pickle(t, key), e.mirror.pickle(t, key)
		if p1 != p2 {
			t.Fatalf("%s at %s: states differ after decryption:\n%s: %s\n%s: %s", what, e.name, e.primary.impl(), p1, e.mirror.impl(), p2)
		}
		if e.primary.hasReceived() != e.mirror.hasReceived() {
			t.Fatalf("%s at %s: HasReceivedMessage differs", what, e.name)
		}
	}

	// process decrypts m at e (already out of its queue) and updates the
	// model.
	process := func(e *convEnd, m *convMsg) {
		t.Helper()
		ok, after, _, commit := e.predict(m)
		if ok && after > olm.MaxSkippedMessageKeys {
			t.Fatalf("schedule error: %d skipped keys at %s", after, e.name)
		}
		what := fmt.Sprintf("message #%d (chain %d index %d)", m.seq, m.chain, m.index)
		if !ok {
			st.lost++
			receive(e, m.w, nil, what+" on a dropped chain")
			return
		}
		if rng.IntN(100) == 0 {
			st.tampered++
			raw := mustDecode(t, m.w.body)
			// In a pre-key message, tamper only with the embedded normal
			// message: libolm checks neither the outer version byte nor,
			// on an existing session, the outer keys, so it decrypts
			// such a message where we refuse it (ErrSessionMismatch,
			// ErrBadMessageVersion). That difference is deliberate.
			from := 0
			if m.w.typ == 0 {
				pre, err := olm.ParsePreKeyMessage(raw)
				if err != nil {
					t.Fatal(err)
				}
				from = len(raw) - len(pre.Message().Bytes())
			}
			raw[from+rng.IntN(len(raw)-from)] ^= byte(1 + rng.IntN(255))
			receive(e, wireMsg{m.w.typ, libolm.EncodeBase64(raw)}, nil, what+" tampered")
		}
		receive(e, m.w, m.plaintext, what)
		commit()
		st.delivered++
		st.maxSkipped = max(st.maxSkipped, len(e.skipped))
		e.done = append(e.done, m)
	}

	// safe reports whether delivering m at e now keeps within the limits:
	// few enough skipped keys, and no receiver chain with skipped keys
	// dropped (those keys would stay in the list for good).
	safe := func(e *convEnd, m *convMsg) bool {
		ok, after, evicts, _ := e.predict(m)
		return !ok || (after <= maxTransientSkipped && (evicts < 0 || !e.hasSkippedFor(evicts)))
	}

	deliver := func(e *convEnd, j int) {
		t.Helper()
		if j > 0 && !safe(e, e.queue[j]) {
			j = 0 // in order is always within the limits
		}
		m := e.queue[j]
		e.queue = slices.Delete(e.queue, j, j+1)
		if j > 0 {
			st.outOfOrder++
		}
		process(e, m)
	}

	// releaseHeld delivers the held messages that are due (all of them
	// when draining and nothing else is in flight).
	releaseHeld := func(step int, draining bool) {
		for _, e := range ends {
			for i := 0; i < len(e.held); i++ {
				h := e.held[i]
				if h.release > step && !draining {
					continue
				}
				if !safe(e, h.m) && !(draining && len(e.queue) == 0) {
					continue
				}
				e.held = slices.Delete(e.held, i, i+1)
				i--
				process(e, h.m)
			}
		}
	}

	for step := 0; ; step++ {
		inFlight := len(alice.queue) + len(bob.queue) + len(alice.held) + len(bob.held)
		if st.sent >= conversationSends && inFlight == 0 {
			break
		}
		releaseHeld(step, st.sent >= conversationSends)
		r := rng.IntN(100)
		switch {
		case st.sent < conversationSends && r < 40:
			if rng.IntN(100) < 30 {
				talker = 1 - talker
			}
			n := 1
			if rng.IntN(1000) < 5 {
				n = 15 + rng.IntN(20) // a burst, for long jumps ahead
			}
			for range min(n, conversationSends-st.sent) {
				send(talker)
			}
		case r >= 40 && r < 42:
			// Replay a delivered message: it must fail everywhere.
			e := ends[rng.IntN(2)]
			if len(e.done) > 0 {
				m := e.done[rng.IntN(len(e.done))]
				st.replayed++
				receive(e, m.w, nil, fmt.Sprintf("replay of message #%d", m.seq))
			}
		default:
			e := ends[rng.IntN(2)]
			if len(e.queue) == 0 {
				e = ends[0]
				if len(e.queue) == 0 {
					e = ends[1]
				}
			}
			if len(e.queue) == 0 {
				continue
			}
			j := 0
			switch r := rng.IntN(100); {
			case r < 3:
				j = len(e.queue) - 1 // a long jump ahead, if safe
			case r < 40:
				j = rng.IntN(min(deliveryWindow, len(e.queue)))
			}
			if e.drops < maxDrops && rng.IntN(100) < 3 {
				e.drops++
				m := e.queue[j]
				e.queue = slices.Delete(e.queue, j, j+1)
				if rng.IntN(2) == 0 {
					st.dropped++
				} else {
					st.held++
					e.held = append(e.held, heldMsg{m, step + 100 + rng.IntN(400)})
				}
				continue
			}
			deliver(e, j)
		}
	}
	st.chains = nextChain
	t.Logf("%+v", st)

	// The schedule exercised what it is for.
	if st.delivered+st.dropped+st.lost != st.sent {
		t.Errorf("%d delivered + %d dropped + %d lost != %d sent", st.delivered, st.dropped, st.lost, st.sent)
	}
	for _, e := range ends {
		if len(e.skipped) > olm.MaxSkippedMessageKeys {
			t.Errorf("%s: the model has %d skipped keys", e.name, len(e.skipped))
		}
	}
	if st.sent < 1000 || st.outOfOrder < 100 || st.dropped < 1 || st.held < 1 || st.replayed < 10 || st.maxSkipped < 10 || st.chains < 50 {
		t.Errorf("schedule too tame: %+v", st)
	}
	for i := range 5 {
		exchange(t, alice.primary, bob.primary, fmt.Sprint("final a", i))
		exchange(t, bob.primary, alice.primary, fmt.Sprint("final b", i))
	}
}
