package machine

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/souverain/e2ee/keybackup"
	"github.com/souverain/e2ee/megolm"
	"github.com/souverain/e2ee/olm"
	"github.com/souverain/e2ee/sas"
)

// PickleKeySize is the size of the key that encrypts the store's records.
const PickleKeySize = 32

// Options configure a Machine.
type Options struct {
	// UserID and DeviceID are the device's owner and ID, as the homeserver
	// gave them at login.
	UserID, DeviceID string
	// Store keeps the machine's state. Required.
	Store Store
	// PickleKey encrypts every record in the store: PickleKeySize bytes,
	// secret, the same at every start. It is copied.
	PickleKey []byte
	// Clock returns the current time. Rotation periods, replay timestamps,
	// rate limits and timeouts read it. Nil means time.Now.
	Clock func() time.Time
	// OnlyVerified is the default sharing policy: if true, room keys go only
	// to verified devices (cross-signed by a verified identity, or verified
	// by us), and the others get m.room_key.withheld with m.unverified.
	// If false (the default), every device of the room's members that is
	// not blacklisted or flagged gets the key, except (unless
	// ShareWithUnsignedDevices) a device that its owner's published
	// cross-signing identity did not sign.
	OnlyVerified bool
	// ShareWithUnsignedDevices turns off the default that withholds room
	// keys (m.unverified) from a device that is not signed by the
	// cross-signing identity its owner published: such a device is what a
	// homeserver injecting a device of its own would look like (SECURITY
	// 32). Users without a cross-signing identity are not concerned: all
	// their devices get the key. Devices we verified ourselves always do.
	// A dehydrated device (MSC3814) that is not cross-signed never gets
	// it, whatever this says, and to-device events from a dehydrated
	// device are refused.
	ShareWithUnsignedDevices bool
	// VerificationMethods lists the verification methods this device
	// offers and accepts (sas.Config.Methods): sas.MethodSAS,
	// sas.MethodQRShow (this device can show a QR code), sas.MethodQRScan
	// (it can scan one). Nil means emoji or decimal SAS only, which a bot
	// without a screen or camera can do; an application that shows or
	// scans QR codes adds the QR methods.
	VerificationMethods []string
}

// Machine is the end-to-end encryption engine of one device. It is safe for
// concurrent use: calls are serialised, each in its own store transaction.
type Machine struct {
	userID, deviceID string
	store            Store
	key              [PickleKeySize]byte
	clock            func() time.Time
	onlyVerified     bool
	shareUnsigned    bool

	mu     sync.Mutex // serialises everything below and every transaction
	closed bool
	c      *cache
	// inflight holds the upload, query and claim requests handed out and
	// not yet marked as sent; they are rebuilt after a restart.
	inflight map[string]*inflight
	// notices are problems found while processing responses, for Notices.
	notices []Notice
	// deviceGen counts device deletions and users leaving; an outbound
	// session shared at an older generation is shared again first.
	deviceGen uint64
	// unwedge holds sender keys of known devices whose Olm session is
	// wedged, for a new session and m.dummy; at most maxUnwedge.
	unwedge map[string]string // curve25519 → user ID
	// needOlm holds devices (user, device ID) that asked for a key or
	// secret while we had no Olm session with them.
	needOlm map[string][2]string
	// toDeviceSeq orders to-device requests queued at the same instant.
	toDeviceSeq int64
	// verif runs key verifications.
	verif *verifier
	// failedQueries holds users the last /keys/query did not answer for.
	failedQueries map[string]bool
	// ssKey is the open secret storage key, nil if closed. It lives in
	// memory only.
	ssKey *keybackup.SecretStorageKey
}

