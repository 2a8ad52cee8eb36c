package bench_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"maunium.net/go/mautrix/crypto/backup"
	"maunium.net/go/mautrix/crypto/goolm/account"
	gsession "maunium.net/go/mautrix/crypto/goolm/session"
	molm "maunium.net/go/mautrix/crypto/olm"
	"maunium.net/go/mautrix/id"

	"github.com/souverain/e2ee/internal/x25519"
	"github.com/souverain/e2ee/interop/libolm"
	"github.com/souverain/e2ee/keybackup"
	"github.com/souverain/e2ee/olm"
)

// Scale benchmarks: the work grows with N; ns/device and ns/entry must stay
// flat as N grows. Each runs on 1 and 2 cores (GOMAXPROCS and as many
// workers): souverain's restore uses its own DecryptAll; everything else
// shares the same worker pool, so that the peers get the same parallelism.

func scaleSizes() []int {
	sizes := []int{10, 100, 1000}
	if *large || benchSelects("n=10000") {
		sizes = append(sizes, 10000)
	}
	return sizes
}

// withCores runs f with GOMAXPROCS set to cores.
func withCores(b *testing.B, cores int, f func(b *testing.B)) {
	b.Run(fmt.Sprintf("cores=%d", cores), func(b *testing.B) {
		prev := runtime.GOMAXPROCS(cores)
		defer runtime.GOMAXPROCS(prev)
		f(b)
	})
}

// parallel calls f(w, i) for every i below n from workers goroutines; w
// is the worker's number, for state a worker owns.
func parallel(n, workers int, f func(w, i int)) {
	if workers == 1 {
		for i := range n {
			f(0, i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				f(w, i)
			}
		})
	}
	wg.Wait()
}

func perItem(b *testing.B, n int, unit string) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), unit)
}

// device is a recipient as /keys/claim describes it.
type device struct{ identityKey, oneTimeKey string }

var (
	devicesMu sync.Mutex
	devices   []device
)

// recipients returns n devices with valid keys, made once.
func recipients(n int) []device {
	devicesMu.Lock()
	defer devicesMu.Unlock()
	for len(devices) < n {
		var p1, p2 [32]byte
		rand.Read(p1[:])
		rand.Read(p2[:])
		k1, k2 := x25519.PublicKey(&p1), x25519.PublicKey(&p2)
		devices = append(devices, device{b64.EncodeToString(k1[:]), b64.EncodeToString(k2[:])})
	}
	return devices[:n]
}

// roomKeyPayload is the size of the m.room_key to-device event as Olm
// encrypts it: the session key and the sender's and recipient's keys.
var roomKeyPayload = []byte(`{"type":"m.room_key","content":{"algorithm":"m.megolm.v1.aes-sha2","room_id":"!roomidroomidroomid:example.org","session_id":"` +
	strings.Repeat("S", 43) + `","session_key":"` + strings.Repeat("K", 306) + `"},"sender":"@alice:example.org","sender_device":"ALICEDEVICE",` +
	`"keys":{"ed25519":"` + strings.Repeat("E", 43) + `"},"recipient":"@bob:example.org","recipient_keys":{"ed25519":"` + strings.Repeat("R", 43) + `"}}`)

// BenchmarkScaleRoomKeyShare shares a room key with n devices: for each,
// an Olm session from its claimed keys and the encrypted m.room_key.
func BenchmarkScaleRoomKeyShare(b *testing.B) {
	for _, n := range scaleSizes() {
		devs := recipients(n)
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			for _, cores := range []int{1, 2} {
				withCores(b, cores, func(b *testing.B) { shareRoomKey(b, devs, cores) })
			}
		})
	}
}

func shareRoomKey(b *testing.B, devs []device, cores int) {
	n := len(devs)
	runImpl(b, implSouverain, func(b *testing.B) {
		senders := make([]*olm.Account, cores)
		for w := range senders {
			senders[w] = mustV[*olm.Account](b)(olm.NewAccount())
		}
		for b.Loop() {
			parallel(n, cores, func(w, i int) {
				ik := mustV[olm.Curve25519PublicKey](b)(olm.ParseCurve25519PublicKey(devs[i].identityKey))
				otk := mustV[olm.Curve25519PublicKey](b)(olm.ParseCurve25519PublicKey(devs[i].oneTimeKey))
				s := mustV[*olm.Session](b)(senders[w].NewOutboundSession(ik, otk))
				m := mustV[olm.Message](b)(s.Encrypt(roomKeyPayload))
				_ = b64.EncodeToString(m.Bytes())
			})
		}
		perItem(b, n, "ns/device")
	})
	runImpl(b, implGoolm, func(b *testing.B) {
		senders := make([]*account.Account, cores)
		for w := range senders {
			senders[w] = mustV[*account.Account](b)(account.NewAccount())
		}
		for b.Loop() {
			parallel(n, cores, func(w, i int) {
				s := mustV[molm.Session](b)(senders[w].NewOutboundSession(id.Curve25519(devs[i].identityKey), id.Curve25519(devs[i].oneTimeKey)))
				_, _, err := s.Encrypt(roomKeyPayload)
				must(b, err)
			})
		}
		perItem(b, n, "ns/device")
	})
	runImpl(b, implLibolm, func(b *testing.B) {
		senders := make([]*libolm.Account, cores)
		random := make([][]byte, cores)
		for w := range senders {
			senders[w] = mustV[*libolm.Account](b)(libolm.NewAccountRand())
			defer senders[w].Free()
			random[w] = make([]byte, libolm.OutboundSessionRandomLength())
		}
		for b.Loop() {
			parallel(n, cores, func(w, i int) {
				rand.Read(random[w])
				s := mustV[*libolm.Session](b)(senders[w].NewOutboundSession(devs[i].identityKey, devs[i].oneTimeKey, random[w]))
				_, _, err := s.Encrypt(roomKeyPayload, nil)
				must(b, err)
				s.Free()
			})
		}
		perItem(b, n, "ns/device")
	})
	runImpl(b, implFloor, func(b *testing.B) {
		states := make([]*floorState, cores)
		for w := range states {
			states[w] = newFloorState()
		}
		for b.Loop() {
			parallel(n, cores, func(w, i int) {
				floorOutbound(states[w])
				floorSend(states[w], len(roomKeyPayload))
			})
		}
		perItem(b, n, "ns/device")
	})
}

