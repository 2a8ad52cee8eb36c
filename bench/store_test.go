package bench_test

// The stores side by side: souverain's store/sql (pure Go: modernc.org/sqlite
// and pgx) against mautrix-go's SQLCryptoStore (maunium.net/go/mautrix/crypto
// on mattn/go-sqlite3, cgo, and libolm for the sessions), on the same work:
// put and get one inbound group session (pickling included on both sides),
// and a key backup restore of 10,000 sessions in one transaction. mautrix
// runs on its usual driver registration "sqlite3-fk-wal" (WAL,
// synchronous=NORMAL) and on "sqlite3-fk-wal-fullsync" (synchronous=FULL,
// the durability souverain's SQLite store has). The decrypt-a-/sync-batch
// row for souverain is in store/sql (BenchmarkDecryptSyncBatch, the machine
// over each store); mautrix's is BenchmarkStoreDecryptSyncBatch here.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/util/dbutil"
	_ "go.mau.fi/util/dbutil/litestream"
	"maunium.net/go/mautrix"
	mcrypto "maunium.net/go/mautrix/crypto"
	molm "maunium.net/go/mautrix/crypto/olm"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/souverain/e2ee/machine"
	"github.com/souverain/e2ee/megolm"
	sqlstore "github.com/souverain/e2ee/store/sql"
)

const (
	implSQLStoreSQLite   = "souverain-sqlite-full"
	implSQLStoreNormal   = "souverain-sqlite-normal"
	implSQLStorePostgres = "souverain-postgres"
	implMautrixNormal    = "mautrix-sqlite3-normal"
	implMautrixFull      = "mautrix-sqlite3-full"
)

var storeCtx = context.Background()

var storePickleKey = []byte("0123456789abcdef0123456789abcdef")

// souverainStores returns the store/sql stores to benchmark; PostgreSQL
// only with SOUVERAIN_TEST_POSTGRES.
func souverainStores(b *testing.B) map[string]func(b *testing.B) *sqlstore.Store {
	m := map[string]func(b *testing.B) *sqlstore.Store{
		implSQLStoreSQLite: func(b *testing.B) *sqlstore.Store {
			s, err := sqlstore.OpenSQLite(storeCtx, filepath.Join(b.TempDir(), "crypto.db"))
			must(b, err)
			return s
		},
		implSQLStoreNormal: func(b *testing.B) *sqlstore.Store {
			s, err := sqlstore.Open(storeCtx, sqlstore.Config{Driver: "sqlite", DSN: filepath.Join(b.TempDir(), "crypto.db"), SQLiteSynchronous: "NORMAL"})
			must(b, err)
			return s
		},
	}
	if dsn := os.Getenv("SOUVERAIN_TEST_POSTGRES"); dsn != "" {
		m[implSQLStorePostgres] = func(b *testing.B) *sqlstore.Store {
			s, err := sqlstore.OpenPostgres(storeCtx, dsn, fmt.Sprintf("@bench:x/%d", time.Now().UnixNano()))
			must(b, err)
			return s
		}
	}
	return m
}

func mautrixStore(b *testing.B, driver string) *mcrypto.SQLCryptoStore {
	db, err := dbutil.NewWithDialect("file:"+filepath.Join(b.TempDir(), "crypto.db")+"?_txlock=immediate", driver)
	must(b, err)
	b.Cleanup(func() { db.Close() })
	s := mcrypto.NewSQLCryptoStore(db, dbutil.NoopLogger, "@bench:x/DEV", "DEV", storePickleKey)
	must(b, s.DB.Upgrade(storeCtx))
	return s
}

var mautrixDrivers = map[string]string{implMautrixNormal: "sqlite3-fk-wal", implMautrixFull: "sqlite3-fk-wal-fullsync"}

// souverainRecord pickles an inbound session as the machine stores it
// (souverain's authenticated pickle) into a record.
func souverainRecord(b *testing.B, s *megolm.InboundGroupSession, room string) machine.InboundGroupSessionRecord {
	p, err := s.Pickle(storePickleKey)
	must(b, err)
	return machine.InboundGroupSessionRecord{RoomID: room, SessionID: s.SessionID(), SenderKey: "senderkey",
		Provenance: machine.ProvenanceBackup, Pickle: []byte(p)}
}

