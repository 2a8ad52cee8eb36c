package crossign_test

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/souverain/e2ee/crossign"
)

// TestKeyConfusionSpellings: a device whose ID is another base64 spelling
// of one of its user's cross-signing keys (padded, URL-safe, stray bits in
// the last character) is refused like the exact spelling (SECURITY 38).
func TestKeyConfusionSpellings(t *testing.T) {
	w := newWorld(t)
	for _, k := range []*crossign.PrivateKey{w.bob.Master, w.bob.SelfSigning} {
		pub := k.PublicKey()
		s := pub.String()
		const alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
		last := strings.IndexByte(alpha, s[len(s)-1])
		url := base64.RawURLEncoding.EncodeToString(pub[:])
		ids := []string{s + "=", url + "=", s[:len(s)-1] + string(alpha[last^1])}
		if url != s {
			ids = append(ids, url)
		}
		for _, id := range ids {
			w := newWorld(t)
			d := newTestDevice(bobID, id)
			w.resp.setDevice(bobID, id, signedRaw(t, d.fields(), d.self(), by(w.bob, w.bob.SelfSigning)))
			rep := w.evaluate(t, w.verifier())
			dt := rep.Device(bobID, id)
			if dt == nil || dt.CrossSigned || !errors.Is(dt.CrossSigningReason, crossign.ErrKeyConfusion) {
				t.Errorf("%s key spelt %q: %+v", k.Usage(), id, dt)
			}
			if ok := rep.Device(bobID, "BOB1"); ok == nil || !ok.CrossSigned {
				t.Errorf("BOB1 no longer cross-signed: %+v", ok)
			}
		}
	}
}
