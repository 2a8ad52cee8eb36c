package machine

import (
	"encoding/json"
	"fmt"

	"github.com/souverain/e2ee/internal/pickle"
)

// Kinds of sealed record. The kind is authenticated with the record, so a
// record of one kind cannot be opened as another.
const (
	kindAccount  = "souverain.machine.account"
	kindOlm      = "souverain.machine.olm_session"
	kindInbound  = "souverain.machine.inbound_group_session"
	kindOutbound = "souverain.machine.outbound_group_session"
	kindDevice   = "souverain.machine.device"
	kindValue    = "souverain.machine.value."
)

// seal encrypts v's JSON under the pickle key.
func (m *Machine) seal(kind string, v any) ([]byte, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("machine: seal %s: %w", kind, err)
	}
	s, err := pickle.Encrypt(m.key[:], kind, body)
	if err != nil {
		return nil, fmt.Errorf("machine: seal %s: %w", kind, err)
	}
	return []byte(s), nil
}

// open decrypts a sealed record into v. A wrong key or a changed record
// gives an error wrapping ErrBadPickleKey.
func (m *Machine) open(kind string, b []byte, v any) error {
	body, err := pickle.Decrypt(m.key[:], kind, string(b))
	if err != nil {
		return fmt.Errorf("machine: open %s: %w", kind, err)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("machine: open %s: %w: %v", kind, ErrCorruptedStore, err)
	}
	return nil
}

// accountState is the sealed content of the AccountRecord.
type accountState struct {
	UserID   string `json:"user_id"`
	DeviceID string `json:"device_id"`
	// Account is the olm.Account in souverain's pickle format.
	Account string `json:"account"`
	// Shared reports that the device keys were uploaded.
	Shared bool `json:"shared"`
	// OTKCount is the number of one-time keys the server last said it held.
	OTKCount int `json:"otk_count"`
	// Verified maps our own other devices we verified (SAS) to their
	// Ed25519 keys.
	Verified map[string]string `json:"verified,omitempty"`
}

// olmState is the sealed content of an OlmSessionRecord.
type olmState struct {
	SenderKey string `json:"sender_key"`
	Session   string `json:"session"`
	// Created and LastReceived are Unix milliseconds; the session used to
	// send is the one that most recently received a message, or the newest.
	Created      int64 `json:"created"`
	LastReceived int64 `json:"last_received"`
}

// inboundState is the sealed content of an InboundGroupSessionRecord.
type inboundState struct {
	RoomID    string `json:"room_id"`
	SessionID string `json:"session_id"`
	Session   string `json:"session"`
	// SenderKey and SenderEd25519 are the identity keys of the device the
	// session is attributed to: for direct keys the Olm sender, for others
	// what the forwarder or file claimed.
	SenderKey     string     `json:"sender_key"`
	SenderEd25519 string     `json:"sender_ed25519"`
	SenderUser    string     `json:"sender_user,omitempty"`
	SenderDevice  string     `json:"sender_device,omitempty"`
	Provenance    Provenance `json:"provenance"`
	SharedHistory bool       `json:"shared_history,omitempty"`
	// ForwardedBy is the Curve25519 key of the device that forwarded it.
	ForwardedBy string `json:"forwarded_by,omitempty"`
}

// outboundState is the sealed content of an OutboundGroupSessionRecord.
type outboundState struct {
	RoomID    string `json:"room_id"`
	SessionID string `json:"session_id"`
	Session   string `json:"session"`
	Created   int64  `json:"created"`
	// Messages is the number of messages encrypted.
	Messages uint32 `json:"messages"`
	// PeriodMs and PeriodMsgs are the rotation settings it was made under.
	PeriodMs   int64  `json:"period_ms"`
	PeriodMsgs uint32 `json:"period_msgs"`
	// Shared maps "user\x00device" to what the device got.
	Shared map[string]shareState `json:"shared"`
	// Pending holds the IDs of to-device requests not yet marked as sent;
	// the session is not used until it is empty.
	Pending map[string]bool `json:"pending,omitempty"`
	// DeviceGen is the machine's device generation when it was last
	// shared; a device deleted since forces a new share.
	DeviceGen uint64 `json:"device_gen"`
	// NeedsShare makes EncryptRoomEvent wait for a ShareRoomKey (a device
	// must get the key again).
	NeedsShare bool `json:"needs_share,omitempty"`
	// Invalidated forces rotation at the next share.
	Invalidated bool `json:"invalidated,omitempty"`
}

// shareState is what one device got of an outbound session.
type shareState struct {
	Curve25519 string `json:"curve25519"`
	// Index is the message index it was shared at (when Withheld is "").
	Index    uint32 `json:"index"`
	Withheld string `json:"withheld,omitempty"`
}

