package olm

import (
	"bytes"
	"errors"
	"testing"

	"github.com/souverain/e2ee/internal/testkit"
)

// vzFuzzSeeds returns the seeds of the dehydrated-device and vodozemac
// pickle fuzz targets: a dehydrated device body, an account, and a session
// in each ratchet state.
func vzFuzzSeeds(t testing.TB) (dehydrated, account, active, inactive []byte) {
	a := dehydrationAccount(t)
	dehydrated, _ = a.st.marshalDehydrated()
	account = vzMarshalAccount(a)
	alice, _ := newAccount(bytes.Repeat([]byte{1}, 64))
	bob, _ := newAccount(bytes.Repeat([]byte{2}, 64))
	bob.st.generateOneTimeKeys(bytes.Repeat([]byte{3}, 32))
	var otk Curve25519PublicKey
	for _, k := range bob.OneTimeKeys() {
		otk = k
	}
	as, _ := newOutboundSession(SessionConfigV1(), &alice.st.identity, bob.st.identity.pub, otk, seq(9, 64))
	m, _ := as.st.encrypt([]byte("x"), nil)
	bs, _, _ := bob.NewInboundSession(alice.Curve25519Key(), m.(*PreKeyMessage))
	return dehydrated, account, vzMarshalSession(as), vzMarshalSession(bs)
}

func FuzzUnmarshalDehydrated(f *testing.F) {
	d, _, _, _ := vzFuzzSeeds(f)
	f.Add(d)
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := unmarshalDehydrated(b)
		if err != nil {
			if !errors.Is(err, ErrCorruptedPickle) && !errors.Is(err, ErrUnknownPickleVersion) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			return
		}
		again, err := a.st.marshalDehydrated()
		if err != nil {
			t.Fatal(err)
		}
		if len(b) <= 4+64+4+32*MaxOneTimeKeys+33 && !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs:\n%x\n%x", again, b)
		}
		a.Sign([]byte("x"))
	})
}

func FuzzParseVodozemacAccount(f *testing.F) {
	_, acc, _, _ := vzFuzzSeeds(f)
	f.Add(acc)
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := ParseVodozemacAccount(b)
		if err != nil {
			if !errors.Is(err, ErrCorruptedPickle) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			return
		}
		if a.NumOneTimeKeys() > MaxOneTimeKeys || a.st.numFallback > 2 {
			t.Fatal("limits exceeded")
		}
		a.Sign([]byte("x"))
		a.st.marshal(MaxOneTimeKeys, false)
		// What this package writes, it reads back to the same account.
		out, err := a.MarshalVodozemac()
		if err != nil {
			t.Fatal(err)
		}
		c, err := ParseVodozemacAccount(out)
		if err != nil {
			t.Fatalf("re-reading our own output: %v", err)
		}
		if c.Curve25519Key() != a.Curve25519Key() || c.Ed25519Key() != a.Ed25519Key() || c.NumOneTimeKeys() != a.NumOneTimeKeys() {
			t.Fatal("the account changed through our own output")
		}
	})
}

func FuzzParseVodozemacSession(f *testing.F) {
	_, _, active, inactive := vzFuzzSeeds(f)
	f.Add(active)
	f.Add(inactive)
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseVodozemacSession(b)
		if err != nil {
			if !errors.Is(err, ErrCorruptedPickle) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			return
		}
		if len(s.st.receivers) > MaxReceiverChains || len(s.st.skipped) > MaxSkippedMessageKeys {
			t.Fatal("limits exceeded")
		}
		if out, err := s.MarshalVodozemac(); err == nil {
			if again, err := ParseVodozemacSession(out); err != nil || again.SessionID() != s.SessionID() {
				t.Fatalf("re-reading our own output: %v", err)
			}
		}
		s.st.encrypt([]byte("x"), seq(1, 32))
		s.marshalForTest()
	})
}

// TestWriteVodozemacFuzzCorpus regenerates the seed corpora of the
// dehydrated-device and vodozemac pickle fuzz targets when
// SOUVERAIN_WRITE_CORPUS=1.
func TestWriteVodozemacFuzzCorpus(t *testing.T) {
	testkit.SkipUnlessWritingCorpus(t)
	d, acc, active, inactive := vzFuzzSeeds(t)
	write := func(target, name string, v []byte) { testkit.WriteCorpusEntry(t, target, name, v) }
	write("FuzzUnmarshalDehydrated", "account", d)
	write("FuzzUnmarshalDehydrated", "truncated", d[:len(d)-1])
	write("FuzzUnmarshalDehydrated", "huge-count", append(append([]byte{}, d[:4+64]...), 0xff, 0xff, 0xff, 0xff))
	write("FuzzParseVodozemacAccount", "account", acc)
	write("FuzzParseVodozemacAccount", "truncated", acc[:len(acc)/2])
	write("FuzzParseVodozemacSession", "active", active)
	write("FuzzParseVodozemacSession", "inactive", inactive)
	write("FuzzParseVodozemacSession", "truncated", inactive[:len(inactive)-2])
}
