package megolm_test

import (
	"errors"
	"testing"

	"github.com/souverain/e2ee/internal/pickle"
	"github.com/souverain/e2ee/megolm"
)

// TestProvenanceNeverRises creates a session of each provenance, decrypts a
// message with it, and pickles it: the provenance stays what the input
// proved, while SignatureChecked (libolm's "verified") becomes true.
func TestProvenanceNeverRises(t *testing.T) {
	out := newSession(t)
	direct := inbound(t, out)
	sk := out.SessionKey()
	m, _ := out.Encrypt([]byte("hello"))
	export := direct.Export()
	for _, tt := range []struct {
		name string
		make func() (*megolm.InboundGroupSession, error)
		want megolm.Provenance
	}{
		{"direct", func() (*megolm.InboundGroupSession, error) { return megolm.NewInboundGroupSession(sk) }, megolm.ProvenanceDirect},
		{"import", func() (*megolm.InboundGroupSession, error) { return megolm.ImportInboundGroupSession(export) }, megolm.ProvenanceUnknown},
		{"forwarded", func() (*megolm.InboundGroupSession, error) {
			return megolm.ImportInboundGroupSessionFrom(export, megolm.ProvenanceForwarded)
		}, megolm.ProvenanceForwarded},
		{"backup", func() (*megolm.InboundGroupSession, error) {
			return megolm.ImportInboundGroupSessionFrom(export, megolm.ProvenanceBackup)
		}, megolm.ProvenanceBackup},
		{"export", func() (*megolm.InboundGroupSession, error) {
			return megolm.ImportInboundGroupSessionFrom(export, megolm.ProvenanceExport)
		}, megolm.ProvenanceExport},
		{"v2 backup", func() (*megolm.InboundGroupSession, error) {
			return megolm.ImportInboundGroupSessionWithConfigFrom(megolm.SessionConfigV2(), export, megolm.ProvenanceBackup)
		}, megolm.ProvenanceBackup},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := tt.make()
			if err != nil {
				t.Fatal(err)
			}
			if s.Provenance() != tt.want {
				t.Fatalf("provenance %v, want %v", s.Provenance(), tt.want)
			}
			wantChecked := tt.want == megolm.ProvenanceDirect
			if s.SignatureChecked() != wantChecked || s.IsVerified() != wantChecked {
				t.Fatalf("signature checked %v before a message", s.SignatureChecked())
			}
			if s.Config().Version() == 1 {
				if _, _, err := s.Decrypt(m); err != nil {
					t.Fatal(err)
				}
				if !s.SignatureChecked() || !s.IsVerified() {
					t.Fatal("signature not checked after a message")
				}
			}
			if s.Provenance() != tt.want {
				t.Fatalf("provenance %v after a message, want %v", s.Provenance(), tt.want)
			}
			p, _ := s.Pickle(testKey)
			back, err := megolm.UnpickleInboundGroupSession(p, testKey)
			if err != nil {
				t.Fatal(err)
			}
			if back.Provenance() != tt.want || back.SignatureChecked() != s.SignatureChecked() || back.Config() != s.Config() {
				t.Fatalf("own pickle: provenance %v, checked %v", back.Provenance(), back.SignatureChecked())
			}
			if s.Config().Version() != 1 {
				return
			}
			// libolm's format has only the flag: provenance is unknown.
			lp, _ := s.PickleLibolm(testKey)
			lback, err := megolm.UnpickleLibolmInboundGroupSession(lp, testKey)
			if err != nil {
				t.Fatal(err)
			}
			if lback.Provenance() != megolm.ProvenanceUnknown || !lback.SignatureChecked() {
				t.Fatalf("libolm pickle: provenance %v, checked %v", lback.Provenance(), lback.SignatureChecked())
			}
		})
	}
}

// TestImportCannotClaimDirect: an exported key proves nothing about its
// origin, so it cannot make a direct session, nor one of a provenance that
// does not exist.
func TestImportCannotClaimDirect(t *testing.T) {
	export := inbound(t, newSession(t)).Export()
	for _, p := range []megolm.Provenance{megolm.ProvenanceDirect, megolm.ProvenanceDirect + 1, 255} {
		if s, err := megolm.ImportInboundGroupSessionFrom(export, p); !errors.Is(err, megolm.ErrBadProvenance) || s != nil {
			t.Errorf("import as %v: %v", p, err)
		}
	}
}

func TestProvenanceString(t *testing.T) {
	for p, want := range map[megolm.Provenance]string{
		megolm.ProvenanceUnknown: "unknown", megolm.ProvenanceBackup: "backup", megolm.ProvenanceExport: "export",
		megolm.ProvenanceForwarded: "forwarded", megolm.ProvenanceDirect: "direct", 9: "Provenance(9)",
	} {
		if p.String() != want {
			t.Errorf("%d: %q, want %q", uint8(p), p.String(), want)
		}
	}
	if !(megolm.ProvenanceUnknown < megolm.ProvenanceBackup && megolm.ProvenanceBackup < megolm.ProvenanceExport &&
		megolm.ProvenanceExport < megolm.ProvenanceForwarded && megolm.ProvenanceForwarded < megolm.ProvenanceDirect) {
		t.Error("provenances out of order")
	}
}

