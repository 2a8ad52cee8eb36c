// Package memstore is an in-memory machine.Store, for tests and for
// programs that keep no state across restarts.
//
// Its transactions hold a write log over the committed state: Commit applies
// the log, Rollback drops it, so a failed transaction leaves nothing behind.
// One transaction runs at a time; Begin waits for the previous one to end.
package memstore

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"sync"

	"github.com/souverain/e2ee/machine"
)

// Store is an in-memory machine.Store. The zero value is not usable; call
// New.
type Store struct {
	lock   chan struct{} // held by the open transaction
	mu     sync.Mutex    // guards closed and the tables against Close
	closed bool

	account  table[machine.AccountRecord]
	olm      table[machine.OlmSessionRecord]
	inbound  table[machine.InboundGroupSessionRecord]
	replay   table[machine.ReplayRecord]
	outbound table[machine.OutboundGroupSessionRecord]
	devices  table[machine.DeviceRecord]
	kv       table[[]byte]
}

// New returns an empty store.
func New() *Store {
	s := &Store{lock: make(chan struct{}, 1)}
	s.account.init()
	s.olm.init()
	s.inbound.init()
	s.replay.init()
	s.outbound.init()
	s.devices.init()
	s.kv.init()
	return s
}

// Begin starts a transaction, waiting until the previous one ends or ctx is
// done. ctx bounds that wait only: the transaction lives until Commit or
// Rollback (machine.Store).
func (s *Store) Begin(ctx context.Context) (machine.Tx, error) {
	select {
	case s.lock <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("memstore: begin: %w", ctx.Err())
	}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		<-s.lock
		return nil, fmt.Errorf("memstore: begin: %w", machine.ErrClosed)
	}
	return &tx{
		s:        s,
		account:  s.account.tx(),
		olm:      s.olm.tx(),
		inbound:  s.inbound.tx(),
		replay:   s.replay.tx(),
		outbound: s.outbound.tx(),
		devices:  s.devices.tx(),
		kv:       s.kv.tx(),
	}, nil
}

// Close makes later calls of Begin fail. A transaction already open may
// still commit.
func (s *Store) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return nil
}

// table is a two-level map, (a, b) → V.
type table[V any] struct {
	m map[string]map[string]V
}

func (t *table[V]) init() { t.m = map[string]map[string]V{} }

func (t *table[V]) tx() *txTable[V] {
	return &txTable[V]{base: t, w: map[string]map[string]*V{}, cleared: map[string]bool{}}
}

// txTable is a write log over a table: w[a][b] == nil is a deletion, and
// cleared[a] hides every committed entry under a.
type txTable[V any] struct {
	base    *table[V]
	w       map[string]map[string]*V
	cleared map[string]bool
}

func (t *txTable[V]) get(a, b string) (V, bool) {
	if p, ok := t.w[a][b]; ok {
		if p == nil {
			var zero V
			return zero, false
		}
		return *p, true
	}
	if t.cleared[a] {
		var zero V
		return zero, false
	}
	v, ok := t.base.m[a][b]
	return v, ok
}

func (t *txTable[V]) put(a, b string, v V) {
	if t.w[a] == nil {
		t.w[a] = map[string]*V{}
	}
	t.w[a][b] = &v
}

func (t *txTable[V]) del(a, b string) {
	if t.w[a] == nil {
		t.w[a] = map[string]*V{}
	}
	t.w[a][b] = nil
}

func (t *txTable[V]) clear(a string) {
	t.cleared[a] = true
	delete(t.w, a)
}

// row returns every entry under a, sorted by b.
func (t *txTable[V]) row(a string) []kv[V] {
	seen := map[string]bool{}
	var out []kv[V]
	for b, p := range t.w[a] {
		seen[b] = true
		if p != nil {
			out = append(out, kv[V]{b, *p})
		}
	}
	if !t.cleared[a] {
		for b, v := range t.base.m[a] {
			if !seen[b] {
				out = append(out, kv[V]{b, v})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].k < out[j].k })
	return out
}

// all calls f on every entry until f returns false.
func (t *txTable[V]) all(f func(V) bool) {
	for _, row := range t.w {
		for _, p := range row {
			if p != nil && !f(*p) {
				return
			}
		}
	}
	for a, row := range t.base.m {
		if t.cleared[a] {
			continue
		}
		for b, v := range row {
			if _, ok := t.w[a][b]; ok {
				continue
			}
			if !f(v) {
				return
			}
		}
	}
}

func (t *txTable[V]) commit() {
	for a := range t.cleared {
		delete(t.base.m, a)
	}
	for a, row := range t.w {
		for b, p := range row {
			if p == nil {
				delete(t.base.m[a], b)
				if len(t.base.m[a]) == 0 {
					delete(t.base.m, a)
				}
				continue
			}
			if t.base.m[a] == nil {
				t.base.m[a] = map[string]V{}
			}
			t.base.m[a][b] = *p
		}
	}
}

type kv[V any] struct {
	k string
	v V
}

