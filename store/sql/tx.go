package sqlstore

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/souverain/e2ee/machine"
)

// The queries, written with ? placeholders; the first argument of each is
// the account.
const (
	qOwner = iota
	qAccount
	qPutAccount
	qOlmSessions
	qPutOlm
	qDeleteOlm
	qInbound
	qPutInbound
	qPutInboundKeep
	qSetBackedUp
	qPutInboundBatch
	qDeleteInbound
	qDeleteReplayOfSession
	qNotBackedUp
	qReplay
	qPutReplay
	qOutbound
	qPutOutbound
	qDeleteOutbound
	qDevices
	qPutDevice
	qDeleteDevice
	qGet
	qPut
	qDelete
	qList
	qNamespaceUsed
	qResetBackedUp
	qInboundByID
	qInboundByIDSmall
	qReplayByID
	qReplayByIDSmall
	qPutReplayBatch
	numQueries
)

// replayBatch is the number of replay records written by one statement of
// PutReplayRecords; lookupBatch and lookupSmall are also the number of
// replay records one statement of ReplayRecords looks up.
const replayBatch = 100

// inboundBatch is the number of inbound sessions written by one statement
// when many are put in a row (a backup restore).
const inboundBatch = 100

// lookupBatch is the number of inbound sessions one statement of
// InboundGroupSessionsByID looks up, lookupSmall that of its statement for
// short lists; a shorter list is padded with its last key, so that two
// prepared statements serve every call.
const (
	lookupBatch = 250
	lookupSmall = 16
)

var queries = [numQueries]string{
	qOwner:      `SELECT token FROM e2ee_owner WHERE acct = ?`,
	qAccount:    `SELECT user_id, device_id, pickle FROM e2ee_account WHERE acct = ?`,
	qPutAccount: `INSERT INTO e2ee_account (acct, user_id, device_id, pickle) VALUES (?, ?, ?, ?) ON CONFLICT (acct) DO UPDATE SET user_id = excluded.user_id, device_id = excluded.device_id, pickle = excluded.pickle`,

	qOlmSessions: `SELECT session_id, pickle FROM e2ee_olm_session WHERE acct = ? AND sender_key = ?`,
	qPutOlm:      `INSERT INTO e2ee_olm_session (acct, sender_key, session_id, pickle) VALUES (?, ?, ?, ?) ON CONFLICT (acct, sender_key, session_id) DO UPDATE SET pickle = excluded.pickle`,
	qDeleteOlm:   `DELETE FROM e2ee_olm_session WHERE acct = ? AND sender_key = ? AND session_id = ?`,

	qInbound:               `SELECT sender_key, provenance, backed_up, pickle FROM e2ee_inbound_session WHERE acct = ? AND room_id = ? AND session_id = ?`,
	qPutInbound:            putInboundSQL(1, true),
	qPutInboundKeep:        putInboundSQL(1, false),
	qSetBackedUp:           `UPDATE e2ee_inbound_session SET backed_up = ? WHERE acct = ? AND room_id = ? AND session_id = ? AND backed_up <> ?`,
	qPutInboundBatch:       putInboundSQL(inboundBatch, true),
	qDeleteInbound:         `DELETE FROM e2ee_inbound_session WHERE acct = ? AND room_id = ? AND session_id = ?`,
	qDeleteReplayOfSession: `DELETE FROM e2ee_replay WHERE acct = ? AND room_id = ? AND session_id = ?`,
	qNotBackedUp:           `SELECT room_id, session_id, sender_key, provenance, pickle FROM e2ee_inbound_session WHERE acct = ? AND backed_up = 0 LIMIT ?`,

	qReplay:    `SELECT event_id, ts FROM e2ee_replay WHERE acct = ? AND room_id = ? AND session_id = ? AND message_index = ?`,
	qPutReplay: `INSERT INTO e2ee_replay (acct, room_id, session_id, message_index, event_id, ts) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (acct, room_id, session_id, message_index) DO UPDATE SET event_id = excluded.event_id, ts = excluded.ts`,

	qOutbound:       `SELECT session_id, pickle FROM e2ee_outbound_session WHERE acct = ? AND room_id = ?`,
	qPutOutbound:    `INSERT INTO e2ee_outbound_session (acct, room_id, session_id, pickle) VALUES (?, ?, ?, ?) ON CONFLICT (acct, room_id) DO UPDATE SET session_id = excluded.session_id, pickle = excluded.pickle`,
	qDeleteOutbound: `DELETE FROM e2ee_outbound_session WHERE acct = ? AND room_id = ?`,

	qDevices:      `SELECT device_id, curve25519, pickle FROM e2ee_device WHERE acct = ? AND user_id = ?`,
	qPutDevice:    `INSERT INTO e2ee_device (acct, user_id, device_id, curve25519, pickle) VALUES (?, ?, ?, ?, ?) ON CONFLICT (acct, user_id, device_id) DO UPDATE SET curve25519 = excluded.curve25519, pickle = excluded.pickle`,
	qDeleteDevice: `DELETE FROM e2ee_device WHERE acct = ? AND user_id = ? AND device_id = ?`,

	qGet:           `SELECT v FROM e2ee_kv WHERE acct = ? AND ns = ? AND k = ?`,
	qPut:           `INSERT INTO e2ee_kv (acct, ns, k, v) VALUES (?, ?, ?, ?) ON CONFLICT (acct, ns, k) DO UPDATE SET v = excluded.v`,
	qDelete:        `DELETE FROM e2ee_kv WHERE acct = ? AND ns = ? AND k = ?`,
	qResetBackedUp: `UPDATE e2ee_inbound_session SET backed_up = 0 WHERE acct = ? AND backed_up <> 0`,
	qList:          `SELECT k, v FROM e2ee_kv WHERE acct = ? AND ns = ?`,

	qNamespaceUsed: `SELECT 1 FROM e2ee_kv WHERE acct = ? AND ns = ? LIMIT 1`,

	qInboundByID:      inboundByIDSQL(lookupBatch, "?"),
	qInboundByIDSmall: inboundByIDSQL(lookupSmall, "?"),

	qReplayByID:      replayByIDSQL(lookupBatch, "?", "?"),
	qReplayByIDSmall: replayByIDSQL(lookupSmall, "?", "?"),
	qPutReplayBatch:  putReplaySQL(replayBatch),
}

