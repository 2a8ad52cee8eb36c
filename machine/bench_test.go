package machine_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/souverain/e2ee/keybackup"
	"github.com/souverain/e2ee/machine"
	"github.com/souverain/e2ee/megolm"
	"github.com/souverain/e2ee/olm"
)

// batchWorld: Alice shares keys of 100 rooms with Bob (100 Megolm
// sessions); a /sync batch is 10 events in each room.
func batchWorld(b *testing.B) (*world, []string) {
	w := newWorld(b)
	var rooms []string
	for i := 0; i < 100; i++ {
		room := fmt.Sprintf("!bench%d:x", i)
		rooms = append(rooms, room)
		for _, c := range []*client{w.alice, w.bob} {
			c.m.SetRoomEncryption(ctx, room, json.RawMessage(`{"algorithm":"m.megolm.v1.aes-sha2","rotation_period_msgs":10000}`))
		}
		w.alice.share(room, w.alice.user, w.bob.user)
	}
	if res := w.bob.sync(); len(res.RoomKeys) != 100 {
		b.Fatalf("%d room keys", len(res.RoomKeys))
	}
	return w, rooms
}

func batch(w *world, rooms []string) [][2]any {
	var evs [][2]any
	for j := 0; j < 10; j++ {
		for _, room := range rooms {
			evs = append(evs, [2]any{room, roomEvent(room, w.alice.user, w.alice.encrypt(room, `{"msgtype":"m.text","body":"benchmark message"}`))})
		}
	}
	return evs
}

// BenchmarkDecryptSyncBatch decrypts a /sync batch of 1,000 room events
// from 100 Megolm sessions, each event for the first time (replay records
// written). "cold" restarts the machine first, so the sessions come from
// the store.
func BenchmarkDecryptSyncBatch(b *testing.B) {
	for _, mode := range []string{"warm", "cold", "batched"} {
		cold := mode == "cold"
		b.Run(mode, func(b *testing.B) {
			w, rooms := batchWorld(b)
			var cpu time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				evs := batch(w, rooms)
				if cold {
					w.bob.restart()
				}
				c0 := cpuTime()
				b.StartTimer()
				if mode == "batched" {
					// One DecryptRoomEvents (one transaction) per room.
					byRoom := map[string][]json.RawMessage{}
					for _, e := range evs {
						byRoom[e[0].(string)] = append(byRoom[e[0].(string)], e[1].(json.RawMessage))
					}
					for room, list := range byRoom {
						_, errs, err := w.bob.m.DecryptRoomEvents(ctx, room, list)
						if err != nil || errs[0] != nil {
							b.Fatal(err, errs[0])
						}
					}
				} else {
					for _, e := range evs {
						if _, err := w.bob.m.DecryptRoomEvent(ctx, e[0].(string), e[1].(json.RawMessage)); err != nil {
							b.Fatal(err)
						}
					}
				}
				b.StopTimer()
				cpu += cpuTime() - c0
				b.StartTimer()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/event")
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*1000), "cpu-ns/event")
		})
	}
}

