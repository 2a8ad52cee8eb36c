package sqlstore

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/binary"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/souverain/e2ee/machine"

	// The drivers: pure Go, no cgo.
	_ "github.com/jackc/pgx/v5/stdlib"
	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Errors of this package; test with errors.Is. Missing records give
// machine.ErrNotFound, a closed store machine.ErrClosed, a finished
// transaction machine.ErrTxDone.
var (
	// ErrLocked means another process (or another Store in this one) holds
	// the database or the PostgreSQL account: one writer at a time.
	ErrLocked = errors.New("sqlstore: store is in use by another process")
	// ErrNewerSchema means the database was written by a newer version of
	// this package; it is left untouched.
	ErrNewerSchema = errors.New("sqlstore: database schema is newer than this program")
	// ErrClosed means the Store was used after Close (machine.ErrClosed).
	ErrClosed = machine.ErrClosed
)

// DefaultLockWait is how long Open waits for another holder of the
// database or account to go away before it fails with ErrLocked.
const DefaultLockWait = time.Second

// Config says which database to open.
type Config struct {
	// Driver is "sqlite" or "postgres".
	Driver string
	// DSN is, for SQLite, the path of the database file (created if
	// missing; its directory must exist); for PostgreSQL, a connection
	// string for pgx ("postgres://user@host/db" or "host=... dbname=...").
	DSN string
	// Account names the device whose state the store keeps, such as
	// "@bot:example.org/DEVICEID". One PostgreSQL database holds any number
	// of accounts, each with one writer at a time. SQLite keeps one account
	// per file; empty is fine there.
	Account string
	// LockWait is how long Open waits for another holder of the database
	// or account; zero means DefaultLockWait.
	LockWait time.Duration
	// SQLiteSynchronous is SQLite's synchronous setting: "FULL" (the
	// default) or "NORMAL". FULL syncs the WAL at every commit, so a commit
	// that returned survives a power loss or OS crash. NORMAL syncs only at
	// checkpoints: every commit still survives the process being killed
	// (the crash test passes either way) and the database stays consistent,
	// but a power loss can roll back the last commits, and with them an
	// outbound Megolm ratchet whose ciphertext already left (a message index
	// handed out twice), a one-time key already uploaded, or a sync token
	// whose to-device events the server then deleted. Choose NORMAL only
	// where the disk's sync cost matters more than that (mautrix-go's usual
	// SQLite setting is NORMAL).
	SQLiteSynchronous string
}

// Store is a machine.Store over SQLite or PostgreSQL. It is safe for
// concurrent use; transactions run one at a time.
type Store struct {
	db   *sql.DB
	d    dialect
	acct []byte
	// token is written in e2ee_owner at Open and checked by every
	// PostgreSQL transaction: a Store whose account was taken over by
	// another process fails with ErrLocked instead of writing beside it.
	// (SQLite's one connection holds the file's lock instead.)
	token []byte
	// lockConn holds the PostgreSQL session advisory lock of the account.
	lockConn *sql.Conn
	// stmts are the SQLite statements, prepared once on its one
	// connection.
	stmts [numQueries]*sql.Stmt

	txLock chan struct{} // held by the open transaction
	mu     sync.Mutex
	closed bool
}

var _ machine.Store = (*Store)(nil)

// OpenSQLite opens (or creates) the SQLite database at path, the embedded
// default: one file in WAL mode, synchronous=FULL, foreign keys on, one
// writer (the file stays locked until Close).
func OpenSQLite(ctx context.Context, path string) (*Store, error) {
	return Open(ctx, Config{Driver: "sqlite", DSN: path})
}

// OpenPostgres opens the store of account (for example
// "@bot:example.org/DEVICEID") in the PostgreSQL database at dsn, creating
// or migrating the schema if needed.
func OpenPostgres(ctx context.Context, dsn, account string) (*Store, error) {
	return Open(ctx, Config{Driver: "postgres", DSN: dsn, Account: account})
}

