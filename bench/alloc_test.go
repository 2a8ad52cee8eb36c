package bench_test

import (
	"testing"

	"github.com/souverain/e2ee/megolm"
)

// Allocation targets of issue 8, checked through the public API: at most 3
// allocations per Megolm encryption and decryption, and none per ratchet
// hash step. Counts, not times, so they hold on a loaded machine and
// under the race detector's own allocations only where noted.

const megolmMaxAllocs = 3

func TestMegolmAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	s := mustV[*megolm.GroupSession](t)(megolm.NewGroupSession())
	in := mustV[*megolm.InboundGroupSession](t)(megolm.NewInboundGroupSession(s.SessionKey()))
	pt := make([]byte, megolmPlaintextSize)
	var msg []byte
	if n := testing.AllocsPerRun(100, func() { msg = mustV[[]byte](t)(s.Encrypt(pt)) }); n > megolmMaxAllocs {
		t.Errorf("GroupSession.Encrypt: %v allocations, want at most %d", n, megolmMaxAllocs)
	}
	if n := testing.AllocsPerRun(100, func() {
		if _, _, err := in.Decrypt(msg); err != nil {
			t.Fatal(err)
		}
	}); n > megolmMaxAllocs {
		t.Errorf("InboundGroupSession.Decrypt: %v allocations, want at most %d", n, megolmMaxAllocs)
	}
}

// TestRatchetStepsDoNotAllocate moves an inbound session forward by large
// distances (hundreds of hash steps each) and decrypts far from a fresh
// session: the counts must not depend on the number of steps.
func TestRatchetStepsDoNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	s := mustV[*megolm.GroupSession](t)(megolm.NewGroupSession())
	in := mustV[*megolm.InboundGroupSession](t)(megolm.NewInboundGroupSession(s.SessionKey()))
	next := uint32(0)
	if n := testing.AllocsPerRun(100, func() {
		next += 1<<16 + 0x1ff // 255 + 1 + 255 steps, give or take
		in.AdvanceTo(next)
	}); n != 0 {
		t.Errorf("InboundGroupSession.AdvanceTo: %v allocations, want 0", n)
	}

	near := newMegolmFixture(t, 1, 100)
	far := newMegolmFixture(t, 1<<31+0xffffff, 100)
	count := func(f megolmFixture) float64 {
		k := mustV[*megolm.ExportedSessionKey](t)(megolm.ParseExportedSessionKey(f.export))
		raw := mustV[[]byte](t)(b64.DecodeString(f.message))
		return testing.AllocsPerRun(20, func() {
			in := mustV[*megolm.InboundGroupSession](t)(megolm.ImportInboundGroupSession(k))
			if _, _, err := in.Decrypt(raw); err != nil {
				t.Fatal(err)
			}
		})
	}
	if n, f := count(near), count(far); n != f {
		t.Errorf("decrypt 1 step away: %v allocations, 2^31+2^24−1 away: %v", n, f)
	}
}
