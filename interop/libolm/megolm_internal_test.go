package libolm

import (
	"runtime"
	"testing"
	"time"
)

// TestGroupCleanup checks that Free releases a group session's C memory at
// once and that the runtime cleanup frees group sessions never freed
// explicitly.
func TestGroupCleanup(t *testing.T) {
	start := live.Load()
	out, err := NewOutboundGroupSessionRand()
	if err != nil {
		t.Fatal(err)
	}
	key, err := out.SessionKey()
	if err != nil {
		t.Fatal(err)
	}
	in, err := NewInboundGroupSession(key)
	if err != nil {
		t.Fatal(err)
	}
	if got := live.Load() - start; got != 2 {
		t.Fatalf("live after creating two group sessions = %d, want 2", got)
	}
	out.Free()
	in.Free()
	if got := live.Load() - start; got != 0 {
		t.Fatalf("live after Free = %d, want 0", got)
	}
	// Failed constructors free what they allocated.
	if _, err := NewOutboundGroupSession(nil); err == nil {
		t.Fatal("NewOutboundGroupSession(nil) succeeded")
	}
	if _, err := ImportInboundGroupSession("AAAA"); err == nil {
		t.Fatal("ImportInboundGroupSession(AAAA) succeeded")
	}
	if got := live.Load() - start; got != 0 {
		t.Fatalf("live after failed constructors = %d, want 0", got)
	}

	func() {
		for range 50 {
			out, err := NewOutboundGroupSessionRand()
			if err != nil {
				t.Fatal(err)
			}
			key, _ := out.SessionKey()
			if _, err := NewInboundGroupSession(key); err != nil {
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
		t.Errorf("%d group sessions still live after GC", got)
	}
}
