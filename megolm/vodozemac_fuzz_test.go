package megolm

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/souverain/e2ee/internal/testkit"
)

func vzMegolmSeeds(t testing.TB) (inbound, outbound, expanded, fromRustSDK []byte) {
	g, err := newGroupSession(SessionConfigV1(), bytes.Repeat([]byte{5}, RatchetSize+32))
	if err != nil {
		t.Fatal(err)
	}
	in, _ := NewInboundGroupSession(g.SessionKey())
	v := loadVzVectors(t)
	return vzMarshalInbound(in), vzMarshalOutbound(g, false), vzMarshalOutbound(g, true), v.JSON[0].Pickle
}

func FuzzParseVodozemacInboundGroupSession(f *testing.F) {
	in, _, _, rs := vzMegolmSeeds(f)
	f.Add(in)
	f.Add(rs)
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseVodozemacInboundGroupSession(b)
		if err != nil {
			if !errors.Is(err, ErrCorruptedPickle) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			return
		}
		out, err := s.MarshalVodozemac()
		if err != nil {
			t.Fatal(err)
		}
		if again, err := ParseVodozemacInboundGroupSession(out); err != nil || again.SessionID() != s.SessionID() || again.FirstKnownIndex() != s.FirstKnownIndex() {
			t.Fatalf("re-reading our own output: %v", err)
		}
		s.Decrypt([]byte("\x03\x08\x01\x12\x10AAAAAAAAAAAAAAAA"))
		s.Export()
	})
}

func FuzzParseVodozemacGroupSession(f *testing.F) {
	_, out, exp, _ := vzMegolmSeeds(f)
	f.Add(out)
	f.Add(exp)
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseVodozemacGroupSession(b)
		if err != nil {
			if !errors.Is(err, ErrCorruptedPickle) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			return
		}
		out, err := s.MarshalVodozemac()
		if err != nil {
			t.Fatal(err)
		}
		if again, err := ParseVodozemacGroupSession(out); err != nil || again.SessionID() != s.SessionID() || again.MessageIndex() != s.MessageIndex() {
			t.Fatalf("re-reading our own output: %v", err)
		}
		if _, err := s.Encrypt([]byte("x")); err != nil && !errors.Is(err, ErrIndexExhausted) {
			t.Fatal(err)
		}
	})
}

// TestWriteVodozemacFuzzCorpus regenerates the seed corpora of the
// vodozemac pickle fuzz targets when SOUVERAIN_WRITE_CORPUS=1.
func TestWriteVodozemacFuzzCorpus(t *testing.T) {
	testkit.SkipUnlessWritingCorpus(t)
	in, out, exp, rs := vzMegolmSeeds(t)
	var compact bytes.Buffer
	json.Compact(&compact, rs)
	w := func(target, name string, v []byte) { testkit.WriteCorpusEntry(t, target, name, v) }
	w("FuzzParseVodozemacInboundGroupSession", "inbound", in)
	w("FuzzParseVodozemacInboundGroupSession", "rust-sdk", compact.Bytes())
	w("FuzzParseVodozemacInboundGroupSession", "truncated", in[:len(in)-3])
	w("FuzzParseVodozemacGroupSession", "normal", out)
	w("FuzzParseVodozemacGroupSession", "expanded", exp)
	w("FuzzParseVodozemacGroupSession", "truncated", out[:len(out)/2])
}