// cache holds live objects decoded from the store. It is dropped whenever
// a transaction fails, so it never holds state the store does not.
type cache struct {
	account *olm.Account
	acct    accountState
	olm     map[string][]*olmSession // by sender key; missing = not loaded
	inbound map[string]*inboundSession
	out     map[string]*outboundSession
	// failures and withheld count the NSFailures and NSWithheld entries,
	// -1 if not counted.
	failures, withheld int
	// normalHashes counts the hashes of Olm normal messages in
	// NSOlmHashes, -1 if not counted.
	normalHashes int
	// devices caches device records by user; tracked caches the tracking
	// state of every user (nil until loaded).
	devices map[string][]*deviceState
	tracked map[string]*trackedState
}

type olmSession struct {
	s     *olm.Session
	state olmState
}

type inboundSession struct {
	s     *megolm.InboundGroupSession
	state inboundState
}

type outboundSession struct {
	s     *megolm.GroupSession
	state outboundState
}

func newCache() *cache {
	return &cache{
		olm:          map[string][]*olmSession{},
		inbound:      map[string]*inboundSession{},
		out:          map[string]*outboundSession{},
		failures:     -1,
		withheld:     -1,
		normalHashes: -1,
		devices:      map[string][]*deviceState{},
	}
}

// New opens the machine of a device over a store. On first use it creates
// the Olm account (identity keys and one-time keys to upload); later it
// reads the account back. A wrong pickle key gives an error wrapping
// ErrBadPickleKey; a store of another user or device, ErrWrongAccount.
func New(ctx context.Context, opts Options) (*Machine, error) {
	if opts.UserID == "" || opts.DeviceID == "" || opts.Store == nil {
		return nil, fmt.Errorf("%w: UserID, DeviceID and Store are required", ErrBadOptions)
	}
	if len(opts.PickleKey) != PickleKeySize {
		return nil, fmt.Errorf("%w: PickleKey must be %d bytes", ErrBadOptions, PickleKeySize)
	}
	m := &Machine{
		userID:        opts.UserID,
		deviceID:      opts.DeviceID,
		store:         opts.Store,
		clock:         opts.Clock,
		onlyVerified:  opts.OnlyVerified,
		shareUnsigned: opts.ShareWithUnsignedDevices,
		c:             newCache(),
		inflight:      map[string]*inflight{},
		unwedge:       map[string]string{},
		failedQueries: map[string]bool{},
		needOlm:       map[string][2]string{},
	}
	copy(m.key[:], opts.PickleKey)
	if m.clock == nil {
		m.clock = time.Now
	}
	err := m.update(ctx, func(t *txn) error {
		_, err := t.account()
		if err == nil || !isNotFound(err) {
			return err
		}
		a, err := olm.NewAccount()
		if err != nil {
			return err
		}
		if err := a.GenerateOneTimeKeys(a.MaxNumberOfOneTimeKeys()); err != nil {
			return err
		}
		t.m.c.account = a
		t.m.c.acct = accountState{UserID: m.userID, DeviceID: m.deviceID}
		t.accountDirty = true
		// We track our own devices from the start.
		return t.track(m.userID)
	})
	if err == nil {
		err = m.view(ctx, func(t *txn) error {
			if _, err := t.getValue(NSValues, "device_gen", &m.deviceGen); err != nil {
				return err
			}
			return t.loadNeedOlm()
		})
	}
	if err != nil {
		return nil, err
	}
	_, ed, err := m.IdentityKeys(ctx)
	if err != nil {
		return nil, err
	}
	if err := m.newVerifier(ed, opts.VerificationMethods); err != nil {
		return nil, err
	}
	// Our own master key as the store knows it.
	if err := m.update(ctx, func(t *txn) error { t.ownMasterDirty = true; return nil }); err != nil {
		return nil, err
	}
	return m, nil
}

// UserID returns the machine's user ID.
func (m *Machine) UserID() string { return m.userID }

// DeviceID returns the machine's device ID.
func (m *Machine) DeviceID() string { return m.deviceID }