func newSouverainInbound(b *testing.B) *megolm.InboundGroupSession {
	out, err := megolm.NewGroupSession()
	must(b, err)
	in, err := megolm.NewInboundGroupSession(out.SessionKey())
	must(b, err)
	return in
}

func newMautrixInbound(b *testing.B, room string) *mcrypto.InboundGroupSession {
	out, err := molm.NewOutboundGroupSession()
	must(b, err)
	in, err := mcrypto.NewInboundGroupSession("senderkey", "signingkey", id.RoomID(room), out.Key(), 0, 0, nil, false)
	must(b, err)
	in.KeySource = id.KeySourceBackup
	return in
}

func BenchmarkStorePutInboundSession(b *testing.B) {
	for name, open := range souverainStores(b) {
		runImpl(b, name, func(b *testing.B) {
			s := open(b)
			defer s.Close()
			in := newSouverainInbound(b)
			b.ResetTimer()
			cpu := startCPU(b)
			for i := 0; i < b.N; i++ {
				tx, err := s.Begin(storeCtx)
				must(b, err)
				must(b, tx.PutInboundGroupSession(souverainRecord(b, in, "!room:x")))
				must(b, tx.Commit())
			}
			cpu.report(1, "op")
		})
	}
	for name, driver := range mautrixDrivers {
		runImpl(b, name, func(b *testing.B) {
			s := mautrixStore(b, driver)
			in := newMautrixInbound(b, "!room:x")
			b.ResetTimer()
			cpu := startCPU(b)
			for i := 0; i < b.N; i++ {
				must(b, s.PutGroupSession(storeCtx, in))
			}
			cpu.report(1, "op")
		})
	}
}

func BenchmarkStoreGetInboundSession(b *testing.B) {
	for name, open := range souverainStores(b) {
		runImpl(b, name, func(b *testing.B) {
			s := open(b)
			defer s.Close()
			in := newSouverainInbound(b)
			tx, err := s.Begin(storeCtx)
			must(b, err)
			must(b, tx.PutInboundGroupSession(souverainRecord(b, in, "!room:x")))
			must(b, tx.Commit())
			b.ResetTimer()
			cpu := startCPU(b)
			for i := 0; i < b.N; i++ {
				tx, err := s.Begin(storeCtx)
				must(b, err)
				r, err := tx.InboundGroupSession("!room:x", in.SessionID())
				must(b, err)
				must(b, tx.Rollback())
				_, err = megolm.UnpickleInboundGroupSession(string(r.Pickle), storePickleKey)
				must(b, err)
			}
			cpu.report(1, "op")
		})
	}
	for name, driver := range mautrixDrivers {
		runImpl(b, name, func(b *testing.B) {
			s := mautrixStore(b, driver)
			in := newMautrixInbound(b, "!room:x")
			must(b, s.PutGroupSession(storeCtx, in))
			b.ResetTimer()
			cpu := startCPU(b)
			for i := 0; i < b.N; i++ {
				got, err := s.GetGroupSession(storeCtx, "!room:x", in.ID())
				must(b, err)
				if got == nil {
					b.Fatal("session not found")
				}
			}
			cpu.report(1, "op")
		})
	}
}