// restoreFixture is a backup of n distinct sessions, as the entries of
// GET /room_keys/keys, with its private key.
type restoreFixture struct {
	priv     []byte
	key      *keybackup.BackupKey
	entries  []keybackup.BackupEntry
	plainLen int
}

var (
	restoreMu       sync.Mutex
	restoreFixtures = map[int]*restoreFixture{}
)

func newRestoreFixture(tb testing.TB, n int) *restoreFixture {
	restoreMu.Lock()
	defer restoreMu.Unlock()
	if f, ok := restoreFixtures[n]; ok {
		return f
	}
	f := &restoreFixture{priv: fill(32)}
	f.key = mustV[*keybackup.BackupKey](tb)(keybackup.NewBackupKey(f.priv))
	pub := f.key.PublicKey()
	f.entries = make([]keybackup.BackupEntry, n)
	for i := range f.entries {
		s, sid := newBackedUpSession(tb)
		f.plainLen = len(mustV[[]byte](tb)(json.Marshal(s)))
		f.entries[i] = mustV[keybackup.BackupEntry](tb)(pub.NewBackupEntry(fmt.Sprintf("!room%d:example.org", i%50), sid, s, 0, false))
	}
	restoreFixtures[n] = f
	return f
}

// BenchmarkScaleBackupRestore restores a backup of n entries: for each,
// parse its KeyBackupData, decrypt the session, import it into Megolm and
// check its session ID.
func BenchmarkScaleBackupRestore(b *testing.B) {
	for _, n := range scaleSizes() {
		f := newRestoreFixture(b, n)
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			for _, cores := range []int{1, 2} {
				withCores(b, cores, func(b *testing.B) { restoreBackup(b, f, cores) })
			}
		})
	}
}

// mautrixKeyBackupData is KeyBackupData as mautrix decodes it.
type mautrixKeyBackupData struct {
	FirstMessageIndex int                                          `json:"first_message_index"`
	ForwardedCount    int                                          `json:"forwarded_count"`
	IsVerified        bool                                         `json:"is_verified"`
	SessionData       *backup.EncryptedSessionData[mautrixSession] `json:"session_data"`
}

type libolmKeyBackupData struct {
	FirstMessageIndex int               `json:"first_message_index"`
	ForwardedCount    int               `json:"forwarded_count"`
	IsVerified        bool              `json:"is_verified"`
	SessionData       libolmSessionData `json:"session_data"`
}

func restoreBackup(b *testing.B, f *restoreFixture, cores int) {
	n := len(f.entries)
	runImpl(b, implSouverain, func(b *testing.B) {
		for b.Loop() {
			res := f.key.DecryptAll(context.Background(), f.entries, &keybackup.DecryptAllOptions{Workers: cores})
			for i := range res {
				must(b, res[i].Err)
			}
		}
		perItem(b, n, "ns/entry")
	})
	runImpl(b, implGoolm, func(b *testing.B) {
		key := mustV[*backup.MegolmBackupKey](b)(backup.MegolmBackupKeyFromBytes(f.priv))
		for b.Loop() {
			parallel(n, cores, func(_, i int) {
				var d mautrixKeyBackupData
				must(b, json.Unmarshal(f.entries[i].Data, &d))
				s := mustV[*mautrixSession](b)(d.SessionData.Decrypt(key))
				in := mustV[*gsession.MegolmInboundSession](b)(gsession.NewMegolmInboundSessionFromExport([]byte(s.SessionKey)))
				if string(in.ID()) != f.entries[i].SessionID {
					b.Fatal("session ID mismatch")
				}
			})
		}
		perItem(b, n, "ns/entry")
	})
	runImpl(b, implLibolm, func(b *testing.B) {
		dec := make([]*libolm.PkDecryption, cores)
		for w := range dec {
			dec[w] = mustV[*libolm.PkDecryption](b)(libolm.NewPkDecryption(f.priv))
			defer dec[w].Free()
		}
		for b.Loop() {
			parallel(n, cores, func(w, i int) {
				var d libolmKeyBackupData
				must(b, json.Unmarshal(f.entries[i].Data, &d))
				pt := mustV[[]byte](b)(dec[w].Decrypt(libolm.PkMessage{Ciphertext: d.SessionData.Ciphertext, Ephemeral: d.SessionData.Ephemeral, MAC: d.SessionData.MAC}))
				var s mautrixSession
				must(b, json.Unmarshal(pt, &s))
				in := mustV[*libolm.InboundGroupSession](b)(libolm.ImportInboundGroupSession(s.SessionKey))
				if sid := mustV[string](b)(in.SessionID()); sid != f.entries[i].SessionID {
					b.Fatal("session ID mismatch")
				}
				in.Free()
			})
		}
		perItem(b, n, "ns/entry")
	})
	runImpl(b, implFloor, func(b *testing.B) {
		states := make([]*floorState, cores)
		for w := range states {
			states[w] = newFloorState()
		}
		for b.Loop() {
			parallel(n, cores, func(w, i int) { floorBackupDecrypt(states[w], f.plainLen) })
		}
		perItem(b, n, "ns/entry")
	})
}
