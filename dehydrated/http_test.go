package dehydrated_test

import (
	"errors"
	"net/url"
	"testing"

	"github.com/souverain/e2ee/dehydrated"
)

func TestHTTPBodies(t *testing.T) {
	d, err := dehydrated.ParseDownloadedDevice([]byte(`{"device_id":"ab+c/d","device_data":{"algorithm":"org.matrix.msc3814.v2"}}`))
	if err != nil || d.DeviceID != "ab+c/d" {
		t.Fatalf("%+v %v", d, err)
	}
	for _, bad := range []string{`{`, `{"device_id":"x"}`, `{"device_data":{}}`, `[]`} {
		if _, err := dehydrated.ParseDownloadedDevice([]byte(bad)); !errors.Is(err, dehydrated.ErrBadDeviceData) {
			t.Errorf("%s: %v", bad, err)
		}
	}
	if got, want := dehydrated.EventsPath("ab+c/d é"), dehydrated.Path+"/"+url.PathEscape("ab+c/d é")+"/events"; got != want {
		t.Errorf("EventsPath = %s, want %s", got, want)
	}
	if got := string(dehydrated.EventsRequest("")); got != "{}" {
		t.Errorf("first request %s", got)
	}
	if got := string(dehydrated.EventsRequest("t1")); got != `{"next_batch":"t1"}` {
		t.Errorf("next request %s", got)
	}
	e, err := dehydrated.ParseEvents([]byte(`{"events":[{"type":"m.room.encrypted"}],"next_batch":"t2"}`))
	if err != nil || len(e.Events) != 1 || e.NextBatch != "t2" {
		t.Fatalf("%+v %v", e, err)
	}
	if _, err := dehydrated.ParseEvents([]byte(`{"events":{}}`)); !errors.Is(err, dehydrated.ErrBadEvent) {
		t.Errorf("events as object: %v", err)
	}
}

func TestDeviceDataLimit(t *testing.T) {
	big := make([]byte, dehydrated.MaxDeviceDataSize+1)
	for i := range big {
		big[i] = ' '
	}
	copy(big, `{"algorithm":"org.matrix.msc3814.v2","device_pickle":"AAAA","nonce":"AAAA"}`)
	if _, err := dehydrated.ParseDeviceData(big); !errors.Is(err, dehydrated.ErrBadDeviceData) {
		t.Fatalf("oversized device_data: %v", err)
	}
	if _, err := dehydrated.ParseDeviceData(big[:dehydrated.MaxDeviceDataSize]); err != nil {
		t.Fatalf("device_data at the limit: %v", err)
	}
}