// BenchmarkDecryptSyncBatchPrimitives is the floor: the same 1,000 events
// through megolm.InboundGroupSession.Decrypt and the JSON decoding the
// machine also does, without store, replay records or checks.
func BenchmarkDecryptSyncBatchPrimitives(b *testing.B) {
	sessions := make([]*megolm.GroupSession, 100)
	inbound := map[string]*megolm.InboundGroupSession{}
	for i := range sessions {
		sessions[i], _ = megolm.NewGroupSession()
		inbound[sessions[i].SessionID()], _ = megolm.NewInboundGroupSession(sessions[i].SessionKey())
	}
	mk := func() []json.RawMessage {
		var evs []json.RawMessage
		for j := 0; j < 10; j++ {
			for i, s := range sessions {
				p, _ := json.Marshal(map[string]any{"type": "m.room.message", "room_id": fmt.Sprint("!bench", i), "content": map[string]any{"msgtype": "m.text", "body": "benchmark message"}})
				ct, _ := s.Encrypt(p)
				c, _ := json.Marshal(map[string]any{"algorithm": olm.AlgorithmMegolm, "session_id": s.SessionID(), "ciphertext": base64.RawStdEncoding.EncodeToString(ct)})
				evs = append(evs, roomEvent(fmt.Sprint("!bench", i), "@alice:x", c))
			}
		}
		return evs
	}
	var cpu time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		evs := mk()
		c0 := cpuTime()
		b.StartTimer()
		for _, raw := range evs {
			var ev struct {
				Content struct {
					SessionID  string `json:"session_id"`
					Ciphertext string `json:"ciphertext"`
				} `json:"content"`
			}
			json.Unmarshal(raw, &ev)
			ct, _ := base64.RawStdEncoding.DecodeString(ev.Content.Ciphertext)
			pt, _, err := inbound[ev.Content.SessionID].Decrypt(ct)
			if err != nil {
				b.Fatal(err)
			}
			var p struct {
				Type    string          `json:"type"`
				Content json.RawMessage `json:"content"`
				RoomID  string          `json:"room_id"`
			}
			json.Unmarshal(pt, &p)
		}
		b.StopTimer()
		cpu += cpuTime() - c0
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/event")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*1000), "cpu-ns/event")
}