// TestMergeProvenance: a merge keeps the lower first known index and the
// higher provenance of two connected copies, whichever side each is on.
func TestMergeProvenance(t *testing.T) {
	out := newSession(t)
	direct0 := inbound(t, out)
	msgs := make([][]byte, 8)
	for i := range msgs {
		msgs[i], _ = out.Encrypt([]byte("m"))
	}
	direct5, _ := megolm.NewInboundGroupSession(mustExportedAsSessionKey(t, out, direct0, 5))
	imp := func(index uint32, p megolm.Provenance) *megolm.InboundGroupSession {
		k, err := direct0.ExportAt(index)
		if err != nil {
			t.Fatal(err)
		}
		s, err := megolm.ImportInboundGroupSessionFrom(k, p)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	for _, tt := range []struct {
		name      string
		a, b      *megolm.InboundGroupSession
		wantIndex uint32
		want      megolm.Provenance
	}{
		{"direct at 5, forwarded at 0", direct5, imp(0, megolm.ProvenanceForwarded), 0, megolm.ProvenanceDirect},
		{"direct at 0, backup at 5", direct0, imp(5, megolm.ProvenanceBackup), 0, megolm.ProvenanceDirect},
		{"direct at 0, export at 0", direct0, imp(0, megolm.ProvenanceExport), 0, megolm.ProvenanceDirect},
		{"backup at 0, export at 3", imp(0, megolm.ProvenanceBackup), imp(3, megolm.ProvenanceExport), 0, megolm.ProvenanceExport},
		{"unknown at 2, backup at 2", imp(2, megolm.ProvenanceUnknown), imp(2, megolm.ProvenanceBackup), 2, megolm.ProvenanceBackup},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, m := range []*megolm.InboundGroupSession{tt.a.Merge(tt.b), tt.b.Merge(tt.a)} {
				if m == nil {
					t.Fatal("not merged")
				}
				if m.FirstKnownIndex() != tt.wantIndex || m.Provenance() != tt.want {
					t.Fatalf("merged: index %d provenance %v, want %d %v", m.FirstKnownIndex(), m.Provenance(), tt.wantIndex, tt.want)
				}
				if _, _, err := m.Decrypt(msgs[tt.wantIndex]); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
	// An unconnected copy (another ratchet under the same signing key)
	// merges with nothing, whatever its provenance.
	raw := direct0.Export().Bytes()
	raw[40] ^= 1
	k, _ := megolm.NewExportedSessionKey(raw)
	forged, _ := megolm.ImportInboundGroupSessionFrom(k, megolm.ProvenanceForwarded)
	if direct0.Merge(forged) != nil || forged.Merge(direct0) != nil {
		t.Fatal("unconnected copy merged")
	}
}

// mustExportedAsSessionKey returns the session key of out as it was at
// index, made by moving a copy of the sender back: a pickle of out with the
// ratchet of in at index.
func mustExportedAsSessionKey(t *testing.T, out *megolm.GroupSession, in *megolm.InboundGroupSession, index uint32) *megolm.SessionKey {
	t.Helper()
	key := []byte("k")
	p, _ := out.PickleLibolm(key)
	body, err := pickle.DecryptLibolm(key, p)
	if err != nil {
		t.Fatal(err)
	}
	exp, _ := in.ExportAt(index)
	raw := exp.Bytes()
	copy(body[4:132], raw[5:133])
	copy(body[132:136], raw[1:5])
	moved, err := megolm.UnpickleLibolmGroupSession(pickle.EncryptLibolm(key, body), key)
	if err != nil {
		t.Fatal(err)
	}
	return moved.SessionKey()
}

// TestOwnPickleProvenance reads a souverain pickle written before
// provenance was recorded (layout version 2: ProvenanceUnknown) and refuses
// one whose provenance byte names no provenance.
func TestOwnPickleProvenance(t *testing.T) {
	in := inbound(t, newSession(t))
	lp, _ := in.PickleLibolm(testKey)
	layout, err := pickle.DecryptLibolm(testKey, lp) // version 2 layout
	if err != nil {
		t.Fatal(err)
	}
	own := func(body []byte) string {
		s, err := pickle.Encrypt(testKey, "megolm.InboundGroupSession", append([]byte{1}, body...))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	old, err := megolm.UnpickleInboundGroupSession(own(layout), testKey)
	if err != nil {
		t.Fatal(err)
	}
	if old.Provenance() != megolm.ProvenanceUnknown || !old.SignatureChecked() || old.SessionID() != in.SessionID() {
		t.Fatalf("old own pickle: %v %v", old.Provenance(), old.SignatureChecked())
	}
	v3 := append([]byte{0, 0, 0, 3}, layout[4:]...)
	for p := range 256 {
		s, err := megolm.UnpickleInboundGroupSession(own(append(v3, byte(p))), testKey)
		if p <= int(megolm.ProvenanceDirect) {
			if err != nil || s.Provenance() != megolm.Provenance(p) {
				t.Fatalf("provenance byte %d: %v", p, err)
			}
		} else if !errors.Is(err, megolm.ErrCorruptedPickle) {
			t.Fatalf("provenance byte %d: %v", p, err)
		}
	}
	// libolm's format never has version 3.
	if _, err := megolm.UnpickleLibolmInboundGroupSession(pickle.EncryptLibolm(testKey, append(v3, 4)), testKey); !errors.Is(err, megolm.ErrUnknownPickleVersion) {
		t.Fatalf("version 3 in a libolm pickle: %v", err)
	}
}
