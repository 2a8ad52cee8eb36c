package sas

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/souverain/e2ee/olm"
)

// Timeouts and limits of the verification flow.
const (
	// Timeout is how long a verification may take in all, from the
	// request (or the first start) to done. The specification asks for 10
	// minutes, and for a transaction ID to expire 10 minutes after last
	// use, which this bound implies.
	Timeout = 10 * time.Minute
	// RequestPromptTimeout is how long a received request waits for
	// Accept after it arrived; the request also expires RequestMaxAge
	// after its timestamp, whichever is sooner.
	RequestPromptTimeout = 2 * time.Minute
	// RequestMaxAge and RequestMaxFuture bound the timestamp of a
	// received request (to-device timestamp, in-room origin_server_ts)
	// relative to the local clock; requests outside are ignored.
	RequestMaxAge    = 10 * time.Minute
	RequestMaxFuture = 5 * time.Minute
	// MaxVerifications bounds the verifications in progress at once that
	// this device started or accepted. Requests received and not yet
	// accepted do not count: they have limits of their own, below, so
	// that nobody can fill the machine with unsolicited requests and keep
	// this device from starting a verification of its own.
	MaxVerifications = 64
	// MaxPendingRequestsPerUser bounds the requests received from one
	// user (an unrequested start counts as a request) and not yet accepted
	// or finished; more are refused with ErrTooManyRequests. One device
	// has at most one: a second request from the same device cancels
	// both, as the specification asks.
	MaxPendingRequestsPerUser = 4
	// MaxPendingRequests bounds the requests received from all users and
	// not yet accepted or finished.
	MaxPendingRequests = 32
	// forgetAfter is how long a finished verification is remembered, so
	// that replays of its events are refused rather than taken for a new
	// verification.
	forgetAfter = 30 * time.Minute
	// maxRemembered bounds the verifications kept, finished ones
	// included; the oldest finished one makes room for a new one.
	maxRemembered = 4 * MaxVerifications
)

// UserKeys are the public keys of one user as the caller learnt them from
// /keys/query, with their signatures checked. A zero key means absent.
type UserKeys struct {
	// Devices maps device IDs to their Ed25519 keys.
	Devices map[string]olm.Ed25519PublicKey
	// The cross-signing keys. MasterKey is the one a SAS verification can
	// verify; all three are checked against the device IDs.
	MasterKey      olm.Ed25519PublicKey
	SelfSigningKey olm.Ed25519PublicKey
	UserSigningKey olm.Ed25519PublicKey
}

// collision returns a device ID that spells one of the user's
// cross-signing keys in base64 (see spellsKey), if any.
func (k UserKeys) collision() (string, bool) {
	var zero olm.Ed25519PublicKey
	for _, key := range []olm.Ed25519PublicKey{k.MasterKey, k.SelfSigningKey, k.UserSigningKey} {
		if key == zero {
			continue
		}
		if _, ok := k.Devices[key.String()]; ok {
			return key.String(), true
		}
		for id := range k.Devices {
			if spellsKey(id, key) {
				return id, true
			}
		}
	}
	return "", false
}

// spellsKey reports whether id is a spelling of key in base64: standard or
// URL-safe alphabet, padded or not, with or without stray bits in the last
// character, with surrounding space. Device IDs and cross-signing key IDs
// share one namespace ("ed25519:<id>"), and clients decode key IDs in
// different ways, so a device ID that decodes to a cross-signing key must
// be refused, not only the exact unpadded spelling (SECURITY requirement
// 38). Keys and IDs are public.
func spellsKey(id string, key [32]byte) bool {
	s := strings.TrimRight(strings.TrimSpace(id), "=")
	if len(s) != 43 {
		return false
	}
	s = strings.NewReplacer("-", "+", "_", "/").Replace(s)
	b, err := base64.RawStdEncoding.DecodeString(s)
	return err == nil && len(b) == 32 && [32]byte(b) == key
}