// pgInboundByID holds the lookups by a list of keys (qInboundByID,
// qReplayByID and their small forms) for PostgreSQL, whose VALUES lists
// need the parameters' type to compare them with the bytea and bigint
// columns.
var pgInboundByID = map[int]string{
	qInboundByID:      dialectPostgres.query(inboundByIDSQL(lookupBatch, "?::bytea")),
	qInboundByIDSmall: dialectPostgres.query(inboundByIDSQL(lookupSmall, "?::bytea")),
	qReplayByID:       dialectPostgres.query(replayByIDSQL(lookupBatch, "?::bytea", "?::bigint")),
	qReplayByIDSmall:  dialectPostgres.query(replayByIDSQL(lookupSmall, "?::bytea", "?::bigint")),
}

// replayByIDSQL looks up n replay records by (room, session ID, index)
// through the primary key, each parameter written as blob or integer.
func replayByIDSQL(n int, blob, integer string) string {
	var b strings.Builder
	b.WriteString(`SELECT room_id, session_id, message_index, event_id, ts FROM e2ee_replay WHERE acct = ? AND (room_id, session_id, message_index) IN (VALUES `)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(" + blob + ", " + blob + ", " + integer + ")")
	}
	b.WriteString(")")
	return b.String()
}

// putReplaySQL is the upsert of n replay records, of distinct keys, in one
// statement.
func putReplaySQL(n int) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO e2ee_replay (acct, room_id, session_id, message_index, event_id, ts) VALUES `)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(?, ?, ?, ?, ?, ?)")
	}
	b.WriteString(` ON CONFLICT (acct, room_id, session_id, message_index) DO UPDATE SET event_id = excluded.event_id, ts = excluded.ts`)
	return b.String()
}

// inboundByIDSQL looks up n inbound sessions by (room, session ID) through
// the primary key, each parameter written as param.
func inboundByIDSQL(n int, param string) string {
	var b strings.Builder
	b.WriteString(`SELECT room_id, session_id, sender_key, provenance, backed_up, pickle FROM e2ee_inbound_session WHERE acct = ? AND (room_id, session_id) IN (VALUES `)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(" + param + ", " + param + ")")
	}
	b.WriteString(")")
	return b.String()
}

// putInboundSQL is the upsert of n inbound sessions in one statement; it
// replaces backed_up only with setBackedUp.
func putInboundSQL(n int, setBackedUp bool) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO e2ee_inbound_session (acct, room_id, session_id, sender_key, provenance, backed_up, pickle) VALUES `)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(?, ?, ?, ?, ?, ?, ?)")
	}
	b.WriteString(` ON CONFLICT (acct, room_id, session_id) DO UPDATE SET sender_key = excluded.sender_key, provenance = excluded.provenance, pickle = excluded.pickle`)
	if setBackedUp {
		b.WriteString(`, backed_up = excluded.backed_up`)
	}
	return b.String()
}

