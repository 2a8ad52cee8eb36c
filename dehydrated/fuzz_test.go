package dehydrated_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/souverain/e2ee/dehydrated"
	"github.com/souverain/e2ee/internal/testkit"
	"github.com/souverain/e2ee/megolm"
	"github.com/souverain/e2ee/olm"
)

// The seeds are Element's device and the events Element sent it
// (testdata/element_device.json).

func FuzzRehydrate(f *testing.F) {
	v := loadElementDevice(f)
	key, _ := dehydrated.KeyFromSecret(v.Key)
	f.Add([]byte(v.DeviceData))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := dehydrated.Rehydrate(key, v.UserID, v.DeviceID, data)
		if err != nil {
			if !wrapsOneOf(err, dehydrated.ErrWrongKey, dehydrated.ErrBadDeviceData, dehydrated.ErrUnknownAlgorithm, olm.ErrCorruptedPickle, olm.ErrUnknownPickleVersion) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			return
		}
		r.Account().Sign([]byte("x"))
	})
}

// eventSentinels are the errors an event may fail with.
var eventSentinels = []error{
	dehydrated.ErrBadEvent, dehydrated.ErrNotForDevice, dehydrated.ErrNoSession, dehydrated.ErrSessionIDMismatch,
	olm.ErrPayloadMismatch, olm.ErrBadMessageFormat, olm.ErrBadMessageMAC, olm.ErrBadMessageVersion,
	olm.ErrMessageTooLarge, olm.ErrUnknownOneTimeKey, olm.ErrSessionMismatch, olm.ErrBadPublicKey,
	olm.ErrMessageGap, olm.ErrMessageKeyNotFound, olm.ErrUnknownChain, olm.ErrSessionConfig,
	megolm.ErrBadSessionKey, megolm.ErrBadSignature, olm.ErrPreKeyReplay,
}

func wrapsOneOf(err error, sentinels ...error) bool {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

func FuzzReceiveEvents(f *testing.F) {
	v := loadElementDevice(f)
	key, _ := dehydrated.KeyFromSecret(v.Key)
	for _, ev := range v.Events {
		f.Add([]byte(ev))
	}
	f.Fuzz(func(t *testing.T, event []byte) {
		r, err := dehydrated.Rehydrate(key, v.UserID, v.DeviceID, v.DeviceData)
		if err != nil {
			t.Fatal(err)
		}
		got := r.ReceiveEvents([]json.RawMessage{event, event})
		for _, e := range got.Failed {
			if !wrapsOneOf(e.Err, eventSentinels...) {
				t.Fatalf("error %v wraps no sentinel", e.Err)
			}
		}
		for _, k := range got.RoomKeys {
			if k.Session == nil || k.SessionID != k.Session.SessionID() {
				t.Fatal("room key without its session")
			}
		}
	})
}

// TestWriteFuzzCorpus regenerates the seed corpora when
// SOUVERAIN_WRITE_CORPUS=1.
func TestWriteFuzzCorpus(t *testing.T) {
	testkit.SkipUnlessWritingCorpus(t)
	v := loadElementDevice(t)
	var compact = func(b []byte) []byte {
		var out json.RawMessage
		json.Unmarshal(b, &out)
		c, _ := json.Marshal(out)
		return c
	}
	data := compact(v.DeviceData)
	testkit.WriteCorpusEntry(t, "FuzzRehydrate", "element", data)
	testkit.WriteCorpusEntry(t, "FuzzRehydrate", "truncated", data[:len(data)-20])
	testkit.WriteCorpusEntry(t, "FuzzRehydrate", "v1", []byte(`{"algorithm":"org.matrix.msc3814.v1.olm","device_pickle":"AAAA"}`))
	for i, ev := range v.Events {
		e := compact(ev)
		testkit.WriteCorpusEntry(t, "FuzzReceiveEvents", fmt.Sprintf("element-%d", i), e)
		testkit.WriteCorpusEntry(t, "FuzzReceiveEvents", fmt.Sprintf("truncated-%d", i), e[:len(e)/2])
	}
}
