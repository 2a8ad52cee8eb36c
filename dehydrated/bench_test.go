package dehydrated_test

import (
	"encoding/json"
	"fmt"
	"sort"
	"testing"

	"github.com/souverain/e2ee/dehydrated"
)

// BenchmarkRehydrate1000Events opens a dehydrated device and decrypts the
// 1,000 to-device events it collected: room keys from 100 devices, 10 each,
// the first 50 devices on one-time keys and the others on the fallback key.
func BenchmarkRehydrate1000Events(b *testing.B) {
	key := dehydrated.GenerateKey()
	_, req, data := newUploaded(b, key, dehydrated.AlgorithmV2)
	var ids []string
	for id := range req.OneTimeKeys {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var events []json.RawMessage
	for i := range 100 {
		s := newSender(b, fmt.Sprintf("@user%d:example.org", i))
		s.otk = "fallback"
		if i < len(ids) {
			s.otk = ids[i]
		}
		for j := range 10 {
			ev, _ := s.roomKey(req, fmt.Sprintf("!room%d:example.org", j))
			events = append(events, ev)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		r, err := dehydrated.Rehydrate(key, owner, req.DeviceID, data)
		if err != nil {
			b.Fatal(err)
		}
		got := r.ReceiveEvents(events)
		if len(got.RoomKeys) != 1000 {
			b.Fatalf("%d room keys, %d failures: %v", len(got.RoomKeys), len(got.Failed), got.Failed[0])
		}
	}
}