// Tx is a transaction of a Store (machine.Tx).
type Tx struct {
	s *Store
	// conn is the connection of tx, returned to the pool at its end.
	conn *sql.Conn
	tx   *sql.Tx
	ctx  context.Context
	done bool
	// stmts are the SQLite statements bound to this transaction.
	stmts [numQueries]*sql.Stmt
	// pending holds inbound sessions put and not yet written, so that a
	// backup restore writes them inboundBatch at a time. A lookup sees
	// them here; a delete, a scan and Commit write them first.
	pending    []machine.InboundGroupSessionRecord
	pendingIdx map[[2]string]int
	// misses counts the Gets and Deletes of each namespace that found
	// nothing; after a few, one query tells whether the namespace is
	// empty, and then (until a Put to it) Get and Delete answer without
	// the database. A restore of 10,000 sessions asks as many times for a
	// key request and deletes as many withheld notices that are not there.
	misses  map[machine.Namespace]int
	emptyNS map[machine.Namespace]bool
}

// missesBeforeProbe is the number of Gets finding nothing in a namespace
// before Get checks whether the namespace is empty.
const missesBeforeProbe = 8

var (
	_ machine.BatchTx       = (*Tx)(nil)
	_ machine.ReplayBatchTx = (*Tx)(nil)
)

func (t *Tx) check() error {
	if t.done {
		return fmt.Errorf("sqlstore: %w", machine.ErrTxDone)
	}
	return nil
}

func (t *Tx) args(args []any) []any {
	return append([]any{t.s.acct}, args...)
}

func (t *Tx) exec(q int, args ...any) error {
	_, err := t.execN(q, args...)
	return err
}