// Config describes this device to a Machine.
type Config struct {
	// UserID and DeviceID identify this device. Required.
	UserID   string
	DeviceID string
	// DeviceKey is this device's Ed25519 key. Required.
	DeviceKey olm.Ed25519PublicKey
	// MasterKey is this user's master cross-signing key, zero if the user
	// has none. MasterKeyTrusted says whether this device trusts it (holds
	// its private key or has verified it); only a trusted master key is
	// sent in MACs and QR codes as this user's own. Machine.SetMasterKey
	// replaces both later, when this device learns its identity.
	MasterKey        olm.Ed25519PublicKey
	MasterKeyTrusted bool
	// Keys returns the keys the caller holds for a user. The flow pins
	// the other device's key and the user's master key from it when the
	// other device becomes known, and verifies MACs and QR codes against
	// these copies only. Required.
	Keys func(userID string) (UserKeys, bool)
	// Methods lists the verification methods to offer: MethodSAS,
	// MethodQRShow, MethodQRScan (MethodReciprocate is added with either
	// QR method). Empty means MethodSAS only.
	Methods []string
	// AllowLegacyMAC lets a SAS verification use the deprecated
	// hkdf-hmac-sha256 MAC method (libolm's faulty base64) with a peer
	// that offers nothing newer. It is offered after
	// hkdf-hmac-sha256.v2 and never chosen when the peer offers v2.
	AllowLegacyMAC bool
	// Now returns the current time; nil means time.Now. Tests inject a
	// clock here to drive timeouts.
	//
	// Keys and Now are called with the Machine's lock held: they must not
	// call the Machine or its Verifications.
	Now func() time.Time
}

// Machine runs the key verifications of one device: it takes verification
// events in (Receive), returns the events to send, and keeps one
// Verification per flow. It does no I/O: the caller sends the returned
// events, to-device or in the room they name, and feeds every received
// verification event to Receive, plus Tick now and then for timeouts.
//
// A Machine is safe for concurrent use. Only NewMachine makes one: on a nil
// or zero Machine the methods that return an error return one wrapping
// ErrNil, and the others return nothing.
type Machine struct {
	cfg    Config
	mu     sync.Mutex
	flows  map[string]*Verification
	random io.Reader
	closed bool // set by Close
}

// NewMachine returns a Machine for the device cfg describes. It returns an
// error if a required field is missing, a method is unknown, or this
// device's ID collides with its own master key (ErrKeyIDCollision).
func NewMachine(cfg Config) (*Machine, error) {
	var zero olm.Ed25519PublicKey
	if cfg.UserID == "" || cfg.DeviceID == "" || cfg.DeviceKey == zero || cfg.Keys == nil {
		return nil, fmt.Errorf("sas: new machine: UserID, DeviceID, DeviceKey and Keys are required")
	}
	if cfg.MasterKey != zero && spellsKey(cfg.DeviceID, cfg.MasterKey) {
		return nil, fmt.Errorf("sas: new machine: %w", ErrKeyIDCollision)
	}
	if cfg.MasterKey == zero {
		cfg.MasterKeyTrusted = false
	}
	methods := []string{}
	qr := false
	for _, m := range cfg.Methods {
		switch m {
		case MethodSAS, MethodReciprocate:
		case MethodQRShow, MethodQRScan:
			qr = true
		default:
			return nil, fmt.Errorf("sas: new machine: method %q: %w", m, ErrUnknownMethod)
		}
		if !slices.Contains(methods, m) && m != MethodReciprocate {
			methods = append(methods, m)
		}
	}
	if len(methods) == 0 {
		methods = []string{MethodSAS}
	}
	if qr {
		methods = append(methods, MethodReciprocate)
	}
	cfg.Methods = methods
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Machine{cfg: cfg, flows: map[string]*Verification{}, random: rand.Reader}, nil
}