// deviceState is the sealed content of a DeviceRecord.
type deviceState struct {
	UserID   string          `json:"user_id"`
	DeviceID string          `json:"device_id"`
	Keys     json.RawMessage `json:"keys"`
	Curve    string          `json:"curve25519"`
	Ed       string          `json:"ed25519"`
	Name     string          `json:"name,omitempty"`
	// CrossSigned and Verified are crossign's verdict at the last query.
	CrossSigned bool `json:"cross_signed,omitempty"`
	Verified    bool `json:"verified,omitempty"`
	// LocallyVerified and Blacklisted are the user's own decisions.
	LocallyVerified bool `json:"locally_verified,omitempty"`
	Blacklisted     bool `json:"blacklisted,omitempty"`
	// Flagged marks a device first seen after its owner's identity
	// changed: it is not trusted until AcceptIdentity.
	Flagged bool `json:"flagged,omitempty"`
	// Deleted marks a device the server no longer lists; its keys stay
	// pinned.
	Deleted bool `json:"deleted,omitempty"`
	// Dehydrated marks a dehydrated device (MSC3814: "dehydrated": true
	// in its device keys).
	Dehydrated bool `json:"dehydrated,omitempty"`
	// NoOlmSent records that m.no_olm went to it; cleared when an Olm
	// session is made.
	NoOlmSent bool `json:"no_olm_sent,omitempty"`
	// LastUnwedge is when we last made a new session to recover a wedged
	// one (Unix ms).
	LastUnwedge int64 `json:"last_unwedge,omitempty"`
}

// trackedState is a user's device-list tracking state.
type trackedState struct {
	Outdated bool   `json:"outdated"`
	Seq      uint64 `json:"seq"`
}

// identityState is a user's cross-signing identity as we saw it.
type identityState struct {
	// Master is the pinned master key (base64), "" if none seen, and
	// MasterJSON its key object as last seen.
	Master     string          `json:"master,omitempty"`
	MasterJSON json.RawMessage `json:"master_json,omitempty"`
	// VerifiedMaster is a master key we verified ourselves (SAS), passed
	// to the cross-signing evaluation until a signature of ours covers it.
	VerifiedMaster string `json:"verified_master,omitempty"`
	// Verified reports that the identity was verified at the last query.
	Verified bool `json:"verified,omitempty"`
	// WasVerified reports that an earlier identity of the user was
	// verified.
	WasVerified bool `json:"was_verified,omitempty"`
	// Changed reports an identity change not yet accepted.
	Changed bool `json:"changed,omitempty"`
	// Served is the master key (base64) the last query returned, "" if
	// none: the devices' CrossSigned and the SelfSigning and UserSigning
	// keys below rest on it. It differs from Master while a change is
	// neither accepted (AcceptIdentity) nor verified.
	Served string `json:"served,omitempty"`
	// ServedJSON is the served key's object while it is not the pinned
	// one: what AcceptIdentity, or a verification of the new key, pins.
	ServedJSON json.RawMessage `json:"served_json,omitempty"`
	// SelfSigning and UserSigning are the user's self-signing and (for
	// our own user only) user-signing public keys (base64) that the last
	// query found usable: well formed and signed by the master key; "" if
	// none. A finished verification reads them to reflect at once the
	// signatures it makes, without waiting for the next query.
	SelfSigning string `json:"self_signing,omitempty"`
	UserSigning string `json:"user_signing,omitempty"`
}

// roomState is a room's encryption settings.
type roomState struct {
	Algorithm  string `json:"algorithm"`
	PeriodMs   int64  `json:"period_ms"`
	PeriodMsgs uint32 `json:"period_msgs"`
	// HistoryVisibility is m.room.history_visibility, for MSC3061.
	HistoryVisibility string `json:"history_visibility,omitempty"`
	// OnlyVerified is the room's sharing policy override.
	OnlyVerified bool `json:"only_verified,omitempty"`
}

// withheldState is an m.room_key.withheld we received.
type withheldState struct {
	Code   string `json:"code"`
	Reason string `json:"reason,omitempty"`
	Sender string `json:"sender_key"`
}

// getValue opens a sealed value of a namespace; ok is false if missing.
func (t *txn) getValue(ns Namespace, key string, v any) (bool, error) {
	b, err := t.tx.Get(ns, key)
	if isNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, storeErr(err)
	}
	if err := t.m.open(kindValue+string(ns)+"\x00"+key, b, v); err != nil {
		return false, err
	}
	return true, nil
}

// putValue seals and stores a value of a namespace.
func (t *txn) putValue(ns Namespace, key string, v any) error {
	if ns == NSIdentities {
		delete(t.hasID, key)
	}
	b, err := t.m.seal(kindValue+string(ns)+"\x00"+key, v)
	if err != nil {
		return err
	}
	return storeErr(t.tx.Put(ns, key, b))
}
