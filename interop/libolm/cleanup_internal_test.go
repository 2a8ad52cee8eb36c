package libolm

import (
	"runtime"
	"testing"
	"time"
)

// TestCleanup checks that Free releases C memory at once and that the
// runtime cleanup frees objects that were never freed explicitly.
func TestCleanup(t *testing.T) {
	start := live.Load()
	a, err := NewAccountRand()
	if err != nil {
		t.Fatal(err)
	}
	if got := live.Load() - start; got != 1 {
		t.Fatalf("live after NewAccount = %d, want 1", got)
	}
	a.Free()
	if got := live.Load() - start; got != 0 {
		t.Fatalf("live after Free = %d, want 0", got)
	}

	func() {
		for range 50 {
			a, err := NewAccountRand()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := a.UnpublishedFallbackKey(); err != nil {
				t.Fatal(err)
			}
			if err := a.GenerateOneTimeKeysRand(1); err != nil {
				t.Fatal(err)
			}
			var key string
			keys, _ := a.OneTimeKeys()
			for _, k := range keys {
				key = k
			}
			ik, _ := a.IdentityKeys()
			if _, err := a.NewOutboundSessionRand(ik.Curve25519, key); err != nil {
				t.Fatal(err)
			}
		}
	}()
	deadline := time.Now().Add(5 * time.Second)
	for live.Load() != start && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if got := live.Load() - start; got != 0 {
		t.Errorf("%d objects still live after GC", got)
	}
}