// SetMasterKey sets or replaces this user's own master cross-signing key
// and this device's trust in it (Config.MasterKey and
// Config.MasterKeyTrusted), for a device that learns its identity after
// NewMachine: from a /keys/query of its own user, from the private keys
// arriving by secret storage or gossip, or from a bootstrap. A zero key
// means none (and is never trusted).
//
// Verifications that have already pinned the other side's keys (from
// Accept, or from the other side's ready or start) keep the master key and
// the trust they pinned with them, so that one flow never MACs or shows
// two different keys; later ones use the new key. It returns an error
// wrapping ErrKeyIDCollision, and changes nothing, if this device's ID
// spells the key, and ErrNil or ErrClosed on a nil or closed Machine.
func (m *Machine) SetMasterKey(key olm.Ed25519PublicKey, trusted bool) error {
	if err := m.lock(); err != nil {
		return fmt.Errorf("sas: set master key: %w", err)
	}
	defer m.mu.Unlock()
	var zero olm.Ed25519PublicKey
	if key != zero && spellsKey(m.cfg.DeviceID, key) {
		return fmt.Errorf("sas: set master key: %w", ErrKeyIDCollision)
	}
	m.cfg.MasterKey, m.cfg.MasterKeyTrusted = key, trusted && key != zero
	return nil
}

// MasterKey returns this user's own master key as the machine has it, and
// whether it is trusted (Config.MasterKey, or the last SetMasterKey).
func (m *Machine) MasterKey() (key olm.Ed25519PublicKey, trusted bool) {
	if err := m.lock(); err != nil {
		return olm.Ed25519PublicKey{}, false
	}
	defer m.mu.Unlock()
	return m.cfg.MasterKey, m.cfg.MasterKeyTrusted
}

// valid reports whether m was made by NewMachine.
func (m *Machine) valid() bool { return m != nil && m.flows != nil }

// lock locks m, or returns an error wrapping ErrNil (a nil or zero
// Machine) or ErrClosed, with nothing locked.
func (m *Machine) lock() error {
	if !m.valid() {
		return ErrNil
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return ErrClosed
	}
	return nil
}

// Close wipes the ephemeral keys and shared secrets of every verification
// in progress and ends the machine: afterwards its methods, and those of
// its Verifications, fail with an error wrapping ErrClosed (or return
// nothing). It is idempotent.
func (m *Machine) Close() {
	if !m.valid() {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, v := range m.flows {
		v.wipe()
	}
	m.closed = true
}

func flowKey(roomID, id string) string { return roomID + "\x00" + id }

func (m *Machine) now() time.Time { return m.cfg.Now() }

func (m *Machine) randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := io.ReadFull(m.random, b); err != nil {
		panic("sas: reading randomness: " + err.Error()) // crypto/rand never fails
	}
	return b
}

func (m *Machine) newTransactionID() string {
	return base64.RawURLEncoding.EncodeToString(m.randomBytes(18))
}

// makeRoom reports whether a verification of our own may start: fewer
// than MaxVerifications in progress (received requests not yet accepted do
// not count), and space among the remembered ones, made by forgetting the
// verification that finished first or, failing that, the oldest request
// received and not accepted: a request of ours always finds room.
func (m *Machine) makeRoom() bool {
	if m.active() >= MaxVerifications {
		return false
	}
	return m.remember(true)
}

// makeRoomForRequest reports whether a request received from user may be
// kept: fewer than MaxPendingRequestsPerUser pending from that user, fewer
// than MaxPendingRequests in all, and space among the remembered ones made
// by forgetting a finished verification only. The error wraps
// ErrTooManyRequests.
func (m *Machine) makeRoomForRequest(user string) error {
	all, fromUser := 0, 0
	for _, v := range m.flows {
		if v.pendingIncoming() {
			all++
			if v.peerUser == user {
				fromUser++
			}
		}
	}
	switch {
	case fromUser >= MaxPendingRequestsPerUser:
		return fmt.Errorf("%w: %d pending requests from %s", ErrTooManyRequests, fromUser, user)
	case all >= MaxPendingRequests:
		return fmt.Errorf("%w: %d pending requests", ErrTooManyRequests, all)
	case !m.remember(false):
		return fmt.Errorf("%w: %d verifications remembered", ErrTooManyRequests, len(m.flows))
	}
	return nil
}

