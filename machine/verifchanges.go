package machine

import (
	"sort"

	"github.com/souverain/e2ee/sas"
)

// VerificationAction is what the application must do about a verification
// whose state changed.
type VerificationAction int

const (
	// VerificationWait: nothing to do; the other side moves next.
	VerificationWait VerificationAction = iota
	// VerificationAcceptOrCancel: the other side asked for a verification
	// (a request, or a start without one): ask the user, then call Accept
	// or Cancel. Requests expire after sas.RequestPromptTimeout.
	VerificationAcceptOrCancel
	// VerificationStartSAS: the other side accepted our request: start a
	// method (StartSAS, or show a QR code), or wait for it to start one.
	VerificationStartSAS
	// VerificationCompare: show the short authentication string (the
	// change's Emojis, or Decimals) and ask the user whether the other
	// screen shows the same, then call Confirm or Mismatch.
	VerificationCompare
	// VerificationConfirmScan: the other device scanned our QR code: ask
	// the user whether the other screen shows success, then call Confirm or
	// Cancel.
	VerificationConfirmScan
	// VerificationDone: the verification succeeded; Result says what was
	// verified, and the machine already recorded it (and signed it with
	// the cross-signing keys it holds).
	VerificationDone
	// VerificationCancelled: the verification ended without success;
	// Cancellation says who cancelled and why (m.timeout for one that
	// timed out).
	VerificationCancelled
)

var actionNames = [...]string{"wait", "accept or cancel", "start SAS", "compare", "confirm scan", "done", "cancelled"}

// String returns the action in words, such as "compare".
func (a VerificationAction) String() string {
	if a >= 0 && int(a) < len(actionNames) {
		return actionNames[a]
	}
	return "unknown"
}

// VerificationChange reports a verification whose state changed since the
// machine last reported it: in a SyncResult, or in the VerificationUpdate
// of ReceiveRoomVerificationEvent or SendVerificationEvents. A state that
// a call of the application's own (Accept, Confirm, ...) produced is
// reported too, at the next of these calls, so that one loop that acts on
// every change drives a verification to its end:
//
//	for _, ch := range res.Verifications {
//		switch ch.Action {
//		case machine.VerificationAcceptOrCancel:
//			evs, err = ch.Verification.Accept()
//		case machine.VerificationCompare:
//			// show ch.Emojis, ask the user
//			evs, err = ch.Verification.Confirm()
//		}
//		upd, err := m.SendVerificationEvents(ctx, evs) // and its Changes
//	}
//
// Only the state at the end of the call is reported: a flow that went
// through several states in one sync is reported once, in the last.
type VerificationChange struct {
	// Verification is the flow, to act on.
	Verification *sas.Verification
	// FlowID is the transaction ID, or for an in-room verification the
	// request's event ID; RoomID is the room of an in-room verification,
	// "" for to-device.
	FlowID, RoomID string
	// OtherUser and OtherDevice are the other side ("" device while a
	// request to several devices waits for one of them).
	OtherUser, OtherDevice string
	// WeRequested reports that this device sent the request.
	WeRequested bool
	// State is the new state, Action what it asks of the application.
	State  sas.State
	Action VerificationAction
	// Emojis and Decimals are the short authentication string to compare,
	// set with VerificationCompare. Show the emojis if SASMethods holds
	// sas.SASEmoji (both sides can show them), else the decimals.
	Emojis     []sas.Emoji
	Decimals   []int
	SASMethods []string
	// Result names the keys verified, set with VerificationDone.
	Result *sas.Result
	// Cancellation says who cancelled and why, set with
	// VerificationCancelled.
	Cancellation *sas.Cancellation
}

// VerificationUpdate is what ReceiveRoomVerificationEvent and
// SendVerificationEvents produced.
type VerificationUpdate struct {
	// RoomEvents are in-room verification events to send, each in its
	// room (encrypted with EncryptRoomEvent in an encrypted room); the
	// to-device ones are queued for OutgoingRequests.
	RoomEvents []sas.Event
	// Changes lists the verifications whose state changed.
	Changes []VerificationChange
	// Refused says why the verifications refused the event received
	// (ReceiveRoomVerificationEvent), wrapping a sas sentinel; nil if they
	// took it. Send RoomEvents even then: they may cancel the flow.
	Refused error
}

// action is what a state asks of the application.
func action(v *sas.Verification, st sas.State) VerificationAction {
	switch st {
	case sas.StateRequestReceived, sas.StateStartReceived:
		return VerificationAcceptOrCancel
	case sas.StateReady:
		if v.WeRequested() {
			return VerificationStartSAS
		}
	case sas.StateKeysExchanged:
		return VerificationCompare
	case sas.StateReciprocated:
		return VerificationConfirmScan
	case sas.StateDone:
		return VerificationDone
	case sas.StateCancelled:
		return VerificationCancelled
	}
	return VerificationWait
}

// changes returns the verifications whose state differs from the one last
// reported, sorted by room and flow ID, and records them as reported.
// Flows the sas.Machine forgot (sas.Machine.Tick forgets finished ones
// after a while) are forgotten here too, and so are the key snapshot's
// users with no flow, so that nothing grows without bound.
func (v *verifier) changes() []VerificationChange {
	flows := v.sas.Verifications()
	users := make(map[string]bool, len(flows))
	for _, fl := range flows {
		users[fl.OtherUser()] = true
	}
	v.pruneKeys(users)
	if len(flows) == 0 && len(v.reported) == 0 && len(v.applied) == 0 {
		return nil // the common case: nothing to walk
	}
	var out []VerificationChange
	seen := map[string]bool{}
	for _, fl := range flows {
		id := fl.FlowID()
		if id == "" {
			continue // an in-room request not sent yet
		}
		key := fl.RoomID() + "\x00" + id
		seen[key] = true
		st := fl.State()
		if prev, ok := v.reported[key]; ok && prev == st {
			continue
		}
		v.reported[key] = st
		ch := VerificationChange{
			Verification: fl, FlowID: id, RoomID: fl.RoomID(),
			OtherUser: fl.OtherUser(), OtherDevice: fl.OtherDevice(), WeRequested: fl.WeRequested(),
			State: st, Action: action(fl, st),
		}
		switch ch.Action {
		case VerificationCompare:
			if s, methods, ok := fl.ShortAuthString(); ok {
				e, d := s.Emojis(), s.Decimals()
				ch.Emojis, ch.Decimals, ch.SASMethods = e[:], d[:], methods
			}
		case VerificationDone:
			if r, ok := fl.Result(); ok {
				ch.Result = &r
			}
		case VerificationCancelled:
			ch.Cancellation = fl.Cancellation()
		}
		out = append(out, ch)
	}
	for key := range v.reported {
		if !seen[key] {
			delete(v.reported, key)
		}
	}
	for key := range v.applied {
		if !seen[key] {
			delete(v.applied, key)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].RoomID != out[j].RoomID {
			return out[i].RoomID < out[j].RoomID
		}
		return out[i].FlowID < out[j].FlowID
	})
	return out
}

// pruneKeys drops from the key snapshot the users with no verification
// left (events from any sender add one), so that it does not grow without
// bound; an event of a new verification refreshes its users again.
func (v *verifier) pruneKeys(users map[string]bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for u := range v.keys {
		if !users[u] {
			delete(v.keys, u)
		}
	}
}

// tickVerifications cancels the verifications whose time is up (queuing
// the to-device cancels) and returns the in-room cancels to send.
func (t *txn) tickVerifications() ([]sas.Event, error) {
	return t.queueVerification(t.m.verif.sas.Tick())
}