// Open opens a store as cfg says. It migrates an older schema forward in
// one transaction, refuses a newer one with ErrNewerSchema, and fails with
// ErrLocked if another process holds the database (SQLite) or the account
// (PostgreSQL) for longer than cfg.LockWait.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.LockWait <= 0 {
		cfg.LockWait = DefaultLockWait
	}
	s := &Store{acct: []byte(cfg.Account), txLock: make(chan struct{}, 1)}
	var err error
	switch cfg.Driver {
	case "sqlite":
		s.d = dialectSQLite
		err = s.openSQLite(ctx, cfg)
	case "postgres":
		s.d = dialectPostgres
		err = s.openPostgres(ctx, cfg)
	default:
		return nil, fmt.Errorf("sqlstore: unknown driver %q (want sqlite or postgres)", cfg.Driver)
	}
	if err != nil {
		s.closeAll()
		return nil, err
	}
	return s, nil
}

func (s *Store) openSQLite(ctx context.Context, cfg Config) error {
	if cfg.DSN == "" {
		return errors.New("sqlstore: empty SQLite path")
	}
	// Every pragma is set on the connection as it opens. locking_mode
	// EXCLUSIVE keeps the file locked by this connection from its first
	// write until Close: one writer, and a second process gets
	// SQLITE_BUSY (ErrLocked) after busy_timeout. synchronous FULL syncs
	// the WAL at every commit, so a commit that returned survives a power
	// loss, not only a process crash.
	sync := strings.ToUpper(cfg.SQLiteSynchronous)
	switch sync {
	case "":
		sync = "FULL"
	case "FULL", "NORMAL":
	default:
		return fmt.Errorf("sqlstore: SQLiteSynchronous %q: want FULL or NORMAL", cfg.SQLiteSynchronous)
	}
	q := url.Values{}
	for _, p := range []string{
		fmt.Sprintf("busy_timeout(%d)", cfg.LockWait.Milliseconds()),
		"locking_mode(EXCLUSIVE)",
		"journal_mode(WAL)",
		"synchronous(" + sync + ")",
		"foreign_keys(1)",
		// A 10,000-session restore fits in the page cache, so a large
		// transaction is written once, at commit, not spilled before.
		"cache_size(-65536)",
		// Statement journals (kept to undo one statement, such as a
		// 100-row upsert, inside a transaction) and temporary tables in
		// memory, not in temporary files: a restore of 10,000 sessions
		// spent a tenth of its CPU time writing them out. Nothing durable
		// lives in them.
		"temp_store(MEMORY)",
	} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	dsn := "file:" + (&url.URL{Path: cfg.DSN}).EscapedPath() + "?" + q.Encode()
	db := sql.OpenDB(&sqliteConnector{dsn: dsn})
	s.db = db
	// One connection: it holds the lock, and the statements are prepared
	// on it.
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	if err := s.setup(ctx); err != nil {
		return fmt.Errorf("sqlstore: open %s: %w", cfg.DSN, err)
	}
	for i, q := range queries {
		st, err := db.PrepareContext(ctx, q)
		if err != nil {
			return fmt.Errorf("sqlstore: prepare %q: %w", q, s.mapErr(err))
		}
		s.stmts[i] = st
	}
	return nil
}

func (s *Store) openPostgres(ctx context.Context, cfg Config) error {
	if cfg.Account == "" {
		return errors.New("sqlstore: PostgreSQL needs an Account")
	}
	db, err := sql.Open("pgx", cfg.DSN)
	if err != nil {
		return fmt.Errorf("sqlstore: open postgres: %w", err)
	}
	s.db = db
	db.SetMaxOpenConns(4)
	db.SetMaxIdleConns(2)
	// The account's advisory lock lives as long as this session: a second
	// process fails here; if this process dies, PostgreSQL releases it.
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("sqlstore: connect to postgres: %w", err)
	}
	s.lockConn = conn
	key := advisoryKey(s.acct)
	deadline := time.Now().Add(cfg.LockWait)
	for {
		var ok bool
		if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&ok); err != nil {
			return fmt.Errorf("sqlstore: locking account %q: %w", cfg.Account, err)
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: account %q", ErrLocked, cfg.Account)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	if err := s.setup(ctx); err != nil {
		return fmt.Errorf("sqlstore: open postgres account %q: %w", cfg.Account, err)
	}
	return nil
}

// schemaLockKey serialises schema migrations between processes on one
// PostgreSQL database.
const schemaLockKey = 0x736f75766572_00

func advisoryKey(acct []byte) int64 {
	h := sha256.Sum256(append([]byte("souverain e2ee store account\x00"), acct...))
	return int64(binary.BigEndian.Uint64(h[:8]))
}