// remember makes space for one more flow if need be: it forgets the
// verification that finished first, or, if ours is set and none has
// finished, the oldest pending received request (whose sender will see it
// time out). It reports whether there is space.
func (m *Machine) remember(ours bool) bool {
	if len(m.flows) < maxRemembered {
		return true
	}
	var oldest, oldestReq string
	var at, reqAt time.Time
	for k, v := range m.flows {
		switch {
		case v.finished() && (oldest == "" || v.finishedAt.Before(at)):
			oldest, at = k, v.finishedAt
		case v.pendingIncoming() && (oldestReq == "" || v.created.Before(reqAt)):
			oldestReq, reqAt = k, v.created
		}
	}
	if oldest == "" && ours {
		oldest = oldestReq
	}
	if oldest == "" {
		return false
	}
	m.flows[oldest].wipe()
	delete(m.flows, oldest)
	return true
}

// active counts the verifications in progress that we started or
// accepted.
func (m *Machine) active() int {
	n := 0
	for _, v := range m.flows {
		if !v.finished() && !v.pendingIncoming() {
			n++
		}
	}
	return n
}

func (m *Machine) me() Party { return Party{m.cfg.UserID, m.cfg.DeviceID} }

// Verification returns the verification of a flow: a to-device transaction
// ID (roomID "") or the event ID of an in-room request. It returns nil if
// there is none.
func (m *Machine) Verification(roomID, flowID string) *Verification {
	if err := m.lock(); err != nil {
		return nil
	}
	defer m.mu.Unlock()
	return m.flows[flowKey(roomID, flowID)]
}

// Verifications returns the verifications the machine remembers, in
// progress or finished recently, in no particular order.
func (m *Machine) Verifications() []*Verification {
	if err := m.lock(); err != nil {
		return nil
	}
	defer m.mu.Unlock()
	out := make([]*Verification, 0, len(m.flows))
	for _, v := range m.flows {
		out = append(out, v)
	}
	return out
}

// RequestToDevice starts a verification with the given devices of userID
// by to-device messages: it returns the new Verification and one
// m.key.verification.request per device. The first device to answer with
// ready takes part; the others are sent m.accepted. This device is left
// out of a request to its own user (an error wrapping ErrUnknownDevice if
// no other device remains).
func (m *Machine) RequestToDevice(userID string, deviceIDs ...string) (*Verification, []Event, error) {
	if err := m.lock(); err != nil {
		return nil, nil, fmt.Errorf("sas: request: %w", err)
	}
	defer m.mu.Unlock()
	devices := slices.Compact(slices.Sorted(slices.Values(deviceIDs)))
	if userID == m.cfg.UserID {
		// Never this very device: a ready in its name is forged.
		devices = slices.DeleteFunc(devices, func(d string) bool { return d == m.cfg.DeviceID })
	}
	if userID == "" || len(devices) == 0 {
		return nil, nil, fmt.Errorf("sas: request: no user or device: %w", ErrUnknownDevice)
	}
	if !m.makeRoom() {
		return nil, nil, fmt.Errorf("sas: request: %d verifications in progress: %w", MaxVerifications, ErrState)
	}
	now := m.now()
	v := m.newVerification(userID, "", now)
	v.flowID = m.newTransactionID()
	v.weRequested = true
	v.state = StateRequested
	v.requestDevices = devices
	if len(v.requestDevices) == 1 {
		v.peerDevice = v.requestDevices[0]
	}
	content := &RequestContent{
		FromDevice:    m.cfg.DeviceID,
		Methods:       m.cfg.Methods,
		TransactionID: v.flowID,
		Timestamp:     now.UnixMilli(),
	}
	raw, _ := json.Marshal(content)
	var out []Event
	for _, d := range v.requestDevices {
		out = append(out, Event{Type: EventRequest, Content: raw, ToUser: userID, ToDevice: d})
	}
	m.flows[flowKey("", v.flowID)] = v
	return v, out, nil
}

