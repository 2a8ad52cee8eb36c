package sas

import (
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/souverain/e2ee/internal/b64"
	"github.com/souverain/e2ee/olm"
)

// State is the state of a Verification.
type State int

// The states of a verification. A verification ends in StateDone or
// StateCancelled.
const (
	// StateRequested: this device sent a request and waits for ready.
	StateRequested State = iota
	// StateRequestReceived: the other device sent a request; call Accept
	// or Cancel.
	StateRequestReceived
	// StateReady: the request was accepted; either side may start a
	// method (StartSAS, QRCode/ScanQRCode).
	StateReady
	// StateStarted: this device sent an m.sas.v1 start and waits for
	// accept.
	StateStarted
	// StateStartReceived: the other device sent a start without a
	// request; call Accept or Cancel.
	StateStartReceived
	// StateAccepted: this device accepted the other's start and waits for
	// its key.
	StateAccepted
	// StateKeySent: this device started, got accept, sent its key and
	// waits for the other's.
	StateKeySent
	// StateKeysExchanged: the short authentication string is ready; show
	// it and call Confirm or Mismatch.
	StateKeysExchanged
	// StateConfirmed: this device sent its MAC and waits for the other's.
	StateConfirmed
	// StateQRScanned: this device scanned the other's QR code, sent
	// m.reciprocate.v1 and waits for done.
	StateQRScanned
	// StateReciprocated: the other device scanned this device's QR code;
	// ask the user whether the other screen shows success, then call
	// Confirm or Cancel.
	StateReciprocated
	// StateWaitingForDone: the keys are verified and done sent; waiting
	// for the other's done.
	StateWaitingForDone
	// StateDone: the verification succeeded; see Result.
	StateDone
	// StateCancelled: the verification was cancelled; see Cancellation.
	StateCancelled
)

var stateNames = [...]string{
	"requested", "request received", "ready", "started", "start received",
	"accepted", "key sent", "keys exchanged", "confirmed", "QR scanned",
	"reciprocated", "waiting for done", "done", "cancelled",
}