// execN runs q and returns the number of rows it changed.
func (t *Tx) execN(q int, args ...any) (int64, error) {
	if err := t.check(); err != nil {
		return 0, err
	}
	var res sql.Result
	var err error
	if st := t.stmt(q); st != nil {
		res, err = st.ExecContext(t.ctx, t.args(args)...)
	} else {
		res, err = t.tx.ExecContext(t.ctx, t.s.d.query(queries[q]), t.args(args)...)
	}
	if err != nil {
		return 0, fmt.Errorf("sqlstore: %w", t.s.mapErr(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqlstore: %w", err)
	}
	return n, nil
}

func (t *Tx) query(q int, args ...any) (*sql.Rows, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	var rows *sql.Rows
	var err error
	if st := t.stmt(q); st != nil {
		rows, err = st.QueryContext(t.ctx, t.args(args)...)
	} else {
		text := t.s.d.query(queries[q])
		if q == qOwner && t.s.d == dialectPostgres {
			text += " FOR UPDATE"
		}
		if pg, ok := pgInboundByID[q]; ok && t.s.d == dialectPostgres {
			text = pg
		}
		rows, err = t.tx.QueryContext(t.ctx, text, t.args(args)...)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: %w", t.s.mapErr(err))
	}
	return rows, nil
}

// row runs a query for one row and scans it; no row is ErrNotFound.
func (t *Tx) row(what string, q int, args []any, dest ...any) error {
	rows, err := t.query(q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return fmt.Errorf("sqlstore: %s: %w", what, err)
		}
		return fmt.Errorf("sqlstore: %s: %w", what, machine.ErrNotFound)
	}
	if err := rows.Scan(dest...); err != nil {
		return fmt.Errorf("sqlstore: %s: %w", what, err)
	}
	return rows.Close()
}

// stmt returns the prepared SQLite statement of q bound to the
// transaction, nil on PostgreSQL (pgx prepares and caches statements per
// connection by itself).
func (t *Tx) stmt(q int) *sql.Stmt {
	if t.s.stmts[q] == nil {
		return nil
	}
	if t.stmts[q] == nil {
		t.stmts[q] = t.tx.StmtContext(t.ctx, t.s.stmts[q])
	}
	return t.stmts[q]
}

func (t *Tx) end() {
	t.done = true
	for _, st := range t.stmts {
		if st != nil {
			st.Close()
		}
	}
	t.pending, t.pendingIdx = nil, nil
	t.conn.Close()
	<-t.s.txLock
}

// Commit writes what is pending and commits.
func (t *Tx) Commit() error {
	if err := t.check(); err != nil {
		return err
	}
	if err := t.flush(); err != nil {
		t.tx.Rollback()
		t.end()
		return err
	}
	err := t.tx.Commit()
	t.end()
	if err != nil {
		return fmt.Errorf("sqlstore: commit: %w", t.s.mapErr(err))
	}
	return nil
}

// Rollback discards the transaction; after Commit or Rollback it does
// nothing.
func (t *Tx) Rollback() error {
	if t.done {
		return nil
	}
	err := t.tx.Rollback()
	t.end()
	if err != nil && !errors.Is(err, sql.ErrTxDone) {
		return fmt.Errorf("sqlstore: rollback: %w", err)
	}
	return nil
}

// Account returns the account record.
func (t *Tx) Account() (machine.AccountRecord, error) {
	var u, d, p []byte
	if err := t.row("account", qAccount, nil, &u, &d, &p); err != nil {
		return machine.AccountRecord{}, err
	}
	return machine.AccountRecord{UserID: string(u), DeviceID: string(d), Pickle: nonNil(p)}, nil
}

// PutAccount creates or replaces the account record.
func (t *Tx) PutAccount(r machine.AccountRecord) error {
	return t.exec(qPutAccount, []byte(r.UserID), []byte(r.DeviceID), nonNil(r.Pickle))
}

// OlmSessions returns the Olm sessions with a sender key.
func (t *Tx) OlmSessions(senderKey string) ([]machine.OlmSessionRecord, error) {
	rows, err := t.query(qOlmSessions, []byte(senderKey))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []machine.OlmSessionRecord
	for rows.Next() {
		var id, p []byte
		if err := rows.Scan(&id, &p); err != nil {
			return nil, fmt.Errorf("sqlstore: olm sessions: %w", err)
		}
		out = append(out, machine.OlmSessionRecord{SenderKey: senderKey, SessionID: string(id), Pickle: nonNil(p)})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: olm sessions: %w", err)
	}
	return out, nil
}

// PutOlmSession creates or replaces an Olm session.
func (t *Tx) PutOlmSession(r machine.OlmSessionRecord) error {
	return t.exec(qPutOlm, []byte(r.SenderKey), []byte(r.SessionID), nonNil(r.Pickle))
}

// DeleteOlmSession deletes an Olm session.
func (t *Tx) DeleteOlmSession(senderKey, sessionID string) error {
	return t.exec(qDeleteOlm, []byte(senderKey), []byte(sessionID))
}

// InboundGroupSession returns an inbound Megolm session, looked up by the
// primary key (account, room, session ID).
func (t *Tx) InboundGroupSession(roomID, sessionID string) (machine.InboundGroupSessionRecord, error) {
	if err := t.check(); err != nil {
		return machine.InboundGroupSessionRecord{}, err
	}
	// A session put in this transaction and not yet written is the
	// newest version; no other record can be.
	if i, ok := t.pendingIdx[[2]string{roomID, sessionID}]; ok {
		r := t.pending[i]
		r.Pickle = bytes.Clone(r.Pickle)
		return r, nil
	}
	var sk, prov, p []byte
	var backedUp int64
	if err := t.row("inbound group session", qInbound, []any{[]byte(roomID), []byte(sessionID)}, &sk, &prov, &backedUp, &p); err != nil {
		return machine.InboundGroupSessionRecord{}, err
	}
	return machine.InboundGroupSessionRecord{
		RoomID: roomID, SessionID: sessionID, SenderKey: string(sk),
		Provenance: machine.Provenance(prov), BackedUp: backedUp != 0, Pickle: nonNil(p),
	}, nil
}

// InboundGroupSessionsByID returns the inbound sessions of keys that exist
// (machine.BatchTx): the sessions put in this transaction and not yet
// written from memory, the others lookupBatch at a time, each statement
// through the primary key.
func (t *Tx) InboundGroupSessionsByID(keys []machine.InboundGroupSessionKey) (map[machine.InboundGroupSessionKey]machine.InboundGroupSessionRecord, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	out := make(map[machine.InboundGroupSessionKey]machine.InboundGroupSessionRecord, len(keys))
	want := make([]machine.InboundGroupSessionKey, 0, len(keys))
	seen := make(map[machine.InboundGroupSessionKey]bool, len(keys))
	for _, k := range keys {
		if seen[k] {
			continue
		}
		seen[k] = true
		if i, ok := t.pendingIdx[[2]string{k.RoomID, k.SessionID}]; ok {
			r := t.pending[i]
			r.Pickle = bytes.Clone(r.Pickle)
			out[k] = r
			continue
		}
		want = append(want, k)
	}
	for len(want) > 0 {
		n := min(len(want), lookupBatch)
		if n == 1 {
			r, err := t.InboundGroupSession(want[0].RoomID, want[0].SessionID)
			if err == nil {
				out[want[0]] = r
			} else if !errors.Is(err, machine.ErrNotFound) {
				return nil, err
			}
			break
		}
		q, size := qInboundByID, lookupBatch
		if n <= lookupSmall {
			q, size = qInboundByIDSmall, lookupSmall
		}
		args := make([]any, 2*size)
		for i := 0; i < size; i++ {
			k := want[min(i, n-1)]
			args[2*i], args[2*i+1] = []byte(k.RoomID), []byte(k.SessionID)
		}
		if err := t.inboundByID(q, args, out); err != nil {
			return nil, err
		}
		want = want[n:]
	}
	return out, nil
}

// inboundByID runs q (qInboundByID or qInboundByIDSmall) and adds the rows
// to out.
func (t *Tx) inboundByID(q int, args []any, out map[machine.InboundGroupSessionKey]machine.InboundGroupSessionRecord) error {
	rows, err := t.query(q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var room, id, sk, prov, p []byte
		var backedUp int64
		if err := rows.Scan(&room, &id, &sk, &prov, &backedUp, &p); err != nil {
			return fmt.Errorf("sqlstore: inbound group sessions: %w", err)
		}
		k := machine.InboundGroupSessionKey{RoomID: string(room), SessionID: string(id)}
		out[k] = machine.InboundGroupSessionRecord{
			RoomID: k.RoomID, SessionID: k.SessionID, SenderKey: string(sk),
			Provenance: machine.Provenance(prov), BackedUp: backedUp != 0, Pickle: nonNil(p),
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlstore: inbound group sessions: %w", err)
	}
	return rows.Close()
}

// PutInboundGroupSession creates or replaces an inbound Megolm session. It
// is written with the next delete, scan or Commit, in statements of
// inboundBatch sessions (a lookup finds it before).
func (t *Tx) PutInboundGroupSession(r machine.InboundGroupSessionRecord) error {
	if err := t.check(); err != nil {
		return err
	}
	r.Pickle = bytes.Clone(nonNil(r.Pickle))
	k := [2]string{r.RoomID, r.SessionID}
	if t.pendingIdx == nil {
		t.pendingIdx = map[[2]string]int{}
	}
	if i, ok := t.pendingIdx[k]; ok {
		t.pending[i] = r
		return nil
	}
	t.pendingIdx[k] = len(t.pending)
	t.pending = append(t.pending, r)
	if len(t.pending) >= inboundBatch {
		return t.flush()
	}
	return nil
}

// flush writes the pending inbound sessions.
func (t *Tx) flush() error {
	if err := t.check(); err != nil {
		return err
	}
	p := t.pending
	t.pending = t.pending[:0]
	clear(t.pendingIdx)
	for len(p) >= inboundBatch {
		args := make([]any, 0, 7*inboundBatch)
		for _, r := range p[:inboundBatch] {
			args = append(args, inboundArgs(t.s.acct, r)...)
		}
		if err := t.execRaw(qPutInboundBatch, args); err != nil {
			return err
		}
		p = p[inboundBatch:]
	}
	for _, r := range p {
		if t.s.d == dialectPostgres {
			if err := t.execRaw(qPutInbound, inboundArgs(t.s.acct, r)); err != nil {
				return err
			}
			continue
		}
		// SQLite rewrites the backed_up index entry of every row whose
		// upsert sets backed_up, changed or not: a second page in the
		// WAL at each commit of one session. The upsert leaves it, and
		// backed_up is set only where it changes (an in-process
		// statement; on PostgreSQL it would be a round trip).
		if err := t.execRaw(qPutInboundKeep, inboundArgs(t.s.acct, r)); err != nil {
			return err
		}
		a := inboundArgs(t.s.acct, r)
		if err := t.execRaw(qSetBackedUp, []any{a[5], a[0], a[1], a[2], a[5]}); err != nil {
			return err
		}
	}
	return nil
}

func inboundArgs(acct []byte, r machine.InboundGroupSessionRecord) []any {
	var b int64
	if r.BackedUp {
		b = 1
	}
	return []any{acct, []byte(r.RoomID), []byte(r.SessionID), []byte(r.SenderKey), []byte(r.Provenance), b, r.Pickle}
}

// execRaw runs q with args that already hold the account.
func (t *Tx) execRaw(q int, args []any) error {
	var err error
	if st := t.stmt(q); st != nil {
		_, err = st.ExecContext(t.ctx, args...)
	} else {
		_, err = t.tx.ExecContext(t.ctx, t.s.d.query(queries[q]), args...)
	}
	if err != nil {
		return fmt.Errorf("sqlstore: put inbound group sessions: %w", t.s.mapErr(err))
	}
	return nil
}

// DeleteInboundGroupSession deletes an inbound session and its replay
// records.
func (t *Tx) DeleteInboundGroupSession(roomID, sessionID string) error {
	if err := t.flush(); err != nil {
		return err
	}
	if err := t.exec(qDeleteReplayOfSession, []byte(roomID), []byte(sessionID)); err != nil {
		return err
	}
	return t.exec(qDeleteInbound, []byte(roomID), []byte(sessionID))
}

// ResetBackedUp marks every inbound session of the account as not backed
// up, in one statement, after writing the pending puts (which it must
// cover too).
func (t *Tx) ResetBackedUp() error {
	if err := t.flush(); err != nil {
		return err
	}
	return t.exec(qResetBackedUp)
}

// InboundGroupSessionsNotBackedUp returns up to limit sessions not backed
// up, through the (account, backed_up) index.
func (t *Tx) InboundGroupSessionsNotBackedUp(limit int) ([]machine.InboundGroupSessionRecord, error) {
	if err := t.flush(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, nil
	}
	rows, err := t.query(qNotBackedUp, int64(limit))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []machine.InboundGroupSessionRecord
	for rows.Next() {
		var room, id, sk, prov, p []byte
		if err := rows.Scan(&room, &id, &sk, &prov, &p); err != nil {
			return nil, fmt.Errorf("sqlstore: sessions not backed up: %w", err)
		}
		out = append(out, machine.InboundGroupSessionRecord{
			RoomID: string(room), SessionID: string(id), SenderKey: string(sk),
			Provenance: machine.Provenance(prov), Pickle: nonNil(p),
		})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: sessions not backed up: %w", err)
	}
	return out, nil
}

// ReplayRecord returns the replay record of a Megolm message index.
func (t *Tx) ReplayRecord(roomID, sessionID string, index uint32) (machine.ReplayRecord, error) {
	var ev []byte
	var ts int64
	if err := t.row("replay record", qReplay, []any{[]byte(roomID), []byte(sessionID), int64(index)}, &ev, &ts); err != nil {
		return machine.ReplayRecord{}, err
	}
	return machine.ReplayRecord{RoomID: roomID, SessionID: sessionID, Index: index, EventID: string(ev), Timestamp: ts}, nil
}

// PutReplayRecord creates or replaces a replay record.
func (t *Tx) PutReplayRecord(r machine.ReplayRecord) error {
	return t.exec(qPutReplay, []byte(r.RoomID), []byte(r.SessionID), int64(r.Index), []byte(r.EventID), r.Timestamp)
}

// ReplayRecords returns the replay records of keys that exist
// (machine.ReplayBatchTx), lookupBatch at a time, each statement through
// the primary key.
func (t *Tx) ReplayRecords(keys []machine.ReplayKey) (map[machine.ReplayKey]machine.ReplayRecord, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	out := make(map[machine.ReplayKey]machine.ReplayRecord, len(keys))
	want := make([]machine.ReplayKey, 0, len(keys))
	seen := make(map[machine.ReplayKey]bool, len(keys))
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			want = append(want, k)
		}
	}
	for len(want) > 0 {
		n := min(len(want), lookupBatch)
		if n == 1 {
			r, err := t.ReplayRecord(want[0].RoomID, want[0].SessionID, want[0].Index)
			if err == nil {
				out[want[0]] = r
			} else if !errors.Is(err, machine.ErrNotFound) {
				return nil, err
			}
			break
		}
		q, size := qReplayByID, lookupBatch
		if n <= lookupSmall {
			q, size = qReplayByIDSmall, lookupSmall
		}
		// A shorter list is padded with its last key.
		args := make([]any, 3*size)
		for i := 0; i < size; i++ {
			k := want[min(i, n-1)]
			args[3*i], args[3*i+1], args[3*i+2] = []byte(k.RoomID), []byte(k.SessionID), int64(k.Index)
		}
		if err := t.replayByID(q, args, out); err != nil {
			return nil, err
		}
		want = want[n:]
	}
	return out, nil
}

