package crossign_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/souverain/e2ee/crossign"
)

func TestParseQueryResponse(t *testing.T) {
	w := newWorld(t)
	q := w.resp.parse(t)
	if diff := cmp.Diff([]string{aliceID, bobID}, q.UserIDs()); diff != "" {
		t.Errorf("UserIDs (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"ALICE1", "ALICE2"}, q.DeviceIDs(aliceID)); diff != "" {
		t.Errorf("DeviceIDs (-want +got):\n%s", diff)
	}
	if q.DeviceIDs("@nobody:x") != nil {
		t.Error("devices for an unknown user")
	}
	if d, err := q.Device(bobID, "BOB1"); err != nil || d.Ed25519Key() != w.bob1.public() {
		t.Errorf("Device = %v, %v", d, err)
	}
	if _, err := q.Device(bobID, "NOPE"); !errors.Is(err, crossign.ErrMissingKey) {
		t.Errorf("missing device: %v", err)
	}
	if _, err := q.CrossSigningKey(bobID, crossign.UsageUserSigning); !errors.Is(err, crossign.ErrMissingKey) {
		t.Errorf("missing key: %v", err)
	}
	if k, err := q.CrossSigningKey(bobID, crossign.UsageMaster); err != nil || k.PublicKey() != w.bob.Master.PublicKey() {
		t.Errorf("CrossSigningKey = %v, %v", k, err)
	}
}

func TestParseQueryResponseRejects(t *testing.T) {
	w := newWorld(t)
	good := string(w.resp.bytes(t))
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"empty", ``, crossign.ErrMalformed},
		{"array", `[]`, crossign.ErrMalformed},
		{"null", `null`, crossign.ErrMalformed},
		{"trailing data", good + ` {}`, crossign.ErrMalformed},
		{"truncated", good[:len(good)-1], crossign.ErrMalformed},
		{"invalid UTF-8", `{"failures":"` + "\xff" + `"}`, crossign.ErrMalformed},
		{"device_keys an array", `{"device_keys":[]}`, crossign.ErrMalformed},
		{"device_keys null", `{"device_keys":null}`, crossign.ErrMalformed},
		{"user's devices an array", `{"device_keys":{"@a:x":[]}}`, crossign.ErrMalformed},
		{"master_keys a string", `{"master_keys":"x"}`, crossign.ErrMalformed},
		{"duplicate top-level member", `{"master_keys":{},"master_keys":{}}`, crossign.ErrDuplicateKey},
		{"duplicate user", `{"device_keys":{"@a:x":{},"@a:x":{}}}`, crossign.ErrDuplicateKey},
		{"duplicate user by escape", `{"master_keys":{"@a:x":{},"\u0040a:x":{}}}`, crossign.ErrDuplicateKey},
		{"duplicate device", `{"device_keys":{"@a:x":{"D":{},"D":{}}}}`, crossign.ErrDuplicateKey},
		{"too large", `{"failures":"` + strings.Repeat("x", crossign.MaxQueryResponseSize) + `"}`, crossign.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := crossign.ParseQueryResponse([]byte(tt.in))
			if err == nil {
				t.Fatalf("parsed %v", q.UserIDs())
			}
			if !errors.Is(err, tt.want) || !errors.Is(err, crossign.ErrMalformed) {
				t.Errorf("error %v, want %v", err, tt.want)
			}
		})
	}
	// Numbers and odd values outside the key objects are none of our
	// business, but must still be JSON.
	if _, err := crossign.ParseQueryResponse([]byte(`{"failures":{"x":{"n":1.5e400}},"other":[1,2]}`)); err != nil {
		t.Errorf("odd failures: %v", err)
	}
}

// TestQueryEntriesIsolated checks that one bad object makes only its own
// entry unusable.
func TestQueryEntriesIsolated(t *testing.T) {
	w := newWorld(t)
	w.resp.setDevice(bobID, "BAD", json.RawMessage(`{"user_id":"@bob:example.org","n":0.5}`))
	w.resp.setDevice(bobID, "NUL", json.RawMessage(`null`))
	w.resp.setKey(crossign.UsageUserSigning, bobID, json.RawMessage(`[]`))
	q := w.resp.parse(t)
	if _, err := q.Device(bobID, "BAD"); !errors.Is(err, crossign.ErrNumber) {
		t.Errorf("BAD: %v", err)
	}
	if _, err := q.Device(bobID, "NUL"); !errors.Is(err, crossign.ErrMalformed) {
		t.Errorf("NUL: %v", err)
	}
	if _, err := q.CrossSigningKey(bobID, crossign.UsageUserSigning); !errors.Is(err, crossign.ErrMalformed) {
		t.Errorf("user-signing key: %v", err)
	}
	rep, err := w.verifier().Evaluate(q)
	if err != nil {
		t.Fatal(err)
	}
	if d := rep.Device(bobID, "BOB1"); !d.Verified {
		t.Errorf("BOB1 not verified next to a bad device: %v", d.Reason)
	}
}

// TestQueryFixedPoint is the property test for the parser: for the world
// and many mutations of it, parse → canonical encode is a fixed point, and
// encoding keeps every usable entry.
func TestQueryFixedPoint(t *testing.T) {
	w := newWorld(t)
	base := w.resp.bytes(t)
	inputs := [][]byte{base, []byte(`{}`), []byte(`{"device_keys":{"@a:x":{}}}`)}
	// Mutations: single-byte changes spread over the response,
	// deterministic.
	for i := 0; i < len(base); i += 61 {
		for _, c := range []byte{'"', '{', '0', 'A', ' ', '\\'} {
			m := bytes.Clone(base)
			m[i] = c
			inputs = append(inputs, m)
		}
	}
	usable := 0
	for _, in := range inputs {
		q, err := crossign.ParseQueryResponse(in)
		if err != nil {
			continue
		}
		usable++
		once, err := json.Marshal(q)
		if err != nil {
			t.Fatalf("encode: %v", err)
		}
		q2, err := crossign.ParseQueryResponse(once)
		if err != nil {
			t.Fatalf("parse of the encoding %s: %v", once, err)
		}
		twice, _ := json.Marshal(q2)
		if !bytes.Equal(once, twice) {
			t.Fatalf("not a fixed point:\n%s\n%s", once, twice)
		}
		// Every usable entry survives.
		for _, u := range q.UserIDs() {
			for _, d := range q.DeviceIDs(u) {
				if dev, err := q.Device(u, d); err == nil {
					dev2, err := q2.Device(u, d)
					if err != nil || !bytes.Equal(dev.Bytes(), dev2.Bytes()) {
						t.Fatalf("device %s %s lost: %v", u, d, err)
					}
				}
			}
		}
	}
	if usable < 25 {
		t.Errorf("only %d of %d inputs parsed", usable, len(inputs))
	}
	// The world's own response is canonical already (but for key order
	// and the failures member): its encoding parses to the same report.
	q, _ := crossign.ParseQueryResponse(base)
	enc, _ := json.Marshal(q)
	rep1, _ := w.verifier().Evaluate(q)
	q2, _ := crossign.ParseQueryResponse(enc)
	rep2, _ := w.verifier().Evaluate(q2)
	for _, u := range rep1.UserIDs() {
		if rep1.User(u).Verified != rep2.User(u).Verified {
			t.Errorf("%s: verification changed by re-encoding", u)
		}
	}
}