// RequestInRoom starts a verification of userID in a room, which should
// be a direct-message room with that user. It returns the Verification and
// the m.room.message request event to send there. The flow is identified
// by the event ID the server gives that event: pass it to
// Verification.RequestSent before the answers come in.
func (m *Machine) RequestInRoom(roomID, userID string) (*Verification, Event, error) {
	if err := m.lock(); err != nil {
		return nil, Event{}, fmt.Errorf("sas: request in room: %w", err)
	}
	defer m.mu.Unlock()
	if roomID == "" || userID == "" {
		return nil, Event{}, fmt.Errorf("sas: request in room: no room or user: %w", ErrUnknownDevice)
	}
	if userID == m.cfg.UserID {
		// The specification has a user's own devices verify each other
		// by to-device messages; in a room, this device could not tell
		// its own echoes from the other device's events.
		return nil, Event{}, fmt.Errorf("sas: request in room: own user: %w", ErrState)
	}
	if !m.makeRoom() {
		return nil, Event{}, fmt.Errorf("sas: request in room: %d verifications in progress: %w", MaxVerifications, ErrState)
	}
	v := m.newVerification(userID, roomID, m.now())
	v.weRequested = true
	v.state = StateRequested
	content := &RequestContent{
		MsgType:    EventRequest,
		Body:       m.cfg.UserID + " is requesting to verify your device, but your client does not support in-chat key verification. You will need to use legacy key verification to verify keys.",
		FromDevice: m.cfg.DeviceID,
		Methods:    m.cfg.Methods,
		To:         userID,
	}
	raw, _ := json.Marshal(content)
	return v, Event{Type: EventRoomMessage, Content: raw, RoomID: roomID}, nil
}

// Tick cancels the verifications whose time is up, with m.timeout, and
// returns the cancel events to send. It also forgets verifications that
// finished long ago. Call it every few seconds.
func (m *Machine) Tick() []Event {
	if err := m.lock(); err != nil {
		return nil
	}
	defer m.mu.Unlock()
	now := m.now()
	var out []Event
	for k, v := range m.flows {
		if v.finished() {
			if now.Sub(v.finishedAt) > forgetAfter {
				delete(m.flows, k)
			}
			continue
		}
		if now.After(v.deadline()) {
			out = append(out, v.cancelWith(CancelTimeout, "the verification timed out", ErrTimeout)...)
		}
	}
	return out
}

// Receive processes one verification event: a to-device
// m.key.verification.* event, or a room event (m.room.message with msgtype
// m.key.verification.request, or m.key.verification.*) with RoomID and
// EventID set. Other events are ignored. For an encrypted event, pass the
// decrypted type and content, with SenderDevice set from the Olm session.
//
// It returns the verification the event belongs to (a new one for a
// request the machine kept, which a bot may Accept at once), or nil if the
// event belongs to none: ignored, refused before a flow existed, or for a
// transaction the machine does not know. It also returns the events to
// send in reply. An event that is refused is answered with
// m.key.verification.cancel where the specification asks for one, and err
// says why it was refused, wrapping one of this package's sentinels
// (ErrUnknownTransaction, ErrUnexpectedMessage, ErrInvalidEvent,
// ErrCommitmentMismatch, ErrKeyMismatch, ErrTooManyRequests, ...). Send out
// even when err is not nil. A cancel from the other side is not an error:
// it ends the verification, which Verification.Cancellation then
// describes. Receive never answers a cancel, so two devices cannot loop.
func (m *Machine) Receive(ev Event) (v *Verification, out []Event, err error) {
	if err := m.lock(); err != nil {
		return nil, nil, fmt.Errorf("sas: receive %s: %w", ev.Type, err)
	}
	defer m.mu.Unlock()
	out, err = m.receive(ev)
	if err != nil {
		err = fmt.Errorf("sas: receive %s: %w", ev.Type, err)
	}
	return m.flowOf(ev), out, err
}

// flowOf returns the verification ev belongs to, found as receive finds
// it: by the request's event ID in a room, else by the transaction ID or
// the m.relates_to event ID in the content.
func (m *Machine) flowOf(ev Event) *Verification {
	if len(ev.Content) > MaxEventSize {
		return nil
	}
	var id string
	switch ev.Type {
	case EventRoomMessage:
		id = ev.EventID
	case EventRequest, EventReady, EventStart, EventAccept, EventKey, EventMAC, EventDone, EventCancel:
		id, _ = peekFlow(ev.Content)
	}
	if id == "" || ev.RoomID == "" && ev.Type == EventRoomMessage {
		return nil
	}
	return m.flows[flowKey(ev.RoomID, id)]
}

