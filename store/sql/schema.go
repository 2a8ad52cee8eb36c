package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// SchemaVersion is the version of the schema this package writes. A
// database at an older version is migrated forward on Open, in one
// transaction; one at a newer version is refused with ErrNewerSchema and
// left untouched.
const SchemaVersion = 1

// A migration takes the schema from version-1 to version. Its statements
// use the placeholders {blob} and {int} for the dialect's types.
type migration struct {
	version int
	stmts   []string
}

// migrations lists every migration in order; migrations[i].version == i+1.
// Every identifier column is a blob: room, session and user IDs come from
// the network and may hold bytes (NUL, invalid UTF-8) that PostgreSQL
// refuses in text, which would wedge the machine's /sync transactions.
var migrations = []migration{
	{1, []string{
		`CREATE TABLE e2ee_owner (
			acct {blob} NOT NULL PRIMARY KEY,
			token {blob} NOT NULL
		)`,
		`CREATE TABLE e2ee_account (
			acct {blob} NOT NULL PRIMARY KEY,
			user_id {blob} NOT NULL,
			device_id {blob} NOT NULL,
			pickle {blob} NOT NULL
		)`,
		`CREATE TABLE e2ee_olm_session (
			acct {blob} NOT NULL,
			sender_key {blob} NOT NULL,
			session_id {blob} NOT NULL,
			pickle {blob} NOT NULL,
			PRIMARY KEY (acct, sender_key, session_id)
		)`,
		`CREATE TABLE e2ee_inbound_session (
			acct {blob} NOT NULL,
			room_id {blob} NOT NULL,
			session_id {blob} NOT NULL,
			sender_key {blob} NOT NULL,
			provenance {blob} NOT NULL,
			backed_up {int} NOT NULL,
			pickle {blob} NOT NULL,
			PRIMARY KEY (acct, room_id, session_id)
		)`,
		// The sessions still to back up, without scanning all of them.
		`CREATE INDEX e2ee_inbound_session_backup ON e2ee_inbound_session (acct, backed_up)`,
		// Replay records are deleted with their session by
		// DeleteInboundGroupSession (explicitly, not by a foreign key: the
		// Store contract lets a replay record be written before its
		// session).
		`CREATE TABLE e2ee_replay (
			acct {blob} NOT NULL,
			room_id {blob} NOT NULL,
			session_id {blob} NOT NULL,
			message_index {int} NOT NULL,
			event_id {blob} NOT NULL,
			ts {int} NOT NULL,
			PRIMARY KEY (acct, room_id, session_id, message_index)
		)`,
		`CREATE TABLE e2ee_outbound_session (
			acct {blob} NOT NULL,
			room_id {blob} NOT NULL,
			session_id {blob} NOT NULL,
			pickle {blob} NOT NULL,
			PRIMARY KEY (acct, room_id)
		)`,
		`CREATE TABLE e2ee_device (
			acct {blob} NOT NULL,
			user_id {blob} NOT NULL,
			device_id {blob} NOT NULL,
			curve25519 {blob} NOT NULL,
			pickle {blob} NOT NULL,
			PRIMARY KEY (acct, user_id, device_id)
		)`,
		`CREATE TABLE e2ee_kv (
			acct {blob} NOT NULL,
			ns {blob} NOT NULL,
			k {blob} NOT NULL,
			v {blob} NOT NULL,
			PRIMARY KEY (acct, ns, k)
		)`,
	}},
}

// metaTable holds the schema version. It is created by every Open that
// finds no schema, before the first migration.
const metaTable = `CREATE TABLE IF NOT EXISTS e2ee_schema (
	id {int} NOT NULL PRIMARY KEY,
	version {int} NOT NULL
)`

// readVersion returns the schema version of the database, 0 if it has
// none yet.
func readVersion(ctx context.Context, q querier, d dialect) (int, error) {
	var exists bool
	switch d {
	case dialectSQLite:
		var n int
		if err := q.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'e2ee_schema'`).Scan(&n); err != nil {
			return 0, err
		}
		exists = n > 0
	case dialectPostgres:
		if err := q.QueryRowContext(ctx, `SELECT to_regclass('e2ee_schema') IS NOT NULL`).Scan(&exists); err != nil {
			return 0, err
		}
	}
	if !exists {
		return 0, nil
	}
	var v int
	err := q.QueryRowContext(ctx, `SELECT version FROM e2ee_schema WHERE id = 1`).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return v, err
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// migrate brings the schema from its version to the newest of ms, in tx.
// A database newer than ms is refused before anything is written.
func migrate(ctx context.Context, tx *sql.Tx, d dialect, ms []migration) error {
	v, err := readVersion(ctx, tx, d)
	if err != nil {
		return fmt.Errorf("sqlstore: reading the schema version: %w", err)
	}
	newest := len(ms)
	if v > newest {
		return fmt.Errorf("%w: the database is at schema version %d, this program knows up to %d", ErrNewerSchema, v, newest)
	}
	if v == newest {
		return nil
	}
	if _, err := tx.ExecContext(ctx, d.schema(metaTable)); err != nil {
		return fmt.Errorf("sqlstore: creating the schema table: %w", err)
	}
	for _, m := range ms[v:] {
		for _, s := range m.stmts {
			if _, err := tx.ExecContext(ctx, d.schema(s)); err != nil {
				return fmt.Errorf("sqlstore: migration to schema version %d: %w", m.version, err)
			}
		}
	}
	_, err = tx.ExecContext(ctx, d.query(`INSERT INTO e2ee_schema (id, version) VALUES (1, ?)
		ON CONFLICT (id) DO UPDATE SET version = excluded.version`), newest)
	if err != nil {
		return fmt.Errorf("sqlstore: recording schema version %d: %w", newest, err)
	}
	return nil
}

// dialect is the SQL flavour of a database.
type dialect int

const (
	dialectSQLite dialect = iota
	dialectPostgres
)

func (d dialect) String() string {
	if d == dialectPostgres {
		return "postgres"
	}
	return "sqlite"
}

// schema replaces the type placeholders of a schema statement.
func (d dialect) schema(s string) string {
	if d == dialectPostgres {
		return strings.NewReplacer("{blob}", "BYTEA", "{int}", "BIGINT").Replace(s)
	}
	return strings.NewReplacer("{blob}", "BLOB", "{int}", "INTEGER").Replace(s)
}

// query rewrites the ? placeholders of a query for the dialect ($1, $2,
// ... for PostgreSQL). Queries hold no string literal with a ?.
func (d dialect) query(s string) string {
	if d != dialectPostgres {
		return s
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