type tx struct {
	s    *Store
	done bool

	account  *txTable[machine.AccountRecord]
	olm      *txTable[machine.OlmSessionRecord]
	inbound  *txTable[machine.InboundGroupSessionRecord]
	replay   *txTable[machine.ReplayRecord]
	outbound *txTable[machine.OutboundGroupSessionRecord]
	devices  *txTable[machine.DeviceRecord]
	kv       *txTable[[]byte]
}

var (
	_ machine.BatchTx       = (*tx)(nil)
	_ machine.ReplayBatchTx = (*tx)(nil)
)

func (t *tx) check(op string) error {
	if t.done {
		return fmt.Errorf("memstore: %s: %w", op, machine.ErrTxDone)
	}
	return nil
}

func notFound(op string) error { return fmt.Errorf("memstore: %s: %w", op, machine.ErrNotFound) }

func (t *tx) Commit() error {
	if err := t.check("commit"); err != nil {
		return err
	}
	t.account.commit()
	t.olm.commit()
	t.inbound.commit()
	t.replay.commit()
	t.outbound.commit()
	t.devices.commit()
	t.kv.commit()
	t.done = true
	<-t.s.lock
	return nil
}

func (t *tx) Rollback() error {
	if t.done {
		return nil
	}
	t.done = true
	<-t.s.lock
	return nil
}

func (t *tx) Account() (machine.AccountRecord, error) {
	if err := t.check("account"); err != nil {
		return machine.AccountRecord{}, err
	}
	r, ok := t.account.get("", "")
	if !ok {
		return r, notFound("account")
	}
	r.Pickle = bytes.Clone(r.Pickle)
	return r, nil
}

func (t *tx) PutAccount(r machine.AccountRecord) error {
	if err := t.check("put account"); err != nil {
		return err
	}
	r.Pickle = bytes.Clone(r.Pickle)
	t.account.put("", "", r)
	return nil
}

func (t *tx) OlmSessions(senderKey string) ([]machine.OlmSessionRecord, error) {
	if err := t.check("olm sessions"); err != nil {
		return nil, err
	}
	var out []machine.OlmSessionRecord
	for _, e := range t.olm.row(senderKey) {
		r := e.v
		r.Pickle = bytes.Clone(r.Pickle)
		out = append(out, r)
	}
	return out, nil
}

func (t *tx) PutOlmSession(r machine.OlmSessionRecord) error {
	if err := t.check("put olm session"); err != nil {
		return err
	}
	r.Pickle = bytes.Clone(r.Pickle)
	t.olm.put(r.SenderKey, r.SessionID, r)
	return nil
}

func (t *tx) DeleteOlmSession(senderKey, sessionID string) error {
	if err := t.check("delete olm session"); err != nil {
		return err
	}
	t.olm.del(senderKey, sessionID)
	return nil
}

func (t *tx) InboundGroupSession(roomID, sessionID string) (machine.InboundGroupSessionRecord, error) {
	if err := t.check("inbound group session"); err != nil {
		return machine.InboundGroupSessionRecord{}, err
	}
	r, ok := t.inbound.get(roomID, sessionID)
	if !ok {
		return r, notFound("inbound group session")
	}
	r.Pickle = bytes.Clone(r.Pickle)
	return r, nil
}

// InboundGroupSessionsByID returns the inbound sessions of keys that exist
// (machine.BatchTx).
func (t *tx) InboundGroupSessionsByID(keys []machine.InboundGroupSessionKey) (map[machine.InboundGroupSessionKey]machine.InboundGroupSessionRecord, error) {
	if err := t.check("inbound group sessions"); err != nil {
		return nil, err
	}
	out := make(map[machine.InboundGroupSessionKey]machine.InboundGroupSessionRecord, len(keys))
	for _, k := range keys {
		if r, ok := t.inbound.get(k.RoomID, k.SessionID); ok {
			r.Pickle = bytes.Clone(r.Pickle)
			out[k] = r
		}
	}
	return out, nil
}

func (t *tx) PutInboundGroupSession(r machine.InboundGroupSessionRecord) error {
	if err := t.check("put inbound group session"); err != nil {
		return err
	}
	r.Pickle = bytes.Clone(r.Pickle)
	t.inbound.put(r.RoomID, r.SessionID, r)
	return nil
}

func replayRow(roomID, sessionID string) string { return roomID + "\x00" + sessionID }

func (t *tx) DeleteInboundGroupSession(roomID, sessionID string) error {
	if err := t.check("delete inbound group session"); err != nil {
		return err
	}
	t.inbound.del(roomID, sessionID)
	t.replay.clear(replayRow(roomID, sessionID))
	return nil
}

func (t *tx) InboundGroupSessionsNotBackedUp(limit int) ([]machine.InboundGroupSessionRecord, error) {
	if err := t.check("inbound group sessions not backed up"); err != nil {
		return nil, err
	}
	var out []machine.InboundGroupSessionRecord
	if limit <= 0 {
		return out, nil
	}
	t.inbound.all(func(r machine.InboundGroupSessionRecord) bool {
		if !r.BackedUp {
			r.Pickle = bytes.Clone(r.Pickle)
			out = append(out, r)
		}
		return len(out) < limit
	})
	return out, nil
}