// replayByID runs q (qReplayByID or qReplayByIDSmall) and adds the rows to
// out.
func (t *Tx) replayByID(q int, args []any, out map[machine.ReplayKey]machine.ReplayRecord) error {
	rows, err := t.query(q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var room, id, ev []byte
		var index, ts int64
		if err := rows.Scan(&room, &id, &index, &ev, &ts); err != nil {
			return fmt.Errorf("sqlstore: replay records: %w", err)
		}
		k := machine.ReplayKey{RoomID: string(room), SessionID: string(id), Index: uint32(index)}
		out[k] = machine.ReplayRecord{RoomID: k.RoomID, SessionID: k.SessionID, Index: k.Index, EventID: string(ev), Timestamp: ts}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlstore: replay records: %w", err)
	}
	return rows.Close()
}

// PutReplayRecords creates or replaces replay records
// (machine.ReplayBatchTx): of two with the same key, the last; replayBatch
// at a time, and what remains in one statement built for its length.
func (t *Tx) PutReplayRecords(records []machine.ReplayRecord) error {
	if err := t.check(); err != nil {
		return err
	}
	// One upsert cannot touch a row twice (PostgreSQL refuses it): keep
	// the last record of each key, in place of the first.
	last := make(map[machine.ReplayKey]int, len(records))
	distinct := make([]machine.ReplayRecord, 0, len(records))
	for _, r := range records {
		k := machine.ReplayKey{RoomID: r.RoomID, SessionID: r.SessionID, Index: r.Index}
		if i, ok := last[k]; ok {
			distinct[i] = r
			continue
		}
		last[k] = len(distinct)
		distinct = append(distinct, r)
	}
	args := make([]any, 0, 6*min(len(distinct), replayBatch))
	for len(distinct) > 0 {
		n := min(len(distinct), replayBatch)
		args = args[:0]
		for _, r := range distinct[:n] {
			args = append(args, t.s.acct, []byte(r.RoomID), []byte(r.SessionID), int64(r.Index), []byte(r.EventID), r.Timestamp)
		}
		// Full batches and single records (DecryptRoomEvent) through the
		// prepared statements, the rest in one statement of its length.
		q := -1
		switch n {
		case replayBatch:
			q = qPutReplayBatch
		case 1:
			q = qPutReplay
		}
		var err error
		switch {
		case q < 0:
			_, err = t.tx.ExecContext(t.ctx, t.s.d.query(putReplaySQL(n)), args...)
		case t.stmt(q) != nil:
			_, err = t.stmt(q).ExecContext(t.ctx, args...)
		default:
			_, err = t.tx.ExecContext(t.ctx, t.s.d.query(queries[q]), args...)
		}
		if err != nil {
			return fmt.Errorf("sqlstore: put replay records: %w", t.s.mapErr(err))
		}
		distinct = distinct[n:]
	}
	return nil
}

