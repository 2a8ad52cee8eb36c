package fakehs_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/souverain/e2ee/internal/fakehs"
	"github.com/souverain/e2ee/machine"
)

func TestBackupEndpoints(t *testing.T) {
	s := fakehs.New()
	do := func(method, path, body string) ([]byte, error) {
		return s.Do(user, "PHONE", machine.Request{Method: method, Path: path, Body: []byte(body)})
	}
	const version = "/_matrix/client/v3/room_keys/version"
	if _, err := do("GET", version, ""); !errors.Is(err, fakehs.ErrNoBackup) {
		t.Fatalf("GET version without a backup: %v", err)
	}
	if _, err := do("PUT", "/_matrix/client/v3/room_keys/keys?version=1", `{"rooms":{}}`); !errors.Is(err, fakehs.ErrNoBackup) {
		t.Fatalf("PUT keys without a backup: %v", err)
	}
	if _, err := do("POST", version, `{"algorithm":"a"}`); err == nil {
		t.Fatal("a version without auth_data was created")
	}
	for i, want := range []string{"1", "2"} {
		resp, err := do("POST", version, fmt.Sprintf(`{"algorithm":"a","auth_data":{"public_key":"k%d"}}`, i))
		if err != nil || string(resp) != `{"version":"`+want+`"}` {
			t.Fatalf("POST version %d: %s %v", i, resp, err)
		}
	}
	resp, err := do("GET", version, "")
	if err != nil || string(resp) != `{"algorithm":"a","auth_data":{"public_key":"k1"},"count":0,"etag":"0","version":"2"}` {
		t.Fatalf("GET version: %s %v", resp, err)
	}
	session := func(first, fwd int, verified bool, data string) string {
		return fmt.Sprintf(`{"first_message_index":%d,"forwarded_count":%d,"is_verified":%t,"session_data":{"d":%q}}`, first, fwd, verified, data)
	}
	put := func(sessions string) ([]byte, error) {
		return do("PUT", "/_matrix/client/v3/room_keys/keys?version=2", `{"rooms":{"!r":{"sessions":{`+sessions+`}}}}`)
	}
	if _, err := do("PUT", "/_matrix/client/v3/room_keys/keys?version=1", `{"rooms":{}}`); !errors.Is(err, fakehs.ErrWrongBackupVersion) {
		t.Fatalf("PUT to an old version: %v", err)
	}
	if resp, err := put(`"s1":` + session(5, 1, false, "first") + `,"s2":` + session(0, 0, false, "two")); err != nil || string(resp) != `{"count":2,"etag":"1"}` {
		t.Fatalf("PUT: %s %v", resp, err)
	}
	if _, err := put(`"s3":{"first_message_index":0}`); err == nil {
		t.Fatal("a malformed session was accepted")
	}
	// The server keeps the better copy: verified, then lower index, then
	// fewer forwards.
	steps := []struct {
		copy, want string
	}{
		{session(6, 0, false, "worse index"), "first"},
		{session(5, 2, false, "more forwards"), "first"},
		{session(5, 0, false, "fewer forwards"), "fewer forwards"},
		{session(9, 3, true, "verified"), "verified"},
		{session(0, 0, false, "unverified"), "verified"},
	}
	for _, st := range steps {
		if _, err := put(`"s1":` + st.copy); err != nil {
			t.Fatal(err)
		}
		resp, err := do("GET", "/_matrix/client/v3/room_keys/keys?version=2", "")
		if err != nil {
			t.Fatal(err)
		}
		var got struct {
			Rooms map[string]struct {
				Sessions map[string]struct {
					SessionData struct{ D string } `json:"session_data"`
				}
			}
		}
		json.Unmarshal(resp, &got)
		if d := got.Rooms["!r"].Sessions["s1"].SessionData.D; d != st.want {
			t.Errorf("after %s the server keeps %q, want %q", st.copy, d, st.want)
		}
		if len(got.Rooms["!r"].Sessions) != 2 {
			t.Errorf("sessions: %s", resp)
		}
	}
	if _, err := do("GET", "/_matrix/client/v3/room_keys/keys?version=1", ""); !errors.Is(err, fakehs.ErrWrongBackupVersion) {
		t.Fatalf("GET keys of an old version: %v", err)
	}
}