// String returns a short lower-case name of the state.
func (s State) String() string {
	if s >= 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Result names exactly the keys a finished verification verified. The keys
// are this device's pinned copies, never keys taken from the other side's
// messages.
type Result struct {
	// UserID and DeviceID name the other device.
	UserID   string
	DeviceID string
	// DeviceKey is the other device's Ed25519 key, nil if it was not
	// verified.
	DeviceKey *olm.Ed25519PublicKey
	// MasterKey is the master cross-signing key verified, nil if none:
	// the other user's, or in a self-verification by QR code this user's
	// own.
	MasterKey *olm.Ed25519PublicKey
}

// Cancellation describes how a verification was cancelled.
type Cancellation struct {
	Code   CancelCode
	Reason string
	// ByUs is true if this device cancelled, false if the other did (or
	// another of our devices accepted the request).
	ByUs bool
}

// Verification is one verification flow between this device and another.
// Its methods return the events to send; they are safe for concurrent use
// with each other and with the Machine. Only a Machine makes them: on a
// nil or zero Verification the methods that return an error return one
// wrapping ErrNil, and the others return zero values (State says
// StateCancelled).
type Verification struct {
	m *Machine

	flowID   string
	roomID   string
	peerUser string
	// peerDevice is known from the request, ready or start; "" while a
	// to-device request to several devices waits for ready.
	peerDevice     string
	requestDevices []string
	weRequested    bool
	theirMethods   []string

	state        State
	created      time.Time
	requestTime  time.Time
	lastActivity time.Time
	finishedAt   time.Time

	// Keys pinned when the other device became known.
	pinned        bool
	peerDeviceKey olm.Ed25519PublicKey
	peerKeys      UserKeys
	// Our own master key and our trust in it, pinned with the other
	// side's keys (Machine.SetMasterKey may change the machine's later).
	ownMaster        olm.Ed25519PublicKey
	ownMasterTrusted bool

	// SAS.
	sas           *SAS
	est           *EstablishedSAS
	ourStart      *StartContent
	startRaw      []byte // the content of the start that counts
	theirStart    *StartContent
	theirStartRaw []byte
	weStarted     bool // this device's start counts
	commitment    []byte
	macMethod     string
	sasMethods    []string
	short         ShortAuthString
	haveShort     bool
	theirMACOK    bool

	// QR.
	qr           *QRCode // shown by this device
	doneReceived bool

	result Result
	cancel *Cancellation
}

// lock locks the machine of v, or returns an error wrapping ErrNil (a nil
// or zero Verification) or ErrClosed (its Machine is closed), with nothing
// locked.
func (v *Verification) lock() error {
	if v == nil || !v.m.valid() {
		return ErrNil
	}
	v.m.mu.Lock()
	if v.m.closed {
		v.m.mu.Unlock()
		return ErrClosed
	}
	return nil
}

func (m *Machine) newVerification(peerUser, roomID string, now time.Time) *Verification {
	return &Verification{m: m, peerUser: peerUser, roomID: roomID, created: now, lastActivity: now}
}

// FlowID returns the transaction ID, or for an in-room verification the
// request's event ID ("" until RequestSent).
func (v *Verification) FlowID() string {
	if err := v.lock(); err != nil {
		return ""
	}
	defer v.m.mu.Unlock()
	return v.flowID
}

// RoomID returns the room of an in-room verification, "" for to-device.
func (v *Verification) RoomID() string {
	if v == nil {
		return ""
	}
	return v.roomID
}

// OtherUser returns the user ID of the other side.
func (v *Verification) OtherUser() string {
	if v == nil {
		return ""
	}
	return v.peerUser
}

// OtherDevice returns the device ID of the other side, "" while a request
// to several devices waits for one of them.
func (v *Verification) OtherDevice() string {
	if err := v.lock(); err != nil {
		return ""
	}
	defer v.m.mu.Unlock()
	return v.peerDevice
}

// WeRequested reports whether this device sent the request.
func (v *Verification) WeRequested() bool { return v != nil && v.weRequested }

// State returns the current state.
func (v *Verification) State() State {
	if err := v.lock(); err != nil {
		return StateCancelled
	}
	defer v.m.mu.Unlock()
	return v.state
}

// TheirMethods returns the methods the other device offered.
func (v *Verification) TheirMethods() []string {
	if err := v.lock(); err != nil {
		return nil
	}
	defer v.m.mu.Unlock()
	return slices.Clone(v.theirMethods)
}

// ShortAuthString returns the short authentication string to show, once
// the keys are exchanged (ok is false before), and the SAS methods both
// sides accepted (SASDecimal, and SASEmoji if both can show emojis).
func (v *Verification) ShortAuthString() (s ShortAuthString, methods []string, ok bool) {
	if err := v.lock(); err != nil {
		return ShortAuthString{}, nil, false
	}
	defer v.m.mu.Unlock()
	return v.short, slices.Clone(v.sasMethods), v.haveShort
}

// Result returns the keys verified, once the verification is done.
func (v *Verification) Result() (Result, bool) {
	if err := v.lock(); err != nil {
		return Result{}, false
	}
	defer v.m.mu.Unlock()
	if v.state != StateDone {
		return Result{}, false
	}
	r := v.result
	if r.DeviceKey != nil {
		k := *r.DeviceKey
		r.DeviceKey = &k
	}
	if r.MasterKey != nil {
		k := *r.MasterKey
		r.MasterKey = &k
	}
	return r, true
}

// Cancellation returns how the verification was cancelled, or nil.
func (v *Verification) Cancellation() *Cancellation {
	if err := v.lock(); err != nil {
		return nil
	}
	defer v.m.mu.Unlock()
	if v.cancel == nil {
		return nil
	}
	c := *v.cancel
	return &c
}

// pendingIncoming reports whether v is a request (or unrequested start)
// received and not yet accepted.
func (v *Verification) pendingIncoming() bool {
	return !v.weRequested && (v.state == StateRequestReceived || v.state == StateStartReceived)
}

func (v *Verification) finished() bool { return v.state == StateDone || v.state == StateCancelled }

func (v *Verification) deadline() time.Time {
	d := v.created.Add(Timeout)
	if v.state == StateRequestReceived || v.state == StateStartReceived {
		d = v.created.Add(RequestPromptTimeout)
		if !v.requestTime.IsZero() && v.requestTime.Add(RequestMaxAge).Before(d) {
			d = v.requestTime.Add(RequestMaxAge)
		}
	}
	return d
}

func (v *Verification) finish(s State) {
	v.state = s
	v.finishedAt = v.m.now()
	v.wipe()
}

// wipe closes the verification's SAS keys.
func (v *Verification) wipe() {
	if v.est != nil {
		v.est.Close()
		v.est = nil
	}
	if v.sas != nil {
		v.sas.Close()
		v.sas = nil
	}
}

// event builds an outgoing event of the flow to the other device (or to
// device, if not ""), filling in transaction_id or m.relates_to.
func (v *Verification) eventTo(device, typ string, content flowSetter) Event {
	ev := Event{Type: typ}
	if v.roomID != "" {
		content.setFlow("", &RelatesTo{RelType: "m.reference", EventID: v.flowID})
		ev.RoomID = v.roomID
	} else {
		content.setFlow(v.flowID, nil)
		ev.ToUser, ev.ToDevice = v.peerUser, device
	}
	ev.Content, _ = json.Marshal(content)
	return ev
}

func (v *Verification) event(typ string, content flowSetter) Event {
	return v.eventTo(v.peerDevice, typ, content)
}

// cancelWith cancels the flow from this side and returns the cancel
// events: to the other device, or to every device a to-device request went
// to if none has answered yet.
func (v *Verification) cancelWith(code CancelCode, reason string, _ error) []Event {
	if v.finished() {
		return nil
	}
	v.cancel = &Cancellation{Code: code, Reason: reason, ByUs: true}
	v.finish(StateCancelled)
	if v.roomID != "" && v.flowID == "" {
		return nil // the request was never sent
	}
	if v.roomID == "" && v.peerDevice == "" {
		var out []Event
		for _, d := range v.requestDevices {
			out = append(out, v.eventTo(d, EventCancel, &CancelContent{Code: code, Reason: reason}))
		}
		return out
	}
	return []Event{v.event(EventCancel, &CancelContent{Code: code, Reason: reason})}
}

// fail cancels with the code that matches err and returns the events and
// err.
func (v *Verification) fail(err error) ([]Event, error) {
	code := CancelUnexpectedMessage
	switch {
	case errors.Is(err, ErrInvalidEvent), errors.Is(err, ErrEventTooLarge):
		code = CancelInvalidMessage
	case errors.Is(err, ErrUnknownMethod):
		code = CancelUnknownMethod
	case errors.Is(err, ErrCommitmentMismatch):
		code = CancelMismatchedCommitment
	case errors.Is(err, ErrSASMismatch):
		code = CancelMismatchedSAS
	case errors.Is(err, ErrKeyMismatch), errors.Is(err, ErrKeyIDCollision), errors.Is(err, ErrBadPublicKey), errors.Is(err, ErrUnknownDevice):
		code = CancelKeyMismatch
	case errors.Is(err, ErrUserMismatch):
		code = CancelUserMismatch
	case errors.Is(err, ErrTimeout):
		code = CancelTimeout
	case errors.Is(err, ErrUnknownTransaction):
		code = CancelUnknownTransaction
	}
	return v.cancelWith(code, err.Error(), err), err
}

// pin snapshots the other device's key and the other user's keys. It
// refuses a user with a device ID equal to one of their cross-signing keys.
func (v *Verification) pin() error {
	if v.pinned {
		return nil
	}
	if v.peerUser == v.m.cfg.UserID && v.peerDevice == v.m.cfg.DeviceID {
		// The other side would be whoever forged events in our name.
		return fmt.Errorf("%w: a verification with this very device", ErrUserMismatch)
	}
	keys, ok := v.m.cfg.Keys(v.peerUser)
	if !ok {
		return fmt.Errorf("%w: no keys for %s", ErrUnknownDevice, v.peerUser)
	}
	if id, bad := keys.collision(); bad {
		return fmt.Errorf("%w: %s has a device %q named like a cross-signing key", ErrKeyIDCollision, v.peerUser, id)
	}
	ownMaster, ownTrusted := v.m.cfg.MasterKey, v.m.cfg.MasterKeyTrusted
	if v.peerUser == v.m.cfg.UserID && ownMaster != (olm.Ed25519PublicKey{}) {
		for id := range keys.Devices {
			if id == ownMaster.String() || spellsKey(id, ownMaster) {
				return fmt.Errorf("%w: our own device list has a device named like our master key", ErrKeyIDCollision)
			}
		}
	}
	key, ok := keys.Devices[v.peerDevice]
	if !ok || key == (olm.Ed25519PublicKey{}) {
		return fmt.Errorf("%w: %s %s", ErrUnknownDevice, v.peerUser, v.peerDevice)
	}
	v.peerDeviceKey = key
	v.peerKeys = UserKeys{
		MasterKey:      keys.MasterKey,
		SelfSigningKey: keys.SelfSigningKey,
		UserSigningKey: keys.UserSigningKey,
	}
	v.ownMaster, v.ownMasterTrusted = ownMaster, ownTrusted
	v.pinned = true
	return nil
}

// ourMethods returns the methods to offer in ready: ours that fit theirs.
func (v *Verification) ourMethods() []string {
	ours, theirs := v.m.cfg.Methods, v.theirMethods
	var out []string
	if slices.Contains(ours, MethodSAS) && slices.Contains(theirs, MethodSAS) {
		out = append(out, MethodSAS)
	}
	qr := false
	if slices.Contains(ours, MethodQRShow) && slices.Contains(theirs, MethodQRScan) {
		out = append(out, MethodQRShow)
		qr = true
	}
	if slices.Contains(ours, MethodQRScan) && slices.Contains(theirs, MethodQRShow) {
		out = append(out, MethodQRScan)
		qr = true
	}
	if qr && slices.Contains(theirs, MethodReciprocate) {
		out = append(out, MethodReciprocate)
	}
	return out
}

func (v *Verification) can(method string) bool {
	switch method {
	case MethodSAS:
		return slices.Contains(v.m.cfg.Methods, MethodSAS) && slices.Contains(v.theirMethods, MethodSAS)
	case MethodQRShow: // we show, they scan
		return slices.Contains(v.m.cfg.Methods, MethodQRShow) && slices.Contains(v.theirMethods, MethodQRScan) && slices.Contains(v.theirMethods, MethodReciprocate)
	case MethodQRScan: // we scan, they show
		return slices.Contains(v.m.cfg.Methods, MethodQRScan) && slices.Contains(v.theirMethods, MethodQRShow) && slices.Contains(v.theirMethods, MethodReciprocate)
	}
	return false
}

// RequestSent records the event ID the server gave an in-room request
// sent by RequestInRoom; answers to it are matched by this ID.
func (v *Verification) RequestSent(eventID string) error {
	if err := v.lock(); err != nil {
		return fmt.Errorf("sas: request sent: %w", err)
	}
	m := v.m
	defer m.mu.Unlock()
	if v.roomID == "" || v.flowID != "" || !v.weRequested || eventID == "" {
		return fmt.Errorf("sas: request sent: %w", ErrState)
	}
	if v.finished() {
		return fmt.Errorf("sas: request sent: %w", ErrCancelled)
	}
	key := flowKey(v.roomID, eventID)
	if m.flows[key] != nil {
		return fmt.Errorf("sas: request sent: event ID in use: %w", ErrState)
	}
	v.flowID = eventID
	m.flows[key] = v
	return nil
}

// Accept accepts a received request (sending ready) or a start that came
// without a request (sending accept). It pins the other device's key and
// its user's cross-signing keys from Config.Keys; it returns an error
// wrapping ErrUnknownDevice, leaving the request pending, if there is no
// key for the device yet, and cancels the verification if the user has a
// device ID that collides with a cross-signing key (ErrKeyIDCollision) or
// no method fits (ErrUnknownMethod).
func (v *Verification) Accept() ([]Event, error) {
	if err := v.lock(); err != nil {
		return nil, fmt.Errorf("sas: accept: %w", err)
	}
	defer v.m.mu.Unlock()
	out, err := v.accept()
	if err != nil {
		err = fmt.Errorf("sas: accept: %w", err)
	}
	return out, err
}

func (v *Verification) accept() ([]Event, error) {
	if v.state != StateRequestReceived && v.state != StateStartReceived {
		return nil, ErrState
	}
	if v.m.active() >= MaxVerifications {
		return nil, fmt.Errorf("%w: %d verifications in progress", ErrState, MaxVerifications)
	}
	if v.m.now().After(v.deadline()) {
		return v.fail(ErrTimeout)
	}
	if err := v.pin(); err != nil {
		if errors.Is(err, ErrUnknownDevice) {
			return nil, err
		}
		return v.fail(err)
	}
	v.lastActivity = v.m.now()
	if v.state == StateStartReceived {
		v.state = StateReady
		return v.onStart(v.theirStart, v.theirStartRaw)
	}
	methods := v.ourMethods()
	if len(methods) == 0 {
		return v.fail(fmt.Errorf("%w: none of %q", ErrUnknownMethod, v.theirMethods))
	}
	v.state = StateReady
	return []Event{v.event(EventReady, &ReadyContent{FromDevice: v.m.cfg.DeviceID, Methods: methods})}, nil
}

// Cancel cancels the verification as the user's choice (m.user), whether
// declining a request or stopping a verification in progress.
func (v *Verification) Cancel() []Event {
	if err := v.lock(); err != nil {
		return nil
	}
	defer v.m.mu.Unlock()
	return v.cancelWith(CancelUser, "the user cancelled the verification", nil)
}

// StartSAS starts an m.sas.v1 verification once the request is ready. If
// the other side starts too, the specification's tie-break decides which
// start counts, and this device may become the accepting side.
func (v *Verification) StartSAS() ([]Event, error) {
	if err := v.lock(); err != nil {
		return nil, fmt.Errorf("sas: start: %w", err)
	}
	defer v.m.mu.Unlock()
	if v.state != StateReady {
		return nil, fmt.Errorf("sas: start: %w", ErrState)
	}
	if !v.can(MethodSAS) {
		return nil, fmt.Errorf("sas: start: %w", ErrUnknownMethod)
	}
	s, err := v.newSAS()
	if err != nil {
		return nil, err
	}
	macs := []string{MACHKDFHMACSHA256V2}
	if v.m.cfg.AllowLegacyMAC {
		macs = append(macs, MACHKDFHMACSHA256)
	}
	start := &StartContent{
		FromDevice:                 v.m.cfg.DeviceID,
		Method:                     MethodSAS,
		KeyAgreementProtocols:      []string{KeyAgreementCurve25519HKDFSHA256},
		Hashes:                     []string{HashSHA256},
		MessageAuthenticationCodes: macs,
		ShortAuthenticationString:  []string{SASDecimal, SASEmoji},
	}
	ev := v.event(EventStart, start)
	v.sas = s
	v.ourStart = start
	v.startRaw = ev.Content
	v.weStarted = true
	v.state = StateStarted
	v.lastActivity = v.m.now()
	return []Event{ev}, nil
}

func (v *Verification) newSAS() (*SAS, error) {
	r := v.m.randomBytes(32)
	defer clear(r)
	return newFromRandom(r)
}

// Confirm tells the verification that the user compared the short
// authentication strings and they match (StateKeysExchanged), or that the
// other device reported a successful scan of this device's QR code
// (StateReciprocated). It returns the MAC, and done when the other side's
// MAC has already been verified.
func (v *Verification) Confirm() ([]Event, error) {
	if err := v.lock(); err != nil {
		return nil, fmt.Errorf("sas: confirm: %w", err)
	}
	defer v.m.mu.Unlock()
	if v.m.now().After(v.deadline()) && !v.finished() {
		out, err := v.fail(ErrTimeout)
		return out, fmt.Errorf("sas: confirm: %w", err)
	}
	switch v.state {
	case StateKeysExchanged:
		out := []Event{v.ourMAC()}
		if v.theirMACOK {
			out = append(out, v.event(EventDone, &DoneContent{}))
			v.state = StateWaitingForDone
		} else {
			v.state = StateConfirmed
		}
		v.lastActivity = v.m.now()
		return out, nil
	case StateReciprocated:
		out := []Event{v.event(EventDone, &DoneContent{})}
		if v.doneReceived {
			v.finish(StateDone)
		} else {
			v.state = StateWaitingForDone
		}
		return out, nil
	}
	return nil, fmt.Errorf("sas: confirm: %w", ErrState)
}

// Mismatch tells the verification that the user saw different short
// authentication strings: it cancels with m.mismatched_sas.
func (v *Verification) Mismatch() ([]Event, error) {
	if err := v.lock(); err != nil {
		return nil, fmt.Errorf("sas: mismatch: %w", err)
	}
	defer v.m.mu.Unlock()
	if v.state != StateKeysExchanged && v.state != StateConfirmed {
		return nil, fmt.Errorf("sas: mismatch: %w", ErrState)
	}
	return v.cancelWith(CancelMismatchedSAS, "the short authentication strings differ", ErrSASMismatch), nil
}

func (v *Verification) me() Party   { return v.m.me() }
func (v *Verification) peer() Party { return Party{v.peerUser, v.peerDevice} }

// ourMAC builds our m.key.verification.mac: our device key, and our master
// key if we trust it.
func (v *Verification) ourMAC() Event {
	cfg := v.m.cfg
	keys := map[string]string{"ed25519:" + cfg.DeviceID: cfg.DeviceKey.String()}
	if v.ownMasterTrusted {
		keys["ed25519:"+v.ownMaster.String()] = v.ownMaster.String()
	}
	c := &MACContent{MAC: map[string]string{}}
	ids := make([]string, 0, len(keys))
	for id, key := range keys {
		c.MAC[id], _ = v.est.MAC(v.macMethod, key, MACInfo(v.me(), v.peer(), v.flowID, id))
		ids = append(ids, id)
	}
	c.Keys, _ = v.est.MAC(v.macMethod, KeyIDList(ids), MACInfo(v.me(), v.peer(), v.flowID, KeyIDsInfo))
	return v.event(EventMAC, c)
}

// receive handles an event of this flow.
func (v *Verification) receive(ev Event, c any, perr error, fromDevice string) ([]Event, error) {
	m := v.m
	inRoom := v.roomID != ""
	if inRoom && ev.Sender == m.cfg.UserID { // in a room, the other user is never us
		// Our own echo, or another of our devices answering a request
		// we received: then it was accepted elsewhere.
		if !v.weRequested && v.state == StateRequestReceived && fromDevice != "" && fromDevice != m.cfg.DeviceID &&
			(ev.Type == EventReady || ev.Type == EventCancel) {
			v.cancel = &Cancellation{Code: CancelAccepted, Reason: "answered by another of our devices"}
			v.finish(StateCancelled)
		}
		return nil, nil
	}
	if ev.Sender != v.peerUser {
		if inRoom {
			return nil, fmt.Errorf("%w: event from %s in a verification with %s", ErrUserMismatch, ev.Sender, v.peerUser)
		}
		if ev.Type == EventCancel {
			return nil, ErrUserMismatch
		}
		dev := ev.SenderDevice
		if dev == "" {
			dev = fromDevice
		}
		if dev == "" {
			dev = "*"
		}
		// Answer the stranger only; the verification goes on.
		return []Event{cancelEvent(ev.Sender, dev, "", v.flowID, CancelUserMismatch, "not a party to this verification")}, ErrUserMismatch
	}
	if v.finished() {
		if v.state == StateCancelled && v.cancel.Code == CancelAccepted && !v.cancel.ByUs {
			return nil, nil // another of our devices took over
		}
		if v.state == StateCancelled || ev.Type == EventCancel {
			return nil, ErrCancelled
		}
		if ev.Type == EventDone || inRoom {
			// A late copy of done, or an event in a room where the
			// answer would reach everyone: refuse it without a word.
			return nil, ErrUnexpectedMessage
		}
		// A replay into a finished verification: refuse it, but the
		// verification stays done.
		return []Event{v.event(EventCancel, &CancelContent{Code: CancelUnexpectedMessage, Reason: "the verification is finished"})}, ErrUnexpectedMessage
	}
	dev := ev.SenderDevice
	if dev == "" {
		dev = fromDevice
	} else if fromDevice != "" && fromDevice != dev {
		// An authenticated device claiming to be another one.
		return v.fail(fmt.Errorf("%w: from_device %q sent by device %q", ErrInvalidEvent, fromDevice, dev))
	}
	if v.peerDevice != "" && dev != "" && dev != v.peerDevice {
		// Another device of the same user.
		if ev.Type == EventCancel || inRoom {
			return nil, ErrUnexpectedMessage
		}
		code, reason := CancelUnexpectedMessage, "another device is verifying"
		if ev.Type == EventReady && v.weRequested {
			code, reason = CancelAccepted, "accepted by another device"
		}
		return []Event{cancelEvent(v.peerUser, dev, "", v.flowID, code, reason)}, ErrUnexpectedMessage
	}
	if v.roomID == "" && v.peerDevice == "" && dev != "" && !slices.Contains(v.requestDevices, dev) {
		if ev.Type == EventCancel {
			return nil, ErrUnexpectedMessage
		}
		return []Event{cancelEvent(v.peerUser, dev, "", v.flowID, CancelUnexpectedMessage, "not a device this request went to")}, ErrUnexpectedMessage
	}
	if ev.Type == EventCancel {
		return v.onCancel(c, dev)
	}
	if m.now().After(v.deadline()) {
		return v.fail(ErrTimeout)
	}
	if perr != nil {
		return v.fail(perr)
	}
	v.lastActivity = m.now()
	switch c := c.(type) {
	case *ReadyContent:
		if v.state == StateRequested {
			return v.onReady(c)
		}
	case *StartContent:
		switch v.state {
		case StateReady:
			return v.onStart(c, ev.Content)
		case StateStarted, StateQRScanned:
			return v.onStartTie(c, ev.Content)
		}
	case *AcceptContent:
		if v.state == StateStarted && v.ourStart.Method == MethodSAS {
			return v.onAccept(c)
		}
	case *KeyContent:
		switch v.state {
		case StateAccepted, StateKeySent:
			return v.onKey(c)
		}
	case *MACContent:
		if (v.state == StateKeysExchanged || v.state == StateConfirmed) && !v.theirMACOK {
			return v.onMAC(c)
		}
	case *DoneContent:
		switch v.state {
		case StateWaitingForDone:
			v.finish(StateDone)
			return nil, nil
		case StateQRScanned:
			v.finish(StateDone)
			return []Event{v.event(EventDone, &DoneContent{})}, nil
		case StateReciprocated:
			if !v.doneReceived {
				v.doneReceived = true
				return nil, nil
			}
		}
	}
	return v.fail(fmt.Errorf("%w: %s in state %s", ErrUnexpectedMessage, ev.Type, v.state))
}

func (v *Verification) onCancel(c any, dev string) ([]Event, error) {
	code, reason := CancelCode(""), ""
	if cc, ok := c.(*CancelContent); ok {
		code, reason = cc.Code, cc.Reason
	}
	var out []Event
	if v.weRequested && v.roomID == "" && v.peerDevice == "" && len(v.requestDevices) > 1 {
		// One device declined a request sent to several: the
		// specification has the requester cancel it on all of them.
		for _, d := range v.requestDevices {
			if d != dev {
				out = append(out, v.eventTo(d, EventCancel, &CancelContent{Code: CancelUser, Reason: "declined on another device"}))
			}
		}
	}
	v.cancel = &Cancellation{Code: code, Reason: reason}
	v.finish(StateCancelled)
	return out, nil
}

func (v *Verification) onReady(c *ReadyContent) ([]Event, error) {
	var out []Event
	if v.roomID == "" && v.peerDevice == "" {
		v.peerDevice = c.FromDevice
		for _, d := range v.requestDevices {
			if d != c.FromDevice {
				out = append(out, v.eventTo(d, EventCancel, &CancelContent{Code: CancelAccepted, Reason: "accepted by another device"}))
			}
		}
	} else if v.peerDevice == "" {
		v.peerDevice = c.FromDevice
	}
	v.theirMethods = slices.Clone(c.Methods)
	if err := v.pin(); err != nil {
		evs, err := v.fail(err)
		return append(out, evs...), err
	}
	if !v.can(MethodSAS) && !v.can(MethodQRShow) && !v.can(MethodQRScan) {
		evs, err := v.fail(fmt.Errorf("%w: none of %q", ErrUnknownMethod, c.Methods))
		return append(out, evs...), err
	}
	v.state = StateReady
	return out, nil
}

// onStart handles a start in StateReady (or after losing the tie-break).
func (v *Verification) onStart(c *StartContent, raw []byte) ([]Event, error) {
	if c.FromDevice != v.peerDevice {
		return v.fail(fmt.Errorf("%w: start from device %q, expected %q", ErrUnexpectedMessage, c.FromDevice, v.peerDevice))
	}
	if err := v.pin(); err != nil {
		return v.fail(err)
	}
	switch c.Method {
	case MethodReciprocate:
		return v.onReciprocate(c)
	case MethodSAS:
	default:
		return v.fail(fmt.Errorf("%w: %q", ErrUnknownMethod, c.Method))
	}
	if !v.can(MethodSAS) {
		return v.fail(fmt.Errorf("%w: m.sas.v1 was not offered", ErrUnknownMethod))
	}
	if !slices.Contains(c.KeyAgreementProtocols, KeyAgreementCurve25519HKDFSHA256) {
		return v.fail(fmt.Errorf("%w: key agreement %q", ErrUnknownMethod, c.KeyAgreementProtocols))
	}
	if !slices.Contains(c.Hashes, HashSHA256) {
		return v.fail(fmt.Errorf("%w: hashes %q", ErrUnknownMethod, c.Hashes))
	}
	switch {
	case slices.Contains(c.MessageAuthenticationCodes, MACHKDFHMACSHA256V2):
		v.macMethod = MACHKDFHMACSHA256V2
	case v.m.cfg.AllowLegacyMAC && slices.Contains(c.MessageAuthenticationCodes, MACHKDFHMACSHA256):
		v.macMethod = MACHKDFHMACSHA256
	default:
		return v.fail(fmt.Errorf("%w: MAC methods %q", ErrUnknownMethod, c.MessageAuthenticationCodes))
	}
	if !slices.Contains(c.ShortAuthenticationString, SASDecimal) {
		return v.fail(fmt.Errorf("%w: short authentication strings %q lack decimal", ErrUnknownMethod, c.ShortAuthenticationString))
	}
	v.sasMethods = []string{SASDecimal}
	if slices.Contains(c.ShortAuthenticationString, SASEmoji) {
		v.sasMethods = append(v.sasMethods, SASEmoji)
	}
	s, err := v.newSAS()
	if err != nil {
		return v.fail(err)
	}
	commitment, err := Commitment(s.PublicKey(), raw)
	if err != nil {
		return v.fail(err)
	}
	v.sas = s
	v.theirStart = c
	v.startRaw = slices.Clone(raw)
	v.weStarted = false
	v.state = StateAccepted
	return []Event{v.event(EventAccept, &AcceptContent{
		Method:                    MethodSAS,
		KeyAgreementProtocol:      KeyAgreementCurve25519HKDFSHA256,
		Hash:                      HashSHA256,
		MessageAuthenticationCode: v.macMethod,
		ShortAuthenticationString: v.sasMethods,
		Commitment:                commitment,
	})}, nil
}

// onStartTie handles a start from the other side after ours: the
// specification keeps the start of the lexicographically smaller user ID,
// or for the same user the smaller device ID.
func (v *Verification) onStartTie(c *StartContent, raw []byte) ([]Event, error) {
	if c.Method != v.ourStart.Method {
		return v.fail(fmt.Errorf("%w: both sides started, with %q and %q", ErrUnexpectedMessage, v.ourStart.Method, c.Method))
	}
	me, them := v.me(), v.peer()
	weWin := me.UserID < them.UserID || (me.UserID == them.UserID && me.DeviceID < them.DeviceID)
	if weWin {
		return nil, nil // theirs is ignored; they will answer ours
	}
	v.sas, v.ourStart, v.startRaw, v.weStarted = nil, nil, nil, false
	v.result = Result{}
	v.state = StateReady
	return v.onStart(c, raw)
}

func (v *Verification) onAccept(c *AcceptContent) ([]Event, error) {
	o := v.ourStart
	if c.Method != "" && c.Method != MethodSAS ||
		!slices.Contains(o.KeyAgreementProtocols, c.KeyAgreementProtocol) ||
		!slices.Contains(o.Hashes, c.Hash) ||
		!slices.Contains(o.MessageAuthenticationCodes, c.MessageAuthenticationCode) {
		return v.fail(fmt.Errorf("%w: accept chose %q %q %q", ErrUnknownMethod, c.KeyAgreementProtocol, c.Hash, c.MessageAuthenticationCode))
	}
	if len(c.ShortAuthenticationString) == 0 {
		return v.fail(fmt.Errorf("%w: no short authentication string method", ErrUnknownMethod))
	}
	for _, s := range c.ShortAuthenticationString {
		if !slices.Contains(o.ShortAuthenticationString, s) {
			return v.fail(fmt.Errorf("%w: short authentication string %q", ErrUnknownMethod, s))
		}
	}
	commitment, err := b64.Decode(c.Commitment)
	if err != nil || len(commitment) != 32 {
		return v.fail(fmt.Errorf("%w: commitment", ErrInvalidEvent))
	}
	v.commitment = commitment
	v.macMethod = c.MessageAuthenticationCode
	v.sasMethods = slices.Compact(slices.Sorted(slices.Values(c.ShortAuthenticationString)))
	v.state = StateKeySent
	return []Event{v.event(EventKey, &KeyContent{Key: v.sas.PublicKey().String()})}, nil
}

func (v *Verification) onKey(c *KeyContent) ([]Event, error) {
	their, err := ParsePublicKey(c.Key)
	if err != nil {
		return v.fail(fmt.Errorf("%w: %v", ErrInvalidEvent, err))
	}
	var out []Event
	if v.weStarted {
		// Check the commitment before anything derives from the key.
		want, err := Commitment(their, v.startRaw)
		if err != nil {
			return v.fail(err)
		}
		got, _ := base64.RawStdEncoding.DecodeString(want)
		if subtle.ConstantTimeCompare(got, v.commitment) != 1 {
			return v.fail(fmt.Errorf("%w: the key does not match the commitment", ErrCommitmentMismatch))
		}
	}
	ours := v.sas.PublicKey()
	est, err := v.sas.Establish(their)
	v.sas = nil
	if err != nil {
		return v.fail(err)
	}
	v.est = est
	var info string
	if v.weStarted {
		info = SASInfo(v.me(), ours, v.peer(), their, v.flowID)
	} else {
		info = SASInfo(v.peer(), their, v.me(), ours, v.flowID)
		out = append(out, v.event(EventKey, &KeyContent{Key: ours.String()}))
	}
	v.short = est.ShortAuthString(info)
	v.haveShort = true
	v.state = StateKeysExchanged
	return out, nil
}

// onMAC checks the other side's MAC: first the MAC of the key ID list, so
// that no key was added or removed, then each key against this device's
// pinned copy. Key IDs naming neither the other device nor the pinned
// master key are ignored, and never verified.
func (v *Verification) onMAC(c *MACContent) ([]Event, error) {
	est, sender, receiver := v.est, v.peer(), v.me()
	ids := make([]string, 0, len(c.MAC))
	for id := range c.MAC {
		ids = append(ids, id)
	}
	if err := est.VerifyMAC(v.macMethod, KeyIDList(ids), MACInfo(sender, receiver, v.flowID, KeyIDsInfo), c.Keys); err != nil {
		return v.fail(fmt.Errorf("%w: key ID list: %v", ErrKeyMismatch, err))
	}
	master := v.peerKeys.MasterKey
	crossSigning := map[string]bool{}
	for _, k := range []olm.Ed25519PublicKey{v.peerKeys.MasterKey, v.peerKeys.SelfSigningKey, v.peerKeys.UserSigningKey} {
		if k != (olm.Ed25519PublicKey{}) {
			crossSigning[k.String()] = true
		}
	}
	var res Result
	slices.Sort(ids)
	for _, id := range ids {
		name, ok := strings.CutPrefix(id, "ed25519:")
		if !ok {
			continue
		}
		if name == v.peerDevice && crossSigning[name] {
			return v.fail(fmt.Errorf("%w: key ID %q", ErrKeyIDCollision, id))
		}
		var key olm.Ed25519PublicKey
		isDevice := name == v.peerDevice
		switch {
		case isDevice:
			key = v.peerDeviceKey
		case master != (olm.Ed25519PublicKey{}) && name == master.String():
			key = master
		default:
			continue
		}
		if err := est.VerifyMAC(v.macMethod, key.String(), MACInfo(sender, receiver, v.flowID, id), c.MAC[id]); err != nil {
			return v.fail(fmt.Errorf("%w: %s: %v", ErrKeyMismatch, id, err))
		}
		k := key
		if isDevice {
			res.DeviceKey = &k
		} else {
			res.MasterKey = &k
		}
	}
	if res.DeviceKey == nil && res.MasterKey == nil {
		return v.fail(fmt.Errorf("%w: the MAC names no key this device can verify", ErrKeyMismatch))
	}
	res.UserID, res.DeviceID = v.peerUser, v.peerDevice
	v.result = res
	v.theirMACOK = true
	if v.state == StateConfirmed {
		v.state = StateWaitingForDone
		return []Event{v.event(EventDone, &DoneContent{})}, nil
	}
	return nil, nil
}