func (m *Machine) receive(ev Event) ([]Event, error) {
	if len(ev.Content) > MaxEventSize {
		return nil, ErrEventTooLarge
	}
	if ev.Sender == "" {
		return nil, fmt.Errorf("%w: no sender", ErrInvalidEvent)
	}
	inRoom := ev.RoomID != ""
	switch ev.Type {
	case EventRoomMessage:
		if !inRoom {
			return nil, nil
		}
		var probe struct {
			MsgType any `json:"msgtype"`
		}
		if json.Unmarshal(ev.Content, &probe) != nil || probe.MsgType != EventRequest {
			return nil, nil // some other message
		}
		return m.receiveRequest(ev)
	case EventRequest:
		if inRoom {
			return nil, fmt.Errorf("%w: to-device request type in a room", ErrInvalidEvent)
		}
		return m.receiveRequest(ev)
	case EventReady, EventStart, EventAccept, EventKey, EventMAC, EventDone, EventCancel:
	default:
		return nil, nil
	}
	c, perr := parseContent(ev.Type, ev.Content)
	id, fromDevice := peekFlow(ev.Content)
	if id == "" {
		if perr == nil {
			perr = ErrInvalidEvent
		}
		return nil, perr
	}
	v := m.flows[flowKey(ev.RoomID, id)]
	if v == nil {
		return m.receiveUnknown(ev, c, perr, id, fromDevice)
	}
	return v.receive(ev, c, perr, fromDevice)
}

// receiveRequest handles an incoming request, to-device or in-room.
func (m *Machine) receiveRequest(ev Event) ([]Event, error) {
	c, err := parseContent(ev.Type, ev.Content)
	if err != nil {
		return nil, err // no flow yet: nothing to cancel
	}
	req := c.(*RequestContent)
	now := m.now()
	inRoom := ev.RoomID != ""
	var ts time.Time
	id := req.TransactionID
	if inRoom {
		if req.To != m.cfg.UserID || ev.Sender == m.cfg.UserID {
			return nil, nil // for someone else, or our own request
		}
		if ev.EventID == "" {
			return nil, fmt.Errorf("%w: in-room request without event ID", ErrInvalidEvent)
		}
		id = ev.EventID
		ts = time.UnixMilli(ev.OriginServerTS)
	} else {
		if ev.Sender == m.cfg.UserID && req.FromDevice == m.cfg.DeviceID {
			return nil, nil // our own request
		}
		if ev.SenderDevice != "" && ev.SenderDevice != req.FromDevice {
			return nil, fmt.Errorf("%w: from_device %q sent by device %q", ErrInvalidEvent, req.FromDevice, ev.SenderDevice)
		}
		ts = time.UnixMilli(req.Timestamp)
	}
	if ts.Before(now.Add(-RequestMaxAge)) || ts.After(now.Add(RequestMaxFuture)) {
		return nil, fmt.Errorf("%w: request timestamp %v outside the accepted window", ErrTimeout, ts)
	}
	key := flowKey(ev.RoomID, id)
	if old := m.flows[key]; old != nil {
		// A second request with a flow ID already in use: a replay, or a
		// peer confused about its own state.
		if old.finished() {
			return nil, fmt.Errorf("%w: request for a finished transaction", ErrUnexpectedMessage)
		}
		return old.cancelWith(CancelUnexpectedMessage, "duplicate request", ErrUnexpectedMessage), ErrUnexpectedMessage
	}
	if err := m.makeRoomForRequest(ev.Sender); err != nil {
		return nil, err
	}
	v := m.newVerification(ev.Sender, ev.RoomID, now)
	v.flowID = id
	v.peerDevice = req.FromDevice
	v.theirMethods = slices.Clone(req.Methods)
	v.state = StateRequestReceived
	v.requestTime = ts
	m.flows[key] = v
	// The specification: when the same device starts several
	// verifications, cancel all of them.
	if out := m.cancelOthersFrom(v); len(out) > 0 {
		out = append(out, v.cancelWith(CancelUnexpectedMessage, "several verification requests from the same device", ErrUnexpectedMessage)...)
		return out, ErrUnexpectedMessage
	}
	return nil, nil
}