// OutboundGroupSession returns a room's outbound session.
func (t *Tx) OutboundGroupSession(roomID string) (machine.OutboundGroupSessionRecord, error) {
	var id, p []byte
	if err := t.row("outbound group session", qOutbound, []any{[]byte(roomID)}, &id, &p); err != nil {
		return machine.OutboundGroupSessionRecord{}, err
	}
	return machine.OutboundGroupSessionRecord{RoomID: roomID, SessionID: string(id), Pickle: nonNil(p)}, nil
}

// PutOutboundGroupSession creates or replaces a room's outbound session.
func (t *Tx) PutOutboundGroupSession(r machine.OutboundGroupSessionRecord) error {
	return t.exec(qPutOutbound, []byte(r.RoomID), []byte(r.SessionID), nonNil(r.Pickle))
}

// DeleteOutboundGroupSession deletes a room's outbound session.
func (t *Tx) DeleteOutboundGroupSession(roomID string) error {
	return t.exec(qDeleteOutbound, []byte(roomID))
}

// Devices returns the devices of a user.
func (t *Tx) Devices(userID string) ([]machine.DeviceRecord, error) {
	rows, err := t.query(qDevices, []byte(userID))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []machine.DeviceRecord
	for rows.Next() {
		var id, ck, p []byte
		if err := rows.Scan(&id, &ck, &p); err != nil {
			return nil, fmt.Errorf("sqlstore: devices: %w", err)
		}
		out = append(out, machine.DeviceRecord{UserID: userID, DeviceID: string(id), Curve25519Key: string(ck), Pickle: nonNil(p)})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: devices: %w", err)
	}
	return out, nil
}