// IdentityKeys returns the device's Curve25519 and Ed25519 identity keys.
func (m *Machine) IdentityKeys(ctx context.Context) (olm.Curve25519PublicKey, olm.Ed25519PublicKey, error) {
	var c olm.Curve25519PublicKey
	var e olm.Ed25519PublicKey
	err := m.view(ctx, func(t *txn) error {
		a, err := t.account()
		if err != nil {
			return err
		}
		c, e = a.IdentityKeys()
		return nil
	})
	return c, e, err
}

// Close closes the machine; later calls fail with ErrClosed. It does not
// close the store.
func (m *Machine) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	m.c = newCache()
	if m.ssKey != nil {
		m.ssKey.Close()
		m.ssKey = nil
	}
	clear(m.key[:])
	return nil
}

// txn is one store transaction of the machine, with the objects it
// changed, written back once before commit.
type txn struct {
	m            *Machine
	tx           Tx
	now          time.Time
	accountDirty bool
	dirtyOlm     map[*olmSession]bool
	// added are the in-flight requests this transaction handed out; they
	// are forgotten if it fails, with the state they depend on.
	added []string
	// ownMasterDirty is set when our own identity may have changed (a
	// query of our user, a cross-signing secret stored, a verification of
	// our master key): the transaction then hands the verifications our
	// master key and trust once it commits.
	ownMasterDirty bool
	// hasID caches hasIdentity for this transaction: the sharing policy
	// asks it for every unsigned device a session was shared with, at each
	// EncryptRoomEvent. putValue of NSIdentities forgets the entry.
	hasID map[string]bool
	// prefetched holds the inbound sessions prefetchInbound looked up and
	// inbound has not decoded yet, by room and session ID; nil for a
	// session the store does not have.
	prefetched map[string]*InboundGroupSessionRecord
}

// addInflight records a request handed out in this transaction.
func (t *txn) addInflight(f *inflight) {
	t.m.inflight[f.req.ID] = f
	t.added = append(t.added, f.req.ID)
}

// update runs f in a store transaction and commits it. If f or the commit
// fails, the transaction is rolled back and the cache dropped.
func (m *Machine) update(ctx context.Context, f func(t *txn) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.updateLocked(ctx, f)
}

func (m *Machine) updateLocked(ctx context.Context, f func(t *txn) error) (err error) {
	if m.closed {
		return fmt.Errorf("machine: %w", ErrClosed)
	}
	tx, err := m.store.Begin(ctx)
	if err != nil {
		return storeErr(err)
	}
	t := &txn{m: m, tx: tx, now: m.clock(), dirtyOlm: map[*olmSession]bool{}}
	snap := m.snapshot()
	// Notices raised by a transaction that fails are taken back: the
	// caller retries the same input, which raises them again.
	notices := len(m.notices)
	defer func() {
		if r := recover(); r != nil {
			tx.Rollback()
			m.c = newCache()
			m.restore(snap)
			m.notices = m.notices[:notices]
			for _, id := range t.added {
				delete(m.inflight, id)
			}
			panic(r)
		}
	}()
	if err = f(t); err == nil {
		err = t.flush()
	}
	var own ownMaster
	if err == nil && t.ownMasterDirty && m.verif != nil {
		own, err = t.ownMaster()
	}
	if err == nil {
		err = storeErr(tx.Commit())
	}
	if err != nil {
		tx.Rollback()
		m.c = newCache()
		m.restore(snap)
		m.notices = m.notices[:notices]
		for _, id := range t.added {
			delete(m.inflight, id)
		}
		return err
	}
	if t.ownMasterDirty && m.verif != nil {
		m.setOwnMaster(own)
	}
	return nil
}

// memState is the machine's in-memory state outside the cache that a
// transaction may change before its store writes: a rolled-back
// transaction puts it back, so that memory never runs ahead of the store
// (a device generation the store does not have, a verification marked
// applied whose device write was lost).
type memState struct {
	deviceGen     uint64
	applied       map[string]bool
	reported      map[string]sas.State
	unwedge       map[string]string
	needOlm       map[string][2]string
	failedQueries map[string]bool
}

