package machine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/souverain/e2ee/crossign"
	"github.com/souverain/e2ee/dehydrated"
	"github.com/souverain/e2ee/olm"
)

// Kinds of the MSC3814 requests (dehydrated devices). A dehydrated device
// is a device of ours that lives on the homeserver, encrypted under a key
// only we hold, and collects the room keys sent to us while none of our
// devices is online. The machine creates one with CreateDehydratedDevice
// (the caller sends the PUT it returns); a later device of ours opens it
// with Rehydrate, fetches the events it collected a page at a time
// (Rehydration.NextRequest, Rehydration.ReceiveEvents) and gets their room
// keys in its store; it then replaces the dehydrated device with a new one
// (CreateDehydratedDevice again: the PUT replaces the old one), as
// matrix-rust-sdk does, or deletes it (DeleteDehydratedDeviceRequest).
//
// These requests are returned to the caller directly, never by
// OutgoingRequests, and are not reported with MarkRequestSent: they are
// sent when the application decides to (at login, once cross-signing is set
// up, and about once a week to renew the device's one-time keys).
const (
	// KindDehydratedDevice is PUT, GET or DELETE
	// /_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device
	// (dehydrated.Path).
	KindDehydratedDevice RequestKind = KindKeysBackup + 1
	// KindDehydratedEvents is POST
	// /_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device/{device_id}/events
	// (dehydrated.EventsPath).
	KindDehydratedEvents RequestKind = KindKeysBackup + 2
)

// MaxRehydrationEvents is the most to-device events one Rehydration
// decrypts, over all its pages: a homeserver that sends more (or keeps
// handing out next_batch tokens) gets the rest ignored, and the
// rehydration ends with RehydrationResult.Truncated set. Each event costs
// up to one Olm session (a Curve25519 triple Diffie-Hellman, about half a
// millisecond) or up to dehydrated.MaxSessionsPerSender decryption
// attempts, each walking at most olm.MaxMessageGap chain steps (about 2.5
// ms on a loaded 2-core machine): the bound caps the work of a hostile
// homeserver at minutes, where a legitimate device takes well under one
// millisecond per event. A dehydrated
// device has olm.MaxNumberOfOneTimeKeys one-time keys and a fallback key,
// and gets one event per room key sent to it, so a device replaced weekly
// stays far below.
const MaxRehydrationEvents = 100_000

// Errors of dehydrated devices.
var (
	// ErrNoSelfSigningKey means the machine does not hold our
	// self-signing key (the m.cross_signing.self_signing secret), without
	// which a dehydrated device cannot be cross-signed: MSC3814 requires
	// it, and other clients (this machine's default sharing policy among
	// them) send no room keys to an unsigned dehydrated device.
	ErrNoSelfSigningKey = errors.New("machine: no self-signing key to cross-sign the dehydrated device")
	// ErrRehydrationFailed means an earlier ReceiveEvents of the
	// Rehydration failed with a store error after the dehydrated account
	// had used the page's events: start again with Rehydrate (the server
	// keeps the events until the device is replaced).
	ErrRehydrationFailed = errors.New("machine: rehydration failed; start again")
)

// DehydratedDevice is a dehydrated device the machine created, to upload.
type DehydratedDevice struct {
	// DeviceID is the device's ID: its Curve25519 identity key, unpadded
	// base64.
	DeviceID string
	// Request is the PUT to send; its response ({"device_id": …}) is not
	// needed back.
	Request Request
	// NewKey reports that the dehydration key was generated and stored as
	// a secret in this call: the application should also put it in secret
	// storage (SecretStorageAccountData), so that its other devices can
	// rehydrate.
	NewKey bool
}

