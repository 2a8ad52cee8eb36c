package machine

import (
	"context"
	"errors"

	"github.com/souverain/e2ee/internal/errs"
)

// Errors a Store returns. Stores wrap them with context; test with errors.Is.
var (
	// ErrNotFound means a store has no record under the key asked for.
	ErrNotFound = errors.New("machine: record not found")
	// ErrTxDone means a transaction was used after Commit or Rollback.
	ErrTxDone = errors.New("machine: transaction already committed or rolled back")
	// ErrClosed means a Store or Machine was used after Close.
	ErrClosed = errs.Closed
)

// Store keeps a Machine's state: its Olm account, Olm and Megolm sessions,
// the devices and users it tracks, replay records, pending requests and
// secrets. A Store sees records, never keys: every secret field (the
// Pickle of each record, the values of the key-value namespaces) is
// encrypted and authenticated by the Machine under the pickle key given to
// New, which never reaches the store. The other fields of a record are
// indexes the Machine looks records up by; the Machine checks them against
// the authenticated copy inside the pickle, so a store that mixes them up
// causes errors, not confusion.
//
// All access goes through transactions. The Machine runs one transaction
// at a time on a Store (it serialises them itself), so a Store need not
// support concurrent transactions: Begin may block while another is open,
// or fail. A transaction that is rolled back, or whose Commit fails,
// leaves the store exactly as before Begin; one that commits is durable
// once Commit returns. The Machine commits one transaction per /sync batch
// and one per outgoing ciphertext, so a crash leaves the state before or
// after each.
//
// Transaction sizes, for stores that must plan for them: ReceiveSync writes
// everything one /sync batch changed in one transaction (a few records per
// to-device event); ImportRoomKeys puts every restored session in one
// transaction (10,000 for a large backup); DecryptRoomEvents writes one
// replay record per event of a room's batch; ShareRoomKey writes one Olm
// session per recipient device plus the pending requests.
//
// The package machine/storetest holds conformance tests that every Store
// must pass (Run), and runs the machine itself over a store (RunMachine);
// machine/memstore is the in-memory Store.
type Store interface {
	// Begin starts a read-write transaction. ctx bounds Begin only: the
	// wait for the previous transaction and for the database. Once Begin
	// has returned, the transaction lives until Commit or Rollback, however
	// ctx ends: callers cancel ctx right after Begin (machine/storetest
	// does), and a Machine whose caller's ctx expires in the middle of a
	// transaction still commits or rolls it back itself. A store must not
	// abort or roll back an open transaction because its ctx is done (an
	// SQL store begins with context.WithoutCancel(ctx), since database/sql
	// rolls back a transaction when the ctx of BeginTx ends); it may keep
	// ctx's values.
	Begin(ctx context.Context) (Tx, error)
	// Close releases the store. Begin fails with ErrClosed afterwards;
	// calling Close again does nothing.
	Close() error
}

