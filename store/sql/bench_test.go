package sqlstore_test

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/souverain/e2ee/machine"
	"github.com/souverain/e2ee/machine/memstore"
	sqlstore "github.com/souverain/e2ee/store/sql"
)

// BenchmarkDecryptSyncBatch decrypts a /sync batch of 1,000 room events
// through the machine, with Bob's machine over each store: one event at a
// time (DecryptRoomEvent, a store transaction per event) and the batch at
// once (DecryptRoomEvents, one transaction); each event writes its replay
// record. Alice (over the
// memory store) encrypts the batch outside the timer; the keys arrive
// over Olm through the relay first. The bench module has the same row for
// mautrix-go's OlmMachine over its SQLCryptoStore.
func BenchmarkDecryptSyncBatch(b *testing.B) {
	const batch = 1000
	for _, batched := range []bool{false, true} {
		mode := "DecryptRoomEvent"
		if batched {
			mode = "DecryptRoomEvents"
		}
		for _, st := range benchStores() {
			b.Run("call="+mode+"/store="+st.name, func(b *testing.B) {
				srv := httptest.NewServer(newRelay())
				defer srv.Close()
				room := "!room:x"
				mk := func(user, dev string, seed byte, s machine.Store) *peer {
					p := &peer{t: b, base: srv.URL, user: user, dev: dev,
						opts: machine.Options{UserID: user, DeviceID: dev, Store: s, PickleKey: pickleKey(seed)}}
					p.open()
					p.flush()
					if err := p.m.SetRoomEncryption(ctx, room, json.RawMessage(`{"algorithm":"m.megolm.v1.aes-sha2"}`)); err != nil {
						b.Fatal(err)
					}
					return p
				}
				bs := st.open(b)
				defer bs.Close()
				alice := mk("@alice:x", "ALICE", 1, memstore.New())
				bob := mk("@bob:x", "BOB", 2, bs)
				alice.sync()
				bob.sync()
				events := make([]json.RawMessage, batch)
				b.ReportAllocs()
				b.ResetTimer()
				cpu := startCPU(b)
				for i := 0; i < b.N; i++ {
					cpu.stop()
					for j := range events {
						alice.share(room, alice.user, bob.user)
						events[j] = alice.post(room, fmt.Sprintf("message %d %d", i, j))
					}
					bob.sync()
					cpu.resume()
					if batched {
						_, errs, err := bob.m.DecryptRoomEvents(ctx, room, events)
						if err != nil {
							b.Fatal(err)
						}
						for _, err := range errs {
							if err != nil {
								b.Fatal(err)
							}
						}
						continue
					}
					for _, ev := range events {
						if _, err := bob.m.DecryptRoomEvent(ctx, room, ev); err != nil {
							b.Fatal(err)
						}
					}
				}
				cpu.report(batch, "event")
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/event")
			})
		}
	}
}

// BenchmarkImportRoomKeys restores 10,000 backed-up sessions through the
// machine (machine.ImportRoomKeys: one transaction) over each store.
func BenchmarkImportRoomKeys(b *testing.B) {
	sessions := backupSessions(b, 10000)
	for _, st := range benchStores() {
		b.Run("store="+st.name, func(b *testing.B) {
			b.ReportAllocs()
			b.ResetTimer()
			cpu := startCPU(b)
			for i := 0; i < b.N; i++ {
				cpu.stop()
				s := st.open(b)
				m, err := machine.New(ctx, machine.Options{UserID: "@bob:x", DeviceID: "BOB", Store: s, PickleKey: pickleKey(2)})
				if err != nil {
					b.Fatal(err)
				}
				cpu.resume()
				res, err := m.ImportRoomKeys(ctx, sessions, machine.ProvenanceBackup)
				if err != nil || res.Imported != len(sessions) {
					b.Fatal(res, err)
				}
				cpu.stop()
				m.Close()
				s.Close()
				cpu.resume()
			}
			cpu.report(1, "op")
		})
	}
}

type benchStore = struct {
	name string
	open func(t testing.TB) machine.Store
}

// benchStores are the stores of the benchmarks: SQLite (FULL and NORMAL),
// PostgreSQL (with SOUVERAIN_TEST_POSTGRES) and the memory store.
func benchStores() []benchStore {
	return append(backends(), benchStore{"SQLite-NORMAL", func(t testing.TB) machine.Store {
		s, err := sqlstore.Open(ctx, sqlstore.Config{Driver: "sqlite", DSN: filepath.Join(t.TempDir(), "crypto.db"), SQLiteSynchronous: "NORMAL"})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}}, benchStore{"Memory", func(testing.TB) machine.Store { return memstore.New() }})
}