// CreateDehydratedDevice creates a dehydrated device for our user, from a
// fresh Olm account with olm.MaxNumberOfOneTimeKeys one-time keys and a
// fallback key, and returns the PUT that uploads it (device_data in
// dehydrated.AlgorithmV2, encrypted under the dehydration key).
//
// The key is the one given; if key is nil, the secret dehydrated.SecretName
// (or dehydrated.UnstableSecretName) the machine holds (SetSecret, or
// received from another of our devices); if it holds neither, a new random
// key, stored with the machine's other secrets as dehydrated.SecretName and
// dehydrated.UnstableSecretName, the name Element's clients read
// (DehydratedDevice.NewKey is then set; SecretStorageAccountData then
// writes it to secret storage). A key given by the caller is not stored.
//
// The device keys are signed by the device and cross-signed by our
// self-signing key, as matrix-rust-sdk does and MSC3814 requires: other
// clients, and this machine under its default sharing policy, send no room
// key to a dehydrated device that its owner's cross-signing identity did
// not sign. Without the self-signing key (the
// m.cross_signing.self_signing secret), or with one that is not the key
// our identity published (when our /keys/query told it), or while a
// BootstrapCrossSigning waits to replace it (its confirmation would leave
// the device unsigned), the error wraps ErrNoSelfSigningKey and nothing is
// stored. A held dehydration secret that is not the base64
// of 32 bytes gives an error wrapping dehydrated.ErrKeySize.
//
// Uploading replaces the user's previous dehydrated device, if any.
func (m *Machine) CreateDehydratedDevice(ctx context.Context, key *dehydrated.Key) (*DehydratedDevice, error) {
	dev, err := dehydrated.NewDevice(m.userID)
	if err != nil {
		return nil, err
	}
	defer dev.Account().Close()
	out := &DehydratedDevice{DeviceID: dev.DeviceID()}
	err = m.update(ctx, func(t *txn) error {
		ks, err := t.privateKeys()
		if err != nil {
			return err
		}
		if ks != nil {
			defer ks.Close()
		}
		if ks == nil || ks.SelfSigning == nil {
			return ErrNoSelfSigningKey
		}
		// A bootstrap's confirmation would replace the key we sign
		// with: the device would be unsigned, and get no room key.
		if pending, err := t.bootstrapPending(); err != nil {
			return err
		} else if pending {
			return fmt.Errorf("%w: a cross-signing bootstrap waits to replace it (ConfirmCrossSigningUpload or CancelCrossSigningBootstrap first)", ErrNoSelfSigningKey)
		}
		// A self-signing key that is not our identity's (a stale one,
		// after a reset elsewhere) would sign in vain.
		if pub, err := t.publishedKey(crossign.UsageSelfSigning); err == nil && pub != ks.SelfSigning.PublicKey() {
			return fmt.Errorf("%w: the one held is not the one our identity published", ErrNoSelfSigningKey)
		} else if err != nil && !isNotFound(err) {
			return err
		}
		k := key
		if k == nil {
			held, err := t.dehydrationKey()
			if err != nil {
				return err
			}
			if held == nil {
				held = dehydrated.GenerateKey()
				for _, name := range []string{dehydrated.SecretName, dehydrated.UnstableSecretName} {
					if err := t.putSecret(name, held.Secret()); err != nil {
						return err
					}
				}
				out.NewKey = true
			}
			defer held.Clear()
			k = held
		}
		up, err := dev.UploadRequest(k, dehydrated.DefaultDisplayName)
		if err != nil {
			return err
		}
		if err := up.SignDeviceKeys(m.userID, ks.SelfSigning.KeyID(), ks.SelfSigning); err != nil {
			return err
		}
		body, err := json.Marshal(up)
		if err != nil {
			return err
		}
		out.Request = Request{ID: newID(), Kind: KindDehydratedDevice, Method: "PUT", Path: dehydrated.Path, Body: body}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// dehydrationKey returns the dehydration key held as a secret
// (dehydrated.SecretName first), nil if none.
func (t *txn) dehydrationKey() (*dehydrated.Key, error) {
	for _, name := range []string{dehydrated.SecretName, dehydrated.UnstableSecretName} {
		var secret string
		ok, err := t.getValue(NSSecrets, name, &secret)
		if err != nil {
			return nil, err
		}
		if ok {
			return dehydrated.KeyFromSecret(secret)
		}
	}
	return nil, nil
}

// dehydrationKeys returns the distinct dehydration keys held under either
// name (dehydrated.SecretName first), and the error of a held secret that
// is not a key.
func (t *txn) dehydrationKeys() ([]*dehydrated.Key, error) {
	var keys []*dehydrated.Key
	var bad error
	for _, name := range []string{dehydrated.SecretName, dehydrated.UnstableSecretName} {
		var secret string
		ok, err := t.getValue(NSSecrets, name, &secret)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		k, err := dehydrated.KeyFromSecret(secret)
		if err != nil {
			bad = err
			continue
		}
		if slices.ContainsFunc(keys, k.Equal) {
			k.Clear()
			continue
		}
		keys = append(keys, k)
	}
	return keys, bad
}

// GetDehydratedDeviceRequest returns GET dehydrated.Path, which answers
// with our dehydrated device (give the body to Rehydrate), or 404
// M_NOT_FOUND if there is none.
func GetDehydratedDeviceRequest() Request {
	return Request{ID: newID(), Kind: KindDehydratedDevice, Method: "GET", Path: dehydrated.Path}
}

// DeleteDehydratedDeviceRequest returns DELETE dehydrated.Path, which
// deletes our dehydrated device without replacing it (MSC3814 asks for it
// when cross-signing is reset and no new device is made).
func DeleteDehydratedDeviceRequest() Request {
	return Request{ID: newID(), Kind: KindDehydratedDevice, Method: "DELETE", Path: dehydrated.Path}
}

// Rehydration is a dehydrated device being rehydrated into the machine:
// it decrypts the to-device events the device collected, a page at a time,
// and stores the room keys they carry. It is sans I/O: NextRequest gives
// the POST to send for the next page, ReceiveEvents takes its response.
// Loop until Done (which wipes the dehydrated account and its Olm
// sessions; Close does it earlier), then replace the dehydrated device
// (CreateDehydratedDevice). It is safe for concurrent use; its calls are
// serialised.
//
// The room keys get ProvenanceDirect, with the sending device as sender:
// they came over Olm from that device, to a device of ours whose account
// was authenticated by decrypting device_data under our key, with the same
// checks as an m.room_key received in a /sync (the Olm payload names the
// envelope's sender, our user as recipient and the dehydrated device's
// Ed25519 key; its claimed Ed25519 key must be the sending device's when
// we know that device; a session_id must be its key's; a copy of a known
// session must come from the same sender and be the same ratchet; a
// dehydrated device sends nothing). A sender whose devices are not known
// yet is tracked, as in a /sync, and DecryptRoomEvent checks the claimed
// key once they are.
type Rehydration struct {
	m        *Machine
	mu       sync.Mutex
	dev      *dehydrated.Rehydrated
	deviceID string
	next     string // next_batch of the last page
	pages    int
	events   int
	done     bool
	failed   error
}

// RehydrationResult is what one page of events gave.
type RehydrationResult struct {
	// RoomKeys lists the room keys stored, with their provenance.
	RoomKeys []RoomKeyInfo
	// Retry lists room events that failed to decrypt earlier for want of
	// one of these keys: decrypt them again.
	Retry []RetryEvent
	// Failed lists the events of the page that were refused, by their
	// index in the page's events array, in order; they did not stop the
	// others.
	// Each Err wraps a sentinel of the dehydrated or olm package
	// (dehydrated.ErrNotForDevice, dehydrated.ErrNoSession,
	// olm.ErrPayloadMismatch for an event whose envelope sender is not
	// the one the payload names, or whose claimed Ed25519 key is not the
	// known sending device's, …) or of this package (ErrUntrustedSender
	// for a copy of a known session from another sender or a key from a
	// dehydrated device, ErrMalformedEvent).
	Failed []dehydrated.EventError
	// Ignored counts events that were not room keys.
	Ignored int
	// Done reports that the device has no more events (the page was
	// empty), or that MaxRehydrationEvents was reached.
	Done bool
	// Truncated reports that MaxRehydrationEvents was reached: the events
	// of this page past the limit, and any later page, were not read (the
	// device is to be replaced all the same).
	Truncated bool
}

// Rehydrate opens our dehydrated device: response is the body of the
// response to GetDehydratedDeviceRequest, key the dehydration key, or nil
// for the dehydrated.SecretName and dehydrated.UnstableSecretName secrets
// the machine holds (from secret storage, SetSecret or our other devices;
// each is tried if they differ). Both device_data formats are read.
//
// Errors wrap dehydrated.ErrWrongKey (the key is wrong or device_data was
// changed), dehydrated.ErrBadDeviceData, dehydrated.ErrUnknownAlgorithm,
// dehydrated.ErrKeySize, or ErrNotFound if key is nil and no secret is
// held. Nothing is stored until ReceiveEvents.
func (m *Machine) Rehydrate(ctx context.Context, key *dehydrated.Key, response []byte) (*Rehydration, error) {
	d, err := dehydrated.ParseDownloadedDevice(response)
	if err != nil {
		return nil, err
	}
	keys := []*dehydrated.Key{key}
	if key == nil {
		var bad error
		err := m.view(ctx, func(t *txn) error {
			var err error
			keys, bad = t.dehydrationKeys()
			return err
		})
		if err != nil {
			return nil, err
		}
		defer func() {
			for _, k := range keys {
				k.Clear()
			}
		}()
		if len(keys) == 0 && bad != nil {
			return nil, bad
		}
		if len(keys) == 0 {
			return nil, fmt.Errorf("%w: no %s secret", ErrNotFound, dehydrated.SecretName)
		}
	}
	var dev *dehydrated.Rehydrated
	for _, k := range keys {
		if dev, err = dehydrated.Rehydrate(k, m.userID, d.DeviceID, d.DeviceData); !errors.Is(err, dehydrated.ErrWrongKey) {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	return &Rehydration{m: m, dev: dev, deviceID: d.DeviceID}, nil
}

// DeviceID returns the dehydrated device's ID.
func (r *Rehydration) DeviceID() string { return r.deviceID }

// NextRequest returns the POST that fetches the next page of events, or
// nil once Done. The same request comes back until ReceiveEvents takes its
// response.
func (r *Rehydration) NextRequest() *Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done || r.failed != nil {
		return nil
	}
	return &Request{
		ID: fmt.Sprintf("rehydrate-%d", r.pages), Kind: KindDehydratedEvents, Method: "POST",
		Path: dehydrated.EventsPath(r.deviceID), Body: dehydrated.EventsRequest(r.next),
	}
}

// Done reports that every event was read (or MaxRehydrationEvents was
// reached).
func (r *Rehydration) Done() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.done
}

// ReceiveEvents takes the response body to NextRequest: it decrypts the
// page's to-device events with the dehydrated account and stores the room
// keys they carry, in one store transaction, each event on its own (one
// that is refused is listed in RehydrationResult.Failed and does not stop
// the others).
//
// A body that does not parse gives an error wrapping ErrBadResponse and
// changes nothing: send the request again. Events longer than
// dehydrated.MaxEventSize are refused one by one; the caller bounds the
// size of the body it reads. A store error is returned as is; the
// Rehydration is then unusable (ErrRehydrationFailed), since the
// dehydrated account has used the page's one-time keys, and its account is
// wiped: start again with Rehydrate.
func (r *Rehydration) ReceiveEvents(ctx context.Context, body []byte) (*RehydrationResult, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.failed != nil:
		return nil, fmt.Errorf("%w: %w", ErrRehydrationFailed, r.failed)
	case r.done:
		return &RehydrationResult{Done: true}, nil
	}
	page, err := dehydrated.ParseEvents(body)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadResponse, err)
	}
	res := &RehydrationResult{}
	events := page.Events
	if len(events) == 0 {
		r.pages++
		r.finish()
		res.Done = true
		return res, nil
	}
	if room := MaxRehydrationEvents - r.events; len(events) >= room {
		events = events[:room]
		res.Truncated, res.Done = true, true
	}
	got := r.dev.ReceiveEvents(events)
	res.Failed, res.Ignored = got.Failed, got.Ignored
	var infos []RoomKeyInfo
	var failed []dehydrated.EventError
	sr := &SyncResult{}
	err = r.m.update(ctx, func(t *txn) error {
		infos, failed, *sr = nil, nil, SyncResult{}
		for i := range got.RoomKeys {
			rk := &got.RoomKeys[i]
			info, refusal := t.rehydratedKey(rk, sr)
			var se *storeError
			if errors.As(refusal, &se) || errors.Is(refusal, ErrBadPickleKey) || errors.Is(refusal, ErrCorruptedStore) {
				return refusal
			}
			if refusal != nil {
				failed = append(failed, dehydrated.EventError{Index: rk.Index, Err: refusal})
				continue
			}
			infos = append(infos, *info)
		}
		return nil
	})
	if err != nil {
		// The account has used the page's keys: it is of no further use.
		r.failed = err
		r.dev.Close()
		return nil, err
	}
	r.pages++
	r.events += len(events)
	r.next = page.NextBatch
	if res.Done {
		r.finish()
	}
	res.RoomKeys, res.Retry = infos, sr.Retry
	res.Failed = append(res.Failed, failed...)
	slices.SortFunc(res.Failed, func(x, y dehydrated.EventError) int { return x.Index - y.Index })
	return res, nil
}

