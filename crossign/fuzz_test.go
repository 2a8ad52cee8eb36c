package crossign_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/souverain/e2ee/crossign"
)

// FuzzParseQueryResponse checks that parsing and evaluating any
// /keys/query response never panics, that parse → canonical encode is a
// fixed point, and that the report is consistent. The seed corpus, in
// testdata/fuzz/FuzzParseQueryResponse, holds the test world's response
// and variants of it; TestWriteFuzzCorpus regenerates it. Each execution
// verifies signatures and inputs are kilobytes long, so minimizing a new
// input takes long: fuzz with -fuzzminimizetime=3s.
func FuzzParseQueryResponse(f *testing.F) {
	w := newWorld(f)
	f.Add(w.resp.bytes(f))
	f.Add([]byte(`{"device_keys":{"@a:x":{"D":{"user_id":"@a:x"}}},"master_keys":{"@a:x":{}}}`))
	v := w.verifier()
	f.Fuzz(func(t *testing.T, data []byte) {
		q, err := crossign.ParseQueryResponse(data)
		if err != nil {
			return
		}
		once, err := json.Marshal(q)
		if err != nil {
			t.Fatalf("encode: %v", err)
		}
		q2, err := crossign.ParseQueryResponse(once)
		if err != nil {
			t.Fatalf("parse of the encoding %s: %v", once, err)
		}
		if twice, _ := json.Marshal(q2); !bytes.Equal(once, twice) {
			t.Fatalf("not a fixed point:\n%s\n%s", once, twice)
		}
		rep, err := v.Evaluate(q)
		if err != nil {
			t.Fatalf("Evaluate: %v", err)
		}
		for _, id := range rep.UserIDs() {
			u := rep.User(id)
			if u.Verified != (u.Reason == nil) {
				t.Fatalf("%s: verified %v, reason %v", id, u.Verified, u.Reason)
			}
			if u.Verified && u.MasterKey == nil {
				t.Fatalf("%s verified without a master key", id)
			}
			own := rep.User(v.UserID)
			if u.Verified && id != v.UserID && (own == nil || !own.Verified || own.UserSigningKey == nil) {
				t.Fatalf("%s verified while our identity is not", id)
			}
			for did, d := range u.Devices {
				if d.CrossSigned != (d.CrossSigningReason == nil) || d.Verified != (d.Reason == nil) {
					t.Fatalf("%s %s: inconsistent %+v", id, did, d)
				}
				if d.Verified && (!d.CrossSigned || !u.Verified || d.Device == nil) {
					t.Fatalf("%s %s verified without its chain", id, did)
				}
			}
		}
	})
}

// TestWriteFuzzCorpus regenerates the seed corpus of
// FuzzParseQueryResponse when SOUVERAIN_WRITE_CORPUS=1 is set: the test
// world's response and a variant for each trust reason.
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("SOUVERAIN_WRITE_CORPUS") != "1" {
		t.Skip("set SOUVERAIN_WRITE_CORPUS=1 to regenerate testdata/fuzz/FuzzParseQueryResponse")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzParseQueryResponse")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte) {
		content := "go test fuzz v1\n[]byte(" + strconv.Quote(string(data)) + ")\n"
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	w := newWorld(t)
	write("world", w.resp.bytes(t))
	w.resetBob(t, false)
	write("bob_reset", w.resp.bytes(t))
	w = newWorld(t)
	w.resp.setDevice(bobID, "BOB1", signedRaw(t, w.bob1.fields(), w.bob1.self(), by(w.bob, w.bob.Master)))
	write("device_signed_by_master", w.resp.bytes(t))
	w = newWorld(t)
	id := w.bob.Master.PublicKey().String()
	d := newTestDevice(bobID, id)
	w.resp.setDevice(bobID, id, signedRaw(t, d.fields(), d.self(), by(w.bob, w.bob.SelfSigning)))
	write("key_confusion", w.resp.bytes(t))
	w = newWorld(t)
	w.resp.setKey(crossign.UsageSelfSigning, bobID, signedRaw(t, keyObject(bobID, crossign.UsageUserSigning, w.bob.SelfSigning.PublicKey()), by(w.bob, w.bob.Master)))
	write("wrong_usage", w.resp.bytes(t))
	for i, s := range []string{
		`{}`, `{"device_keys":{}}`, `{"device_keys":{"@a:x":{"D":null}}}`,
		`{"master_keys":{"@a:x":{"user_id":"@a:x","usage":["master"],"keys":{"ed25519:A":"B"}}}}`,
		`{"device_keys":{"@a:x":{"D":{},"D":{}}}}`, `{"failures":{"x":1.5}}`,
	} {
		write(fmt.Sprintf("small_%d", i), []byte(s))
	}
}
