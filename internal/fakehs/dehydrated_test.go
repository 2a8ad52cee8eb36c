package fakehs_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/souverain/e2ee/dehydrated"
	"github.com/souverain/e2ee/internal/fakehs"
	"github.com/souverain/e2ee/machine"
)

const user = "@alice:x"

func put(t *testing.T, s *fakehs.Server, edit func(map[string]any)) (string, error) {
	t.Helper()
	d, err := dehydrated.NewDevice(user)
	if err != nil {
		t.Fatal(err)
	}
	up, err := d.UploadRequest(dehydrated.GenerateKey(), "")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(up)
	if edit != nil {
		var m map[string]any
		json.Unmarshal(b, &m)
		edit(m)
		b, _ = json.Marshal(m)
	}
	_, err = s.Do(user, "PHONE", machine.Request{Method: "PUT", Path: dehydrated.Path, Body: b})
	return d.DeviceID(), err
}

func query(t *testing.T, s *fakehs.Server) map[string]json.RawMessage {
	t.Helper()
	resp, err := s.Do(user, "PHONE", machine.Request{Method: "POST", Path: "/_matrix/client/v3/keys/query", Body: []byte(`{"device_keys":{"@alice:x":[]}}`)})
	if err != nil {
		t.Fatal(err)
	}
	var q struct {
		DeviceKeys map[string]map[string]json.RawMessage `json:"device_keys"`
	}
	json.Unmarshal(resp, &q)
	return q.DeviceKeys[user]
}

func TestDehydratedEndpoints(t *testing.T) {
	s := fakehs.New()
	get := machine.Request{Method: "GET", Path: dehydrated.Path}
	del := machine.Request{Method: "DELETE", Path: dehydrated.Path}
	if _, err := s.Do(user, "PHONE", get); !errors.Is(err, fakehs.ErrNotFound) {
		t.Errorf("GET without a device: %v", err)
	}
	if _, err := s.Do(user, "PHONE", del); !errors.Is(err, fakehs.ErrNotFound) {
		t.Errorf("DELETE without a device: %v", err)
	}
	for name, edit := range map[string]func(map[string]any){
		"not marked dehydrated": func(m map[string]any) { delete(m["device_keys"].(map[string]any), "dehydrated") },
		"other device ID":       func(m map[string]any) { m["device_id"] = "OTHER" },
		"no device_data":        func(m map[string]any) { delete(m, "device_data") },
	} {
		if _, err := put(t, s, edit); err == nil {
			t.Errorf("%s: PUT accepted", name)
		}
	}
	id, err := put(t, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	if keys := query(t, s)[id]; !strings.Contains(string(keys), `"dehydrated":true`) {
		t.Errorf("keys/query lists %s", keys)
	}
	body, err := s.Do(user, "PHONE", get)
	if err != nil || !strings.Contains(string(body), id) {
		t.Fatalf("GET: %s, %v", body, err)
	}
	// Events: pages of 2, kept after reading, an empty page at the end.
	s.DehydratedPageSize = 2
	for i := range 5 {
		s.Inject(user, id, json.RawMessage(fmt.Sprintf(`{"type":"m.dummy","sender":"@bob:x","content":{"n":%d}}`, i)))
	}
	events := func(next string) (int, string, error) {
		r := machine.Request{Method: "POST", Path: dehydrated.EventsPath(id), Body: dehydrated.EventsRequest(next)}
		b, err := s.Do(user, "PHONE", r)
		if err != nil {
			return 0, "", err
		}
		e, err := dehydrated.ParseEvents(b)
		if err != nil {
			t.Fatal(err)
		}
		return len(e.Events), e.NextBatch, nil
	}
	var got []int
	next := ""
	for range 10 {
		n, nb, err := events(next)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, n)
		if n == 0 {
			if nb != next {
				t.Errorf("the empty page moved the token: %q → %q", next, nb)
			}
			break
		}
		next = nb
	}
	if fmt.Sprint(got) != "[2 2 1 0]" {
		t.Errorf("pages %v", got)
	}
	if n, _, _ := events(""); n != 2 {
		t.Error("events were deleted once read")
	}
	if _, _, err := events("99"); err == nil {
		t.Error("a bad token was accepted")
	}
	other := machine.Request{Method: "POST", Path: dehydrated.EventsPath("OTHER"), Body: []byte(`{}`)}
	if _, err := s.Do(user, "PHONE", other); !errors.Is(err, fakehs.ErrForbidden) {
		t.Errorf("events of another device: %v", err)
	}
	// A new device replaces the old one, in keys/query too.
	id2, err := put(t, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	keys := query(t, s)
	if _, ok := keys[id]; ok || keys[id2] == nil {
		t.Errorf("after replacement, keys/query lists %d devices", len(keys))
	}
	if got, _ := s.DehydratedDevice(user); got != id2 {
		t.Errorf("dehydrated device %s, want %s", got, id2)
	}
	if b, err := s.Do(user, "PHONE", del); err != nil || !strings.Contains(string(b), id2) {
		t.Errorf("DELETE: %s, %v", b, err)
	}
	if _, ok := query(t, s)[id2]; ok {
		t.Error("the deleted device is still listed")
	}
	// Deleting it as a device removes it as the dehydrated device.
	id3, _ := put(t, s, nil)
	s.DeleteDevice(user, id3)
	if _, ok := s.DehydratedDevice(user); ok {
		t.Error("DeleteDevice left the dehydrated device")
	}
}
