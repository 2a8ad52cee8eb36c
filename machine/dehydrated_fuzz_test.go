package machine_test

import (
	"errors"
	"testing"

	"github.com/souverain/e2ee/crossign"
	"github.com/souverain/e2ee/dehydrated"
	"github.com/souverain/e2ee/machine"
)

// FuzzRehydrationPage feeds arbitrary pages of events to a rehydration:
// never a panic; a page that does not parse wraps ErrBadResponse; one that
// does is read event by event.
func FuzzRehydrationPage(f *testing.F) {
	w := newWorld(f)
	ks, err := crossign.GenerateKeys(w.alice.user)
	if err != nil {
		f.Fatal(err)
	}
	for _, k := range []*crossign.PrivateKey{ks.Master, ks.SelfSigning, ks.UserSigning} {
		w.alice.m.SetSecret(ctx, k.Usage().SecretName(), k.Secret())
		pub, _ := ks.PublicKey(k.Usage())
		w.hs.SetCrossSigningKey(w.alice.user, string(k.Usage()), pub.Bytes())
	}
	d, err := w.alice.m.CreateDehydratedDevice(ctx, nil)
	if err != nil {
		f.Fatal(err)
	}
	if _, err := w.hs.Do(w.alice.user, w.alice.dev, d.Request); err != nil {
		f.Fatal(err)
	}
	w.bob.share(w.room, w.alice.user, w.bob.user)
	device, err := w.hs.Do(w.alice.user, w.alice.dev, machine.GetDehydratedDeviceRequest())
	if err != nil {
		f.Fatal(err)
	}
	secret, _, _ := w.alice.m.Secret(ctx, dehydrated.SecretName)
	key, _ := dehydrated.KeyFromSecret(secret)
	a2 := newClient(f, w.hs, w.alice.user, "ALICE2", w.clock)
	r, _ := a2.m.Rehydrate(ctx, key, device)
	page, err := w.hs.Do(w.alice.user, a2.dev, *r.NextRequest())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(page)
	f.Add([]byte(`{"events":[],"next_batch":"1"}`))
	f.Add([]byte(`{"events":[{"type":"m.room.encrypted","sender":"@bob:x","content":{}}, 1, null],"next_batch":"1"}`))
	f.Add([]byte(`{"events":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := a2.m.Rehydrate(ctx, key, device)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		res, err := r.ReceiveEvents(ctx, data)
		if err != nil {
			if !errors.Is(err, machine.ErrBadResponse) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			return
		}
		for _, fe := range res.Failed {
			if fe.Err == nil {
				t.Fatal("a failure without an error")
			}
		}
	})
}
