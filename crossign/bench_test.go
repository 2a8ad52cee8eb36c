package crossign_test

import (
	"fmt"
	"testing"

	"github.com/souverain/e2ee/crossign"
)

// bigWorld returns a response with our own keys and two devices, plus 100
// other users with 10 cross-signed devices each, all verified by us: 1002
// devices in all.
func bigWorld(b *testing.B) (*world, []byte) {
	b.Helper()
	w := newWorld(b)
	delete(w.resp.keys[crossign.UsageMaster], bobID)
	delete(w.resp.keys[crossign.UsageSelfSigning], bobID)
	delete(w.resp.devices, bobID)
	a := w.alice
	for i := range 100 {
		id := fmt.Sprintf("@user%03d:example.org", i)
		k := testKeys(b, id)
		w.resp.setKey(crossign.UsageMaster, id, signedRaw(b, keyObject(id, crossign.UsageMaster, k.Master.PublicKey()), by(a, a.UserSigning), by(k, k.Master)))
		w.resp.setKey(crossign.UsageSelfSigning, id, signedRaw(b, keyObject(id, crossign.UsageSelfSigning, k.SelfSigning.PublicKey()), by(k, k.Master)))
		for j := range 10 {
			d := newTestDevice(id, fmt.Sprintf("DEVICE%02d", j))
			w.resp.setDevice(id, d.id, signedRaw(b, d.fields(), d.self(), by(k, k.SelfSigning)))
		}
	}
	return w, w.resp.bytes(b)
}

func countVerified(rep *crossign.Report) int {
	n := 0
	for _, u := range rep.UserIDs() {
		for _, d := range rep.User(u).Devices {
			if d.Verified {
				n++
			}
		}
	}
	return n
}

// BenchmarkParseQueryResponse1000 measures parsing a response with 1002
// devices, which includes checking each device's self-signature.
func BenchmarkParseQueryResponse1000(b *testing.B) {
	_, data := bigWorld(b)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := crossign.ParseQueryResponse(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEvaluate1000 measures the trust evaluation of a parsed response
// with 1002 devices: every cross-signing signature in it.
func BenchmarkEvaluate1000(b *testing.B) {
	w, data := bigWorld(b)
	q, err := crossign.ParseQueryResponse(data)
	if err != nil {
		b.Fatal(err)
	}
	v := w.verifier()
	for b.Loop() {
		rep, err := v.Evaluate(q)
		if err != nil {
			b.Fatal(err)
		}
		if n := countVerified(rep); n != 1002 {
			b.Fatalf("%d devices verified, want 1002", n)
		}
	}
}

// BenchmarkParseAndEvaluate1000 measures both: from response bytes to the
// report.
func BenchmarkParseAndEvaluate1000(b *testing.B) {
	w, data := bigWorld(b)
	v := w.verifier()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		q, err := crossign.ParseQueryResponse(data)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := v.Evaluate(q); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSignDevice measures signing one of our devices with the
// self-signing key, ready for upload.
func BenchmarkSignDevice(b *testing.B) {
	w := newWorld(b)
	q := w.resp.parse(b)
	d, err := q.Device(aliceID, "ALICE2")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := w.alice.SignDevice(d); err != nil {
			b.Fatal(err)
		}
	}
}