func (t *tx) ResetBackedUp() error {
	if err := t.check("reset backed up"); err != nil {
		return err
	}
	var backed []machine.InboundGroupSessionRecord
	t.inbound.all(func(r machine.InboundGroupSessionRecord) bool {
		if r.BackedUp {
			backed = append(backed, r)
		}
		return true
	})
	for _, r := range backed {
		r.BackedUp = false
		t.inbound.put(r.RoomID, r.SessionID, r)
	}
	return nil
}

func (t *tx) ReplayRecord(roomID, sessionID string, index uint32) (machine.ReplayRecord, error) {
	if err := t.check("replay record"); err != nil {
		return machine.ReplayRecord{}, err
	}
	r, ok := t.replay.get(replayRow(roomID, sessionID), strconv.FormatUint(uint64(index), 10))
	if !ok {
		return r, notFound("replay record")
	}
	return r, nil
}

func (t *tx) PutReplayRecord(r machine.ReplayRecord) error {
	if err := t.check("put replay record"); err != nil {
		return err
	}
	t.replay.put(replayRow(r.RoomID, r.SessionID), strconv.FormatUint(uint64(r.Index), 10), r)
	return nil
}

// ReplayRecords returns the replay records of keys that exist
// (machine.ReplayBatchTx).
func (t *tx) ReplayRecords(keys []machine.ReplayKey) (map[machine.ReplayKey]machine.ReplayRecord, error) {
	if err := t.check("replay records"); err != nil {
		return nil, err
	}
	out := make(map[machine.ReplayKey]machine.ReplayRecord, len(keys))
	for _, k := range keys {
		if r, ok := t.replay.get(replayRow(k.RoomID, k.SessionID), strconv.FormatUint(uint64(k.Index), 10)); ok {
			out[k] = r
		}
	}
	return out, nil
}

// PutReplayRecords creates or replaces replay records
// (machine.ReplayBatchTx).
func (t *tx) PutReplayRecords(records []machine.ReplayRecord) error {
	if err := t.check("put replay records"); err != nil {
		return err
	}
	for _, r := range records {
		t.replay.put(replayRow(r.RoomID, r.SessionID), strconv.FormatUint(uint64(r.Index), 10), r)
	}
	return nil
}

func (t *tx) OutboundGroupSession(roomID string) (machine.OutboundGroupSessionRecord, error) {
	if err := t.check("outbound group session"); err != nil {
		return machine.OutboundGroupSessionRecord{}, err
	}
	r, ok := t.outbound.get(roomID, "")
	if !ok {
		return r, notFound("outbound group session")
	}
	r.Pickle = bytes.Clone(r.Pickle)
	return r, nil
}

func (t *tx) PutOutboundGroupSession(r machine.OutboundGroupSessionRecord) error {
	if err := t.check("put outbound group session"); err != nil {
		return err
	}
	r.Pickle = bytes.Clone(r.Pickle)
	t.outbound.put(r.RoomID, "", r)
	return nil
}

func (t *tx) DeleteOutboundGroupSession(roomID string) error {
	if err := t.check("delete outbound group session"); err != nil {
		return err
	}
	t.outbound.del(roomID, "")
	return nil
}

func (t *tx) Devices(userID string) ([]machine.DeviceRecord, error) {
	if err := t.check("devices"); err != nil {
		return nil, err
	}
	var out []machine.DeviceRecord
	for _, e := range t.devices.row(userID) {
		r := e.v
		r.Pickle = bytes.Clone(r.Pickle)
		out = append(out, r)
	}
	return out, nil
}

func (t *tx) PutDevice(r machine.DeviceRecord) error {
	if err := t.check("put device"); err != nil {
		return err
	}
	r.Pickle = bytes.Clone(r.Pickle)
	t.devices.put(r.UserID, r.DeviceID, r)
	return nil
}

func (t *tx) DeleteDevice(userID, deviceID string) error {
	if err := t.check("delete device"); err != nil {
		return err
	}
	t.devices.del(userID, deviceID)
	return nil
}

func (t *tx) Get(ns machine.Namespace, key string) ([]byte, error) {
	if err := t.check("get"); err != nil {
		return nil, err
	}
	v, ok := t.kv.get(string(ns), key)
	if !ok {
		return nil, notFound("get " + string(ns))
	}
	return bytes.Clone(v), nil
}

func (t *tx) Put(ns machine.Namespace, key string, value []byte) error {
	if err := t.check("put"); err != nil {
		return err
	}
	t.kv.put(string(ns), key, slices.Clip(bytes.Clone(value)))
	return nil
}

func (t *tx) Delete(ns machine.Namespace, key string) error {
	if err := t.check("delete"); err != nil {
		return err
	}
	t.kv.del(string(ns), key)
	return nil
}

func (t *tx) List(ns machine.Namespace) ([]machine.KeyValue, error) {
	if err := t.check("list"); err != nil {
		return nil, err
	}
	var out []machine.KeyValue
	for _, e := range t.kv.row(string(ns)) {
		out = append(out, machine.KeyValue{Key: e.k, Value: bytes.Clone(e.v)})
	}
	return out, nil
}