// cancelOthersFrom cancels the verifications in progress, other than v,
// that this device has with v's device.
func (m *Machine) cancelOthersFrom(v *Verification) []Event {
	var out []Event
	for _, o := range m.flows {
		if o == v || o.finished() || o.weRequested || o.peerUser != v.peerUser || o.peerDevice != v.peerDevice || o.roomID != v.roomID {
			continue
		}
		out = append(out, o.cancelWith(CancelUnexpectedMessage, "several verification requests from the same device", ErrUnexpectedMessage)...)
	}
	return out
}

// receiveUnknown handles an event whose flow this machine does not know.
func (m *Machine) receiveUnknown(ev Event, c any, perr error, id, fromDevice string) ([]Event, error) {
	inRoom := ev.RoomID != ""
	if ev.Type == EventCancel || inRoom {
		// Never answer a cancel; in a room, events of other people's
		// verifications are none of our business.
		return nil, ErrUnknownTransaction
	}
	if ev.Type == EventStart {
		if sc, ok := c.(*StartContent); ok && errors.Is(perr, ErrUnknownMethod) {
			return []Event{cancelEvent(ev.Sender, sc.FromDevice, "", sc.TransactionID, CancelUnknownMethod, "unknown method")}, perr
		}
		if perr != nil {
			return nil, perr
		}
		return m.receiveUnrequestedStart(ev, c.(*StartContent))
	}
	dev := ev.SenderDevice
	if dev == "" {
		dev = fromDevice
	}
	if dev == "" {
		dev = "*"
	}
	return []Event{cancelEvent(ev.Sender, dev, "", id, CancelUnknownTransaction, "unknown transaction")}, ErrUnknownTransaction
}

// receiveUnrequestedStart handles a to-device m.key.verification.start
// that no request preceded, which the specification still allows
// (deprecated). The verification waits for Accept.
func (m *Machine) receiveUnrequestedStart(ev Event, c *StartContent) ([]Event, error) {
	if ev.SenderDevice != "" && ev.SenderDevice != c.FromDevice {
		return nil, fmt.Errorf("%w: from_device %q sent by device %q", ErrInvalidEvent, c.FromDevice, ev.SenderDevice)
	}
	if ev.Sender == m.cfg.UserID && c.FromDevice == m.cfg.DeviceID {
		return nil, nil // in our own name: never a verification
	}
	if c.Method != MethodSAS || !slices.Contains(m.cfg.Methods, MethodSAS) {
		return []Event{cancelEvent(ev.Sender, c.FromDevice, "", c.TransactionID, CancelUnknownMethod, "unknown method")}, ErrUnknownMethod
	}
	if err := m.makeRoomForRequest(ev.Sender); err != nil {
		return nil, err
	}
	v := m.newVerification(ev.Sender, "", m.now())
	v.flowID = c.TransactionID
	v.peerDevice = c.FromDevice
	v.theirMethods = []string{MethodSAS}
	v.state = StateStartReceived
	v.theirStart = c
	v.theirStartRaw = slices.Clone(ev.Content)
	m.flows[flowKey("", v.flowID)] = v
	if out := m.cancelOthersFrom(v); len(out) > 0 {
		out = append(out, v.cancelWith(CancelUnexpectedMessage, "several verifications from the same device", ErrUnexpectedMessage)...)
		return out, ErrUnexpectedMessage
	}
	return nil, nil
}

// cancelEvent builds a cancel outside any Verification: to-device to
// (user, device), or in roomID.
func cancelEvent(user, device, roomID, id string, code CancelCode, reason string) Event {
	c := &CancelContent{Code: code, Reason: reason}
	ev := Event{Type: EventCancel}
	if roomID != "" {
		c.RelatesTo = &RelatesTo{RelType: "m.reference", EventID: id}
		ev.RoomID = roomID
	} else {
		c.TransactionID = id
		ev.ToUser, ev.ToDevice = user, device
	}
	ev.Content, _ = json.Marshal(c)
	return ev
}