// PutDevice creates or replaces a device record.
func (t *Tx) PutDevice(r machine.DeviceRecord) error {
	return t.exec(qPutDevice, []byte(r.UserID), []byte(r.DeviceID), []byte(r.Curve25519Key), nonNil(r.Pickle))
}

// DeleteDevice deletes a device record.
func (t *Tx) DeleteDevice(userID, deviceID string) error {
	return t.exec(qDeleteDevice, []byte(userID), []byte(deviceID))
}

// Get returns a value of a namespace.
func (t *Tx) Get(ns machine.Namespace, key string) ([]byte, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	if t.emptyNS[ns] {
		return nil, fmt.Errorf("sqlstore: get %s: %w", ns, machine.ErrNotFound)
	}
	var v []byte
	err := t.row("get "+string(ns), qGet, []any{[]byte(ns), []byte(key)}, &v)
	if errors.Is(err, machine.ErrNotFound) {
		if perr := t.miss(ns); perr != nil {
			return nil, perr
		}
	}
	if err != nil {
		return nil, err
	}
	return nonNil(v), nil
}

// miss counts a Get or Delete of ns that found nothing; at the
// missesBeforeProbe-th, one query tells whether ns is empty.
func (t *Tx) miss(ns machine.Namespace) error {
	if t.misses == nil {
		t.misses, t.emptyNS = map[machine.Namespace]int{}, map[machine.Namespace]bool{}
	}
	t.misses[ns]++
	if t.misses[ns] != missesBeforeProbe {
		return nil
	}
	var one int64
	err := t.row("probe "+string(ns), qNamespaceUsed, []any{[]byte(ns)}, &one)
	switch {
	case errors.Is(err, machine.ErrNotFound):
		t.emptyNS[ns] = true
	case err != nil:
		return err
	}
	return nil
}