// Tx is a Store transaction. Getters return ErrNotFound (wrapped) when no
// record matches and see the transaction's own writes. Slices and records
// passed in or returned are copies: neither side may rely on aliasing.
// After Commit or Rollback every method returns ErrTxDone, except Rollback,
// which then does nothing and returns nil (so it can be deferred).
type Tx interface {
	// Commit makes the transaction's writes durable. On error the store is
	// as it was before Begin.
	Commit() error
	// Rollback discards the transaction's writes.
	Rollback() error

	// Account returns the one account record.
	Account() (AccountRecord, error)
	// PutAccount creates or replaces the account record.
	PutAccount(AccountRecord) error

	// OlmSessions returns every Olm session with the given sender key (the
	// other device's Curve25519 identity key), in any order.
	OlmSessions(senderKey string) ([]OlmSessionRecord, error)
	// PutOlmSession creates or replaces the Olm session with the record's
	// (SenderKey, SessionID).
	PutOlmSession(OlmSessionRecord) error
	// DeleteOlmSession deletes an Olm session; deleting a missing one is not
	// an error.
	DeleteOlmSession(senderKey, sessionID string) error

	// InboundGroupSession returns the inbound Megolm session with the given
	// room and session ID. Stores index this lookup: it happens for every
	// room event decrypted.
	InboundGroupSession(roomID, sessionID string) (InboundGroupSessionRecord, error)
	// PutInboundGroupSession creates or replaces the inbound session with
	// the record's (RoomID, SessionID). A key backup restore puts 10,000 of
	// them in one transaction.
	PutInboundGroupSession(InboundGroupSessionRecord) error
	// DeleteInboundGroupSession deletes an inbound session and every replay
	// record of it; deleting a missing one is not an error.
	DeleteInboundGroupSession(roomID, sessionID string) error
	// InboundGroupSessionsNotBackedUp returns up to limit inbound sessions
	// whose BackedUp field is false, in any order.
	InboundGroupSessionsNotBackedUp(limit int) ([]InboundGroupSessionRecord, error)
	// ResetBackedUp sets BackedUp to false on every inbound session, in
	// this transaction, changing nothing else of the records: the backup
	// version or its public key changed, and every session must be
	// uploaded to the new one. A backup restore may have 10,000 sessions:
	// stores should do it in one statement (UPDATE ... SET backed_up =
	// false WHERE backed_up).
	ResetBackedUp() error

	// ReplayRecord returns the replay record of a Megolm message index.
	ReplayRecord(roomID, sessionID string, index uint32) (ReplayRecord, error)
	// PutReplayRecord creates or replaces the replay record with the
	// record's (RoomID, SessionID, Index). Replay records live as long as
	// their inbound session and are deleted with it, never pruned by age
	// (pruning would reopen the replay). The Machine writes one per message
	// index it decrypts, so their number is bounded by the number of
	// distinct authentic messages received.
	PutReplayRecord(ReplayRecord) error

	// OutboundGroupSession returns the outbound Megolm session of a room.
	OutboundGroupSession(roomID string) (OutboundGroupSessionRecord, error)
	// PutOutboundGroupSession creates or replaces the room's outbound
	// session.
	PutOutboundGroupSession(OutboundGroupSessionRecord) error
	// DeleteOutboundGroupSession deletes the room's outbound session;
	// deleting a missing one is not an error.
	DeleteOutboundGroupSession(roomID string) error

	// Devices returns every device record of a user, in any order.
	Devices(userID string) ([]DeviceRecord, error)
	// PutDevice creates or replaces the device with the record's (UserID,
	// DeviceID).
	PutDevice(DeviceRecord) error
	// DeleteDevice deletes a device record; deleting a missing one is not
	// an error.
	DeleteDevice(userID, deviceID string) error

	// Get returns the value stored under key in namespace ns.
	Get(ns Namespace, key string) ([]byte, error)
	// Put creates or replaces the value under key in namespace ns.
	Put(ns Namespace, key string, value []byte) error
	// Delete deletes the value under key in ns; deleting a missing one is
	// not an error.
	Delete(ns Namespace, key string) error
	// List returns every key and value of namespace ns, sorted by key
	// (byte order).
	List(ns Namespace) ([]KeyValue, error)
}

// InboundGroupSessionKey names an inbound Megolm session: its room and
// session ID.
type InboundGroupSessionKey struct {
	RoomID, SessionID string
}

// BatchTx is a Tx that also looks up many inbound Megolm sessions at once.
// It is optional: the Machine checks for it with a type assertion and,
// where one transaction looks up many sessions, asks for them in one call
// (ImportRoomKeys looks up every restored session before merging it,
// DecryptRoomEvents the sessions of a room's batch, a backup upload every
// session it marks as backed up); a Tx without it gets one
// InboundGroupSession call per session. A store whose lookups are round
// trips (PostgreSQL) answers the batch in a few queries. machine/storetest
// tests it when a store's Tx has it.
type BatchTx interface {
	Tx
	// InboundGroupSessionsByID returns, by key, the stored inbound
	// sessions among those the keys name: a key without a session is not
	// in the map, a key given twice is answered once, and no keys give an
	// empty map.
	// Like InboundGroupSession it sees the transaction's own writes, and
	// the records are copies.
	InboundGroupSessionsByID(keys []InboundGroupSessionKey) (map[InboundGroupSessionKey]InboundGroupSessionRecord, error)
}

// ReplayBatchTx is a Tx that also looks up and writes many replay records
// at once. It is optional, like BatchTx: the Machine checks for it with a
// type assertion, and DecryptRoomEvents then looks up the replay records of
// a room's batch (of more than one event) in one ReplayRecords call and
// writes the new ones in one PutReplayRecords call, where a Tx without it
// gets one ReplayRecord and one PutReplayRecord call per event (about 2,000 round trips per 1,000
// events on PostgreSQL). machine/storetest tests it when a store's Tx has
// it.
type ReplayBatchTx interface {
	Tx
	// ReplayRecords returns, by key, the stored replay records among those
	// the keys name: a key without a record is not in the map, a key given
	// twice is answered once, and no keys give an empty map. Like
	// ReplayRecord it sees the transaction's own writes.
	ReplayRecords(keys []ReplayKey) (map[ReplayKey]ReplayRecord, error)
	// PutReplayRecords creates or replaces each record, as PutReplayRecord
	// does one after the other: of two records with the same key, the last
	// stays. An error may leave some written: the Machine then rolls the
	// transaction back.
	PutReplayRecords(records []ReplayRecord) error
}

// Namespace names one of the Machine's small key-value tables. A Store
// keeps them all in one table keyed by (namespace, key), or in one table
// each; values are opaque bytes.
type Namespace string

