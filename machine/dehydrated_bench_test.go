package machine_test

import (
	"fmt"
	"testing"

	"github.com/souverain/e2ee/crossign"
	"github.com/souverain/e2ee/dehydrated"
	"github.com/souverain/e2ee/machine"
)

// BenchmarkRehydrate1000Events rehydrates, into a new device's machine,
// a dehydrated device that collected 1,000 room keys from 100 devices (10
// each; the first 50 on one-time keys, the others on the fallback key), in
// pages of 100: download, decrypt and store, one store transaction per
// page.
func BenchmarkRehydrate1000Events(b *testing.B) {
	w := newWorld(b)
	a := w.alice
	ks, err := crossign.GenerateKeys(a.user)
	if err != nil {
		b.Fatal(err)
	}
	for _, k := range []*crossign.PrivateKey{ks.Master, ks.SelfSigning, ks.UserSigning} {
		a.m.SetSecret(ctx, k.Usage().SecretName(), k.Secret())
	}
	d, err := a.m.CreateDehydratedDevice(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := w.hs.Do(a.user, a.dev, d.Request); err != nil {
		b.Fatal(err)
	}
	secret, _, _ := a.m.Secret(ctx, dehydrated.SecretName)
	for i := range 100 {
		s := newOlmSender(b, w.hs)
		user := fmt.Sprintf("@user%d:x", i)
		for j := range 10 {
			c, _ := roomKeyFor(b, fmt.Sprintf("!room%d:x", j))
			w.hs.Inject(a.user, d.DeviceID, s.send(user, user, a.user, d.DeviceID, "m.room_key", c))
		}
	}
	w.hs.DehydratedPageSize = 100
	device, err := w.hs.Do(a.user, a.dev, machine.GetDehydratedDeviceRequest())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		a2 := newClient(b, w.hs, a.user, fmt.Sprint("NEW", i), w.clock)
		a2.m.SetSecret(ctx, dehydrated.SecretName, secret)
		b.StartTimer()
		r, err := a2.m.Rehydrate(ctx, nil, device)
		if err != nil {
			b.Fatal(err)
		}
		keys := 0
		for req := r.NextRequest(); req != nil; req = r.NextRequest() {
			page, err := w.hs.Do(a.user, a2.dev, *req)
			if err != nil {
				b.Fatal(err)
			}
			res, err := r.ReceiveEvents(ctx, page)
			if err != nil {
				b.Fatal(err)
			}
			keys += len(res.RoomKeys)
		}
		r.Close()
		if keys != 1000 {
			b.Fatalf("%d room keys", keys)
		}
	}
}