// Put creates or replaces a value of a namespace.
func (t *Tx) Put(ns machine.Namespace, key string, value []byte) error {
	if err := t.exec(qPut, []byte(ns), []byte(key), nonNil(value)); err != nil {
		return err
	}
	delete(t.emptyNS, ns)
	delete(t.misses, ns)
	return nil
}

// Delete deletes a value of a namespace. In a namespace found empty it
// does nothing: a restore of 10,000 sessions deletes as many withheld
// notices that are not there.
func (t *Tx) Delete(ns machine.Namespace, key string) error {
	if err := t.check(); err != nil {
		return err
	}
	if t.emptyNS[ns] {
		return nil
	}
	n, err := t.execN(qDelete, []byte(ns), []byte(key))
	if err != nil {
		return err
	}
	if n == 0 {
		return t.miss(ns)
	}
	return nil
}

// List returns the entries of a namespace sorted by key in byte order.
func (t *Tx) List(ns machine.Namespace) ([]machine.KeyValue, error) {
	rows, err := t.query(qList, []byte(ns))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []machine.KeyValue
	for rows.Next() {
		var k, v []byte
		if err := rows.Scan(&k, &v); err != nil {
			return nil, fmt.Errorf("sqlstore: list %s: %w", ns, err)
		}
		out = append(out, machine.KeyValue{Key: string(k), Value: nonNil(v)})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: list %s: %w", ns, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// nonNil returns b, or an empty slice for nil: blob columns are NOT NULL.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