func (m *Machine) snapshot() memState {
	s := memState{deviceGen: m.deviceGen, unwedge: maps.Clone(m.unwedge),
		needOlm: maps.Clone(m.needOlm), failedQueries: maps.Clone(m.failedQueries)}
	if m.verif != nil {
		s.applied = maps.Clone(m.verif.applied)
		s.reported = maps.Clone(m.verif.reported)
	}
	return s
}

func (m *Machine) restore(s memState) {
	m.deviceGen = s.deviceGen
	m.unwedge, m.needOlm, m.failedQueries = s.unwedge, s.needOlm, s.failedQueries
	if m.verif != nil {
		m.verif.applied, m.verif.reported = s.applied, s.reported
	}
}

// view is update for transactions that change nothing.
func (m *Machine) view(ctx context.Context, f func(t *txn) error) error { return m.update(ctx, f) }

// flush writes back the account and Olm sessions changed in t.
func (t *txn) flush() error {
	c := t.m.c
	if t.accountDirty {
		p, err := c.account.Pickle(t.m.key[:])
		if err != nil {
			return err
		}
		st := c.acct
		st.Account = p
		b, err := t.m.seal(kindAccount, st)
		if err != nil {
			return err
		}
		if err := t.tx.PutAccount(AccountRecord{UserID: t.m.userID, DeviceID: t.m.deviceID, Pickle: b}); err != nil {
			return storeErr(err)
		}
	}
	dirty := make([]*olmSession, 0, len(t.dirtyOlm))
	for s := range t.dirtyOlm {
		dirty = append(dirty, s)
	}
	return t.putOlms(dirty)
}

// account returns the live account, loading it if needed.
func (t *txn) account() (*olm.Account, error) {
	c := t.m.c
	if c.account != nil {
		return c.account, nil
	}
	rec, err := t.tx.Account()
	if err != nil {
		if isNotFound(err) {
			return nil, err
		}
		return nil, storeErr(err)
	}
	if rec.UserID != t.m.userID || rec.DeviceID != t.m.deviceID {
		return nil, fmt.Errorf("%w: %s %s", ErrWrongAccount, rec.UserID, rec.DeviceID)
	}
	var st accountState
	if err := t.m.open(kindAccount, rec.Pickle, &st); err != nil {
		return nil, err
	}
	if st.UserID != t.m.userID || st.DeviceID != t.m.deviceID {
		return nil, fmt.Errorf("%w: %s %s", ErrWrongAccount, st.UserID, st.DeviceID)
	}
	a, err := olm.UnpickleAccount(st.Account, t.m.key[:])
	if err != nil {
		return nil, err
	}
	st.Account = ""
	c.account, c.acct = a, st
	return a, nil
}

// newID returns a random request or transaction ID.
func newID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func ms(t time.Time) int64 { return t.UnixMilli() }

// Notice is a problem the machine found and refused to act on, such as a
// device whose keys changed, for the application to show or log.
type Notice struct {
	UserID, DeviceID string
	// Err wraps the sentinel saying what happened (ErrDeviceKeysChanged,
	// crossign errors, ...).
	Err error
}

// maxNotices bounds the notices kept between calls of Notices.
const maxNotices = 1000

func (m *Machine) notice(n Notice) {
	if len(m.notices) < maxNotices {
		m.notices = append(m.notices, n)
	}
}

// Notices returns and forgets the problems found since the last call.
func (m *Machine) Notices() []Notice {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.notices
	m.notices = nil
	return n
}

var errInternal = errors.New("machine: internal error")

// bumpDeviceGen records that a device or user went away: outbound sessions
// shared before must be shared again (and rotated if a recipient is gone)
// before the next EncryptRoomEvent, also after a restart.
func (t *txn) bumpDeviceGen() error {
	t.m.deviceGen++
	return t.putValue(NSValues, "device_gen", t.m.deviceGen)
}