// BenchmarkEncryptRoomEvent is one EncryptRoomEvent (the session stored
// before the ciphertext is returned); .../primitive is GroupSession.Encrypt
// with the same JSON.
func BenchmarkEncryptRoomEvent(b *testing.B) {
	b.Run("machine", func(b *testing.B) {
		w := newWorld(b)
		w.alice.m.SetRoomEncryption(ctx, "!e:x", json.RawMessage(`{"algorithm":"m.megolm.v1.aes-sha2","rotation_period_msgs":10000}`))
		for i := 0; i < b.N; i++ {
			if i%9000 == 0 {
				w.alice.m.DiscardRoomKey(ctx, "!e:x")
				b.StopTimer()
				w.alice.share("!e:x", w.alice.user)
				b.StartTimer()
			}
			if _, err := w.alice.m.EncryptRoomEvent(ctx, "!e:x", "m.room.message", json.RawMessage(`{"msgtype":"m.text","body":"benchmark message"}`)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("primitive", func(b *testing.B) {
		s, _ := megolm.NewGroupSession()
		for i := 0; i < b.N; i++ {
			p, _ := json.Marshal(map[string]any{"type": "m.room.message", "room_id": "!e:x", "content": json.RawMessage(`{"msgtype":"m.text","body":"benchmark message"}`)})
			ct, _ := s.Encrypt(p)
			json.Marshal(map[string]any{"algorithm": olm.AlgorithmMegolm, "session_id": s.SessionID(), "ciphertext": base64.RawStdEncoding.EncodeToString(ct)})
		}
	})
}

// BenchmarkShareRoomKey shares a new room key with 1,000 devices that
// already have Olm sessions: 1,000 Olm encryptions of m.room_key, the
// sessions stored, 4 /sendToDevice requests. Run with GOMAXPROCS 1 and 2:
// the encryptions run on every core.
func BenchmarkShareRoomKey(b *testing.B) {
	n := 1000
	w := newWorld(b)
	a := w.alice
	var users []string
	for i := 0; i < n; i++ {
		r := newRogue(b, w.hs, fmt.Sprintf("@u%d:x", i), "DEV")
		r.a.GenerateOneTimeKeys(1)
		otks, _ := r.a.SignedOneTimeKeys(r.user, r.dev)
		body, _ := json.Marshal(map[string]any{"one_time_keys": otks})
		w.hs.Do(r.user, r.dev, machine.Request{Method: "POST", Path: "/_matrix/client/v3/keys/upload", Body: body})
		users = append(users, r.user)
	}
	a.m.SetRoomEncryption(ctx, "!big:x", json.RawMessage(`{"algorithm":"m.megolm.v1.aes-sha2"}`))
	a.share("!big:x", users...) // queries and claims: once
	for _, cfg := range [][2]int{{250, 1}, {1000, 1}, {250, 2}, {1000, 2}} {
		n, procs := cfg[0], cfg[1]
		users := users[:n]
		b.Run(fmt.Sprintf("devices=%d/procs=%d", n, procs), func(b *testing.B) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
			var cpu time.Duration
			for i := 0; i < b.N; i++ {
				c0 := cpuTime()
				a.m.DiscardRoomKey(ctx, "!big:x")
				reqs, err := a.m.ShareRoomKey(ctx, "!big:x", users)
				if err != nil || len(reqs) != (n+249)/250 {
					b.Fatalf("%d requests, %v", len(reqs), err)
				}
				b.StopTimer()
				cpu += cpuTime() - c0
				for _, r := range reqs {
					a.m.MarkRequestSent(ctx, r.ID, []byte(`{}`))
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/device")
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*n), "cpu-ns/device")
		})
	}
}

// BenchmarkOlmEncryptPrimitive is the floor of one device's share: one
// Olm payload and encryption, no store.
func BenchmarkOlmEncryptPrimitive(b *testing.B) {
	x, _ := olm.NewAccount()
	y, _ := olm.NewAccount()
	y.GenerateOneTimeKeys(1)
	var otk olm.Curve25519PublicKey
	for _, k := range y.OneTimeKeys() {
		otk = k
	}
	s, _ := x.NewOutboundSession(y.Curve25519Key(), otk)
	key := json.RawMessage(`{"algorithm":"m.megolm.v1.aes-sha2","room_id":"!big:x","session_id":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","session_key":"` + string(make([]byte, 0)) + `x"}`)
	c0 := cpuTime()
	for i := 0; i < b.N; i++ {
		p, _ := olm.NewPayload(x, "@alice:x", "@u:x", y.Ed25519Key(), "m.room_key", key)
		if _, err := s.Encrypt(p); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((cpuTime()-c0).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// BenchmarkImportRoomKeys restores 10,000 backed-up sessions in one
// transaction (the memory store: the machine's own cost).
func BenchmarkImportRoomKeys(b *testing.B) {
	w := newWorld(b)
	r := newRogue(b, w.hs, "@carol:x", "CAROL")
	var sessions []keybackup.ExportedSession
	for i := 0; i < 10000; i++ {
		g, _ := megolm.NewGroupSession()
		sessions = append(sessions, exportOf(b, r, fmt.Sprint("!r", i%100), g))
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		c := newClient(b, w.hs, "@bob:x", fmt.Sprint("BOB", i+10), w.clock)
		c0 := cpuTime()
		b.StartTimer()
		res, err := c.m.ImportRoomKeys(ctx, sessions, machine.ProvenanceBackup)
		if err != nil || res.Imported != len(sessions) {
			b.Fatal(res, err)
		}
		b.StopTimer()
		b.ReportMetric(float64((cpuTime()-c0).Nanoseconds())/float64(len(sessions)), "cpu-ns/session")
		b.StartTimer()
	}
}

// BenchmarkRestoreBackup restores a server-side backup of 1,000 sessions:
// GET /room_keys/keys body in, decrypted on every core, stored in one
// transaction (the memory store).
func BenchmarkRestoreBackup(b *testing.B) {
	w := newWorld(b)
	r := newRogue(b, w.hs, "@carol:x", "CAROL")
	bk, _ := keybackup.GenerateBackupKey()
	var entries []keybackup.BackupEntry
	for i := 0; i < 1000; i++ {
		g, _ := megolm.NewGroupSession()
		ex := exportOf(b, r, fmt.Sprint("!r", i%100), g)
		e, err := bk.PublicKey().NewBackupEntry(ex.RoomID, ex.SessionID, &ex.BackedUpSession, 0, false)
		if err != nil {
			b.Fatal(err)
		}
		entries = append(entries, e)
	}
	body, _ := keybackup.MarshalRoomKeys(entries)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		c := newClient(b, w.hs, "@bob:x", fmt.Sprint("BOB", i+10), w.clock)
		b.StartTimer()
		res, err := c.m.RestoreBackup(ctx, bk, body, machine.RestoreOptions{})
		if err != nil || res.Imported != len(entries) {
			b.Fatal(res, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(entries)), "ns/session")
}