// BenchmarkStoreRestore10000 stores 10,000 backed-up sessions in one
// transaction, as a key backup restore does; the sessions are made (and
// for mautrix, pickled by PutGroupSession) outside the timer for mautrix
// and pickled inside it for souverain.
func BenchmarkStoreRestore10000(b *testing.B) {
	const n = 10000
	for name, open := range souverainStores(b) {
		runImpl(b, name, func(b *testing.B) {
			sessions := make([]*megolm.InboundGroupSession, n)
			for i := range sessions {
				sessions[i] = newSouverainInbound(b)
			}
			b.ResetTimer()
			cpu := startCPU(b)
			for i := 0; i < b.N; i++ {
				cpu.stop()
				s := open(b)
				cpu.resume()
				tx, err := s.Begin(storeCtx)
				must(b, err)
				for j, in := range sessions {
					must(b, tx.PutInboundGroupSession(souverainRecord(b, in, fmt.Sprintf("!room%d:x", j%50))))
				}
				must(b, tx.Commit())
				cpu.stop()
				s.Close()
				cpu.resume()
			}
			cpu.report(1, "op")
		})
	}
	for name, driver := range mautrixDrivers {
		runImpl(b, name, func(b *testing.B) {
			sessions := make([]*mcrypto.InboundGroupSession, n)
			for j := range sessions {
				sessions[j] = newMautrixInbound(b, fmt.Sprintf("!room%d:x", j%50))
			}
			b.ResetTimer()
			cpu := startCPU(b)
			for i := 0; i < b.N; i++ {
				cpu.stop()
				s := mautrixStore(b, driver)
				cpu.resume()
				must(b, s.DB.DoTxn(storeCtx, nil, func(ctx context.Context) error {
					for _, in := range sessions {
						if err := s.PutGroupSession(ctx, in); err != nil {
							return err
						}
					}
					return nil
				}))
			}
			cpu.report(1, "op")
		})
	}
}

// BenchmarkStoreDecryptSyncBatch decrypts 1,000 Megolm room events through
// mautrix-go's OlmMachine over its SQLCryptoStore (session lookup, decrypt,
// message index check and ratchet tracking in the store), the row that
// souverain's store/sql BenchmarkDecryptSyncBatch measures through the
// souverain machine.
func BenchmarkStoreDecryptSyncBatch(b *testing.B) {
	const batch = 1000
	room := id.RoomID("!room:x")
	for name, driver := range mautrixDrivers {
		runImpl(b, name, func(b *testing.B) {
			s := mautrixStore(b, driver)
			client, err := mautrix.NewClient("https://example.invalid", "@bob:x", "token")
			must(b, err)
			client.DeviceID = "BOB"
			log := zerolog.Nop()
			mach := mcrypto.NewOlmMachine(client, &log, s, mautrix.NewMemoryStateStore().(mcrypto.StateStore))
			mach.DisableDecryptKeyFetching = true
			must(b, mach.Load(storeCtx))
			events := make([]*event.Event, batch)
			seq := 0
			b.ResetTimer()
			cpu := startCPU(b)
			for i := 0; i < b.N; i++ {
				cpu.stop()
				// 1,000 events over sessions rotated every 100 messages, as
				// the souverain machine does by default.
				var out molm.OutboundGroupSession
				for j := range events {
					if j%100 == 0 {
						out, err = molm.NewOutboundGroupSession()
						must(b, err)
						in, err := mcrypto.NewInboundGroupSession("senderkey", "signingkey", room, out.Key(), 0, 0, nil, false)
						must(b, err)
						must(b, s.PutGroupSession(storeCtx, in))
					}
					pt, _ := json.Marshal(map[string]any{"type": "m.room.message", "room_id": room,
						"content": map[string]string{"msgtype": "m.text", "body": fmt.Sprintf("message %d %d", i, j)}})
					ct, err := out.Encrypt(pt)
					must(b, err)
					seq++
					events[j] = &event.Event{
						Type: event.EventEncrypted, Sender: "@alice:x", RoomID: room,
						ID: id.EventID(fmt.Sprintf("$event%d", seq)), Timestamp: 1700000000000 + int64(seq),
						Content: event.Content{Parsed: &event.EncryptedEventContent{
							Algorithm: id.AlgorithmMegolmV1, SenderKey: "senderkey", DeviceID: "ALICE",
							SessionID: out.ID(), MegolmCiphertext: ct,
						}},
					}
				}
				cpu.resume()
				for _, ev := range events {
					_, err := mach.DecryptMegolmEvent(storeCtx, ev)
					must(b, err)
				}
			}
			cpu.report(batch, "event")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/event")
		})
	}
}