// rehydratedKey stores a room key the dehydrated device received, after
// the checks of an m.room_key received in a /sync.
func (t *txn) rehydratedKey(rk *dehydrated.RoomKey, res *SyncResult) (*RoomKeyInfo, error) {
	sk := rk.SenderKey.String()
	dev, err := t.deviceByCurve(rk.Sender, sk)
	if err != nil {
		return nil, err
	}
	if dev != nil && dev.Ed != rk.SenderEd25519.String() {
		return nil, fmt.Errorf("%w: the payload claims another Ed25519 key than the sending device's", olm.ErrPayloadMismatch)
	}
	if dev != nil && dev.Dehydrated {
		return nil, fmt.Errorf("%w: room key from a dehydrated device", ErrUntrustedSender)
	}
	if dev == nil {
		// Learn the sender's devices, to attribute its keys.
		if err := t.track(rk.Sender); err != nil {
			return nil, err
		}
	}
	st := inboundState{
		RoomID: rk.RoomID, SessionID: rk.SessionID,
		SenderKey: sk, SenderEd25519: rk.SenderEd25519.String(), SenderUser: rk.Sender,
		Provenance: ProvenanceDirect, SharedHistory: rk.SharedHistory,
	}
	if dev != nil {
		st.SenderDevice = dev.DeviceID
	}
	if err := t.storeInbound(&inboundSession{s: rk.Session, state: st}, res); err != nil {
		return nil, err
	}
	return &RoomKeyInfo{RoomID: rk.RoomID, SessionID: rk.SessionID, Provenance: ProvenanceDirect}, nil
}

// Close wipes the dehydrated account and its Olm sessions, as reaching
// Done does. The Rehydration is then Done.
func (r *Rehydration) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.finish()
}

// finish marks the rehydration done and wipes the dehydrated account and
// its Olm sessions.
func (r *Rehydration) finish() {
	r.done = true
	if r.dev != nil {
		r.dev.Close()
	}
}

// isDehydrated reports whether device keys carry "dehydrated": true.
func isDehydrated(keys json.RawMessage) bool {
	var k struct {
		Dehydrated bool `json:"dehydrated"`
	}
	return json.Unmarshal(keys, &k) == nil && k.Dehydrated
}

// Format prints the dehydrated device's ID and the progress, never the
// device's secrets, whatever the verb.
func (r *Rehydration) Format(f fmt.State, verb rune) {
	if r == nil {
		fmt.Fprint(f, "machine.Rehydration(nil)")
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(f, "machine.Rehydration{%s, %d pages, %d events, done: %v}", r.deviceID, r.pages, r.events, r.done)
}

// LogValue describes the rehydration for log/slog as Format does.
func (r *Rehydration) LogValue() slog.Value { return slog.StringValue(fmt.Sprint(r)) }