// setup migrates the schema and takes ownership of the account, in one
// transaction.
func (s *Store) setup(ctx context.Context) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return s.mapErr(err)
	}
	defer tx.Rollback()
	if s.d == dialectPostgres {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(schemaLockKey)); err != nil {
			return err
		}
	}
	if err := migrate(ctx, tx, s.d, migrations); err != nil {
		return s.mapErr(err)
	}
	s.token = make([]byte, 16)
	rand.Read(s.token)
	if _, err := tx.ExecContext(ctx, s.d.query(`INSERT INTO e2ee_owner (acct, token) VALUES (?, ?)
		ON CONFLICT (acct) DO UPDATE SET token = excluded.token`), s.acct, s.token); err != nil {
		return s.mapErr(err)
	}
	return s.mapErr(tx.Commit())
}

// mapErr turns "database is locked" into ErrLocked.
func (s *Store) mapErr(err error) error {
	if err == nil {
		return nil
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return fmt.Errorf("%w: %v", ErrLocked, err)
		}
	}
	return err
}

// Close closes the store and releases its lock. Calling it again does
// nothing.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	// A transaction still open is rolled back as its connection closes.
	return s.closeAll()
}

func (s *Store) closeAll() error {
	for _, st := range s.stmts {
		if st != nil {
			st.Close()
		}
	}
	if s.lockConn != nil {
		s.lockConn.ExecContext(context.Background(), `SELECT pg_advisory_unlock_all()`)
		s.lockConn.Close()
	}
	if s.db != nil {
		return s.db.Close()
	}
	return nil
}

// Begin starts a transaction. It waits for the previous one to end, and
// fails with ErrLocked if another process took the account over. ctx
// bounds that wait and the wait for a database connection, not the
// transaction (machine.Store): the transaction begins under
// context.WithoutCancel(ctx), since database/sql would roll it back when
// ctx ends, and lives until Commit or Rollback.
func (s *Store) Begin(ctx context.Context) (machine.Tx, error) {
	select {
	case s.txLock <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("sqlstore: begin: %w", ctx.Err())
	}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		<-s.txLock
		return nil, fmt.Errorf("sqlstore: begin: %w", ErrClosed)
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		<-s.txLock
		return nil, fmt.Errorf("sqlstore: begin: %w", s.mapErr(err))
	}
	sqlTx, err := conn.BeginTx(context.WithoutCancel(ctx), nil)
	if err != nil {
		conn.Close()
		<-s.txLock
		return nil, fmt.Errorf("sqlstore: begin: %w", s.mapErr(err))
	}
	// On error, begin has rolled back and released the lock.
	return s.begin(ctx, conn, sqlTx)
}

// begin checks the owner of a new transaction. The transaction does not
// depend on ctx: callers (storetest among them) cancel it once Begin
// returns.
func (s *Store) begin(ctx context.Context, conn *sql.Conn, sqlTx *sql.Tx) (*Tx, error) {
	ctx = context.WithoutCancel(ctx)
	t := &Tx{s: s, conn: conn, tx: sqlTx, ctx: ctx}
	if s.d == dialectSQLite {
		// The one connection holds the file's exclusive lock since Open;
		// sqliteConnector refuses to open another.
		return t, nil
	}
	// Lock the account's owner row for the transaction (PostgreSQL: other
	// transactions of the account wait) and check it is still ours.
	var token []byte
	if err := t.row("checking the owner", qOwner, nil, &token); err != nil {
		t.Rollback()
		return nil, fmt.Errorf("sqlstore: begin: %w", err)
	}
	if string(token) != string(s.token) {
		t.Rollback()
		return nil, fmt.Errorf("%w: another process opened the account since", ErrLocked)
	}
	return t, nil
}

// sqliteConnector opens the store's one SQLite connection, and refuses a
// second: the first holds the file's exclusive lock, and a replacement
// (if database/sql ever dropped it) would hold nothing another process
// could not have taken since.
type sqliteConnector struct {
	dsn    string
	opened atomic.Int32
}

func (c *sqliteConnector) Connect(ctx context.Context) (driver.Conn, error) {
	if c.opened.Add(1) > 1 {
		return nil, fmt.Errorf("%w: the connection that held the SQLite file was lost", ErrLocked)
	}
	return c.Driver().Open(c.dsn)
}

func (c *sqliteConnector) Driver() driver.Driver { return &sqlite.Driver{} }
