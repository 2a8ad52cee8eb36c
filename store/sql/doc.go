// Package sqlstore keeps a souverain machine's state (machine.Store) in SQL:
// SQLite embedded by default, PostgreSQL when a deployment outgrows one
// file. Both drivers are pure Go (modernc.org/sqlite, pgx through its
// database/sql adapter): no cgo.
//
//	store, err := sqlstore.OpenSQLite(ctx, "crypto.db")
//
// and for PostgreSQL, the same code with
//
//	store, err := sqlstore.OpenPostgres(ctx, "postgres://bot@db/matrix", "@bot:example.org/DEVICEID")
//
// # What is stored
//
// The store sees records, never keys: the machine encrypts and
// authenticates every secret field (each pickle, each key-value entry)
// under the 32-byte pickle key given to machine.New, which never reaches
// the database. Opening a machine over a store with the wrong pickle key
// fails in machine.New with an error wrapping machine.ErrBadPickleKey, not
// with garbage later. The plain columns are the indexes the machine looks
// records up by (room and session IDs, sender keys, user and device IDs,
// provenance, the backed-up flag) and replay records (event ID and
// timestamp per Megolm message index).
//
// # Durability and locking
//
// Every machine.Tx is one SQL transaction; a commit that returned is
// durable. SQLite runs in WAL mode with synchronous=FULL (the WAL is synced
// at every commit, so even a power loss keeps acknowledged transactions),
// foreign keys on, and locking_mode=EXCLUSIVE: the connection that opened
// the file keeps it locked until Close, so a second process opening the
// same file waits Config.LockWait (the busy timeout) and fails with
// ErrLocked. On PostgreSQL a session advisory lock per account refuses a
// second process for the same account (ErrLocked); every transaction also
// locks the account's owner row (SELECT ... FOR UPDATE) and checks the
// random token written at Open, so a process that lost its lock session
// fails with ErrLocked instead of writing beside the new owner.
//
// # Schema versions
//
// The schema is versioned (SchemaVersion). Open migrates an older database
// forward in one transaction; a database written by a newer version is
// refused with ErrNewerSchema before anything is written.
//
// # Bulk paths and replay records
//
// Inbound group sessions are looked up by their primary key (account, room
// ID, session ID), one at a time or, through Tx.InboundGroupSessionsByID
// (machine.BatchTx, which the machine uses for restores and batches of
// room events), 250 per query. Puts of inbound sessions are batched, 100 rows per
// prepared statement, so a key backup restore of 10,000 sessions in one
// transaction takes well under a second on SQLite. Replay records (one per
// Megolm message index decrypted) are looked up and written, for a batch of
// room events, through Tx.ReplayRecords and Tx.PutReplayRecords
// (machine.ReplayBatchTx): 250 keys per query and 100 rows per upsert, so
// that decrypting 1,000 events takes a few statements instead of 2,000
// round trips. They are kept as long as their session and
// deleted with it by DeleteInboundGroupSession, never pruned by age
// (pruning would reopen the replay). Their number is bounded by the number
// of distinct authentic messages received on the sessions still stored:
// at most one row (about 100 bytes plus the event ID) per (session,
// message index), and a sender can only create them by sending messages
// that decrypt under a key we accepted.
package sqlstore