// The namespaces the Machine uses. A Store must accept any Namespace; the
// list tells an SQL store which ones exist today.
const (
	// NSTrackedUsers: user ID → tracking state (outdated flag, sequence).
	NSTrackedUsers Namespace = "tracked_users"
	// NSIdentities: user ID → cross-signing identity state (pinned master
	// key, identity change flag).
	NSIdentities Namespace = "identities"
	// NSRequests: request ID → an outgoing request not yet marked as sent.
	NSRequests Namespace = "requests"
	// NSKeyRequests: request ID → an m.room_key_request or
	// m.secret.request we made.
	NSKeyRequests Namespace = "key_requests"
	// NSSecrets: secret name → secret value.
	NSSecrets Namespace = "secrets"
	// NSWithheld: room ID and session ID → the m.room_key.withheld
	// received for it.
	NSWithheld Namespace = "withheld"
	// NSRooms: room ID → the room's encryption settings.
	NSRooms Namespace = "rooms"
	// NSOlmHashes: hash of a pre-key message that created an Olm session →
	// when, so that a replay never creates a second session (one entry per
	// session created from a pre-key message); and "normal\x00" + hash of
	// a decrypted Olm normal message → when (decimal ms), so that a replay
	// is refused as one and not taken for a wedged session (at most
	// maxNormalHashes, 4096, the oldest dropped first).
	NSOlmHashes Namespace = "olm_hashes"
	// NSValues: single values such as the sync token and backup state.
	NSValues Namespace = "values"
	// NSFailures: events that failed to decrypt for want of a key, by room
	// and session, so that the Machine can report when they can be retried.
	NSFailures Namespace = "failures"
)

// KeyValue is one entry of a namespace.
type KeyValue struct {
	Key   string
	Value []byte
}

// AccountRecord holds the device's Olm account and its own state.
type AccountRecord struct {
	// UserID and DeviceID are the account's owner and device. A Machine
	// opened with other IDs refuses the store.
	UserID, DeviceID string
	// Pickle is the encrypted account and machine state.
	Pickle []byte
}

// OlmSessionRecord holds one Olm session.
type OlmSessionRecord struct {
	// SenderKey is the other device's Curve25519 identity key (unpadded
	// base64) and SessionID the session's ID.
	SenderKey, SessionID string
	// Pickle is the encrypted session.
	Pickle []byte
}

// InboundGroupSessionRecord holds one inbound Megolm session.
type InboundGroupSessionRecord struct {
	// RoomID and SessionID identify the session: events are looked up by
	// them.
	RoomID, SessionID string
	// SenderKey is the Curve25519 key of the device that sent the session,
	// as far as it is known.
	SenderKey string
	// Provenance is how the key arrived (see Provenance): it lets a store
	// answer "which keys came from backup" without the pickle key.
	Provenance Provenance
	// BackedUp reports that the session is in the server-side key backup.
	BackedUp bool
	// Pickle is the encrypted session with its metadata.
	Pickle []byte
}

// ReplayKey names a replay record: a Megolm message index of the inbound
// session with the given room and session ID.
type ReplayKey struct {
	RoomID, SessionID string
	Index             uint32
}

// ReplayRecord records which event used a Megolm message index, so that
// another event at the same index is refused.
type ReplayRecord struct {
	RoomID, SessionID string
	Index             uint32
	// EventID and Timestamp (origin_server_ts, milliseconds) of the first
	// event decrypted at this index.
	EventID   string
	Timestamp int64
}

// OutboundGroupSessionRecord holds a room's outbound Megolm session and
// whom it was shared with.
type OutboundGroupSessionRecord struct {
	RoomID, SessionID string
	// Pickle is the encrypted session with its sharing state.
	Pickle []byte
}

// DeviceRecord holds one device of a tracked user.
type DeviceRecord struct {
	UserID, DeviceID string
	// Curve25519Key is the device's identity key (unpadded base64).
	Curve25519Key string
	// Pickle is the encrypted device keys and trust state.
	Pickle []byte
}

// Provenance says how a Megolm session key reached us. It never upgrades by
// itself: a session first received by any other way than ProvenanceDirect
// stays unauthenticated, and a forwarded, restored or imported copy never
// replaces a direct one; only a direct m.room_key of the same session,
// starting at the same or a lower index, replaces it. A copy of unknown
// origin made under a session's ID with another ratchet or sender would
// block the real key for good: a direct key replaces any such copy, and a
// forwarded one replaces such a copy from the backup.
type Provenance string

// Provenances.
const (
	// ProvenanceDirect: an m.room_key over Olm from the device that created
	// the session (or our own outbound session).
	ProvenanceDirect Provenance = "direct"
	// ProvenanceForwarded: an m.forwarded_room_key from another device.
	ProvenanceForwarded Provenance = "forwarded"
	// ProvenanceBackup: restored from server-side key backup.
	ProvenanceBackup Provenance = "backup"
	// ProvenanceExport: imported from a key export file.
	ProvenanceExport Provenance = "export"
)

// Authenticated reports whether the key came straight from its sender.
func (p Provenance) Authenticated() bool { return p == ProvenanceDirect }
