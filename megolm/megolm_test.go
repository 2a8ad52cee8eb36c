package megolm_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/souverain/e2ee/megolm"
)

var testKey = bytes.Repeat([]byte{9}, 32)

func newSession(t testing.TB) *megolm.GroupSession {
	t.Helper()
	s, err := megolm.NewGroupSession()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func inbound(t testing.TB, s *megolm.GroupSession) *megolm.InboundGroupSession {
	t.Helper()
	k, err := megolm.ParseSessionKey(s.SessionKey().Encode())
	if err != nil {
		t.Fatal(err)
	}
	in, err := megolm.NewInboundGroupSessionWithConfig(s.Config(), k)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func unb64(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestLibolmVectors runs the two Megolm vectors of libolm's own tests.
func TestLibolmVectors(t *testing.T) {
	const key1 = "AgAAAAAwMTIzNDU2Nzg5QUJERUYwMTIzNDU2Nzg5QUJDREVGMDEyMzQ1Njc4OUFCREVGMDEyMzQ1Njc4OUFCQ0RFRjAxMjM0NTY3ODlBQkRFRjAxMjM0NTY3ODlBQkNERUYwMTIzNDU2Nzg5QUJERUYwMTIzNDU2Nzg5QUJDREVGMDEyMw0bdg1BDq4Px/slBow06q8n/B9WBfwWYyNOB8DlUmXGGwrFmaSb9bR/eY8xgERrxmP07hFmD9uqA2p8PMHdnV5ysmgufE6oLZ5+8/mWQOW3VVTnDIlnwd8oHUYRuk8TCQ"
	const msg1 = "AwgAEhAcbh6UpbByoyZxufQ+h2B+8XHMjhR69G8F4+qjMaFlnIXusJZX3r8LnRORG9T3DXFdbVuvIWrLyRfm4i8QRbe8VPwGRFG57B1CtmxanuP8bHtnnYqlwPsD"
	const key2 = "AgAAAAAwMTIzNDU2Nzg5QUJERUYwMTIzNDU2Nzg5QUJDREVGMDEyMzQ1Njc4OUFCREVGMDEyMzQ1Njc4OUFCQ0RFRjAxMjM0NTY3ODlBQkRFRjAxMjM0NTY3ODlBQkNERUYwMTIzNDU2Nzg5QUJERUYwMTIzNDU2Nzg5QUJDREVGMDEyMztqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop4lx1cSN3Xv1TgfLPW8rhGiW+hHiMxd36nRuxscNv9k4oJA/KP+o0mi1wv44StrEJ1wwx9WZHBUIWkQbaBSuBDw"
	const msg2 = "AwgAEhAcbh6UpbByoyZxufQ+h2B+8XHMjhR69G8nP4pNZGl/3QMgrzCZPmP+F2aPLyKPzxRPBMUkeXRJ6Iqm5NeOdx2eERgTW7P20CM+lL3Xpk+ZUOOPvsSQNaAL"
	const tampered2 = "AwgAEhAcbh6UpbByoyZxufQ+h2B+8XHMjhR69G8nP4pNZGl/3QMgrzCZPmP+F2aPLyKPzxRPBMUkeXRJ6Iqm5NeOdx2eERgTW7P20CM+lL3Xpk+ZUOOPvsSQNaAE"
	for _, tt := range []struct{ key, msg string }{{key1, msg1}, {key2, msg2}} {
		k, err := megolm.ParseSessionKey(tt.key)
		if err != nil {
			t.Fatal(err)
		}
		if k.SessionID() == "" || k.Index() != 0 {
			t.Fatal("key fields")
		}
		s, _ := megolm.NewInboundGroupSession(k)
		pt, idx, err := s.Decrypt(unb64(t, tt.msg))
		if err != nil || string(pt) != "Message" || idx != 0 {
			t.Fatalf("decrypt: %q %d %v", pt, idx, err)
		}
	}
	k, _ := megolm.ParseSessionKey(key1)
	if k.SessionID() != "DRt2DUEOrg/H+yUGjDTqryf8H1YF/BZjI04HwOVSZcY" {
		t.Fatalf("session ID %s", k.SessionID())
	}
	k, _ = megolm.ParseSessionKey(key2)
	s, _ := megolm.NewInboundGroupSession(k)
	if _, _, err := s.Decrypt(unb64(t, tampered2)); !errors.Is(err, megolm.ErrBadSignature) {
		t.Fatalf("tampered: %v, want ErrBadSignature", err)
	}
}

func TestRoundTrip(t *testing.T) {
	for _, config := range []megolm.SessionConfig{megolm.SessionConfigV1(), megolm.SessionConfigV2()} {
		t.Run(fmt.Sprint("v", config.Version()), func(t *testing.T) {
			out, _ := megolm.NewGroupSessionWithConfig(config)
			in := inbound(t, out)
			if in.SessionID() != out.SessionID() || !in.SignatureChecked() {
				t.Fatal("session ID or verified")
			}
			var msgs [][]byte
			for i := range 50 {
				m, err := out.Encrypt([]byte(fmt.Sprint("message ", i)))
				if err != nil {
					t.Fatal(err)
				}
				msgs = append(msgs, m)
			}
			if out.MessageIndex() != 50 {
				t.Fatalf("index %d", out.MessageIndex())
			}
			rng := rand.New(rand.NewPCG(3, 4))
			for _, i := range rng.Perm(50) {
				pt, idx, err := in.Decrypt(msgs[i])
				if err != nil || string(pt) != fmt.Sprint("message ", i) || idx != uint32(i) {
					t.Fatalf("message %d: %q %d %v", i, pt, idx, err)
				}
			}
			// Decrypting again works (replay detection is the caller's).
			if _, _, err := in.Decrypt(msgs[0]); err != nil {
				t.Fatal(err)
			}
			m, _ := megolm.ParseMessage(msgs[7])
			if m.Index() != 7 || int(m.Version()) != 2+config.Version() {
				t.Fatalf("parsed index %d version %d", m.Index(), m.Version())
			}
		})
	}
}

func TestConfigMismatch(t *testing.T) {
	out, _ := megolm.NewGroupSessionWithConfig(megolm.SessionConfigV2())
	k, _ := megolm.ParseSessionKey(out.SessionKey().Encode())
	in, _ := megolm.NewInboundGroupSession(k) // v1
	m, _ := out.Encrypt([]byte("x"))
	if _, _, err := in.Decrypt(m); !errors.Is(err, megolm.ErrBadMessageVersion) {
		t.Fatalf("v2 message in v1 session: %v", err)
	}
	if _, err := out.PickleLibolm(nil); !errors.Is(err, megolm.ErrSessionConfig) {
		t.Fatalf("libolm pickle of v2: %v", err)
	}
}

// TestAdvanceToMatchesStepping checks the bounded jump against one step at a
// time, across the 2^8, 2^16 and 2^24 boundaries.
func TestAdvanceToMatchesStepping(t *testing.T) {
	targets := []uint32{1, 2, 255, 256, 257, 511, 65535, 65536, 65537, 70000}
	random := bytes.Repeat([]byte{5}, 160)
	for _, target := range targets {
		a, _ := megolm.NewGroupSessionFromRandom(megolm.SessionConfigV1(), random)
		b, _ := megolm.NewGroupSessionFromRandom(megolm.SessionConfigV1(), random)
		a.SetIndex(target)
		b.StepTo(target)
		if a.RatchetBytes() != b.RatchetBytes() {
			t.Fatalf("advanceTo(%d) differs from %d steps", target, target)
		}
	}
	// Across the 2^24 and 2^32 edges: jump close to the edge, then step
	// over it, and compare with one direct jump.
	for _, tt := range []struct{ near, target uint32 }{
		{1<<24 - 3, 1<<24 + 2},
		{1<<24 + 1<<16 - 2, 1<<24 + 1<<16 + 3},
		{math.MaxUint32 - 300, math.MaxUint32},
	} {
		a, _ := megolm.NewGroupSessionFromRandom(megolm.SessionConfigV1(), random)
		b, _ := megolm.NewGroupSessionFromRandom(megolm.SessionConfigV1(), random)
		a.SetIndex(tt.target)
		b.SetIndex(tt.near)
		b.StepTo(tt.target)
		if a.RatchetBytes() != b.RatchetBytes() {
			t.Fatalf("advanceTo(%d) differs from stepping from %d", tt.target, tt.near)
		}
	}
	// Chained jumps.
	a, _ := megolm.NewGroupSessionFromRandom(megolm.SessionConfigV1(), random)
	b, _ := megolm.NewGroupSessionFromRandom(megolm.SessionConfigV1(), random)
	for _, target := range []uint32{3, 300, 65540, 65541, 1<<17 + 7} {
		a.SetIndex(target)
		b.StepTo(target)
		if a.RatchetBytes() != b.RatchetBytes() {
			t.Fatalf("chained advanceTo(%d) differs", target)
		}
	}
}

func TestHighIndices(t *testing.T) {
	out := newSession(t)
	in := inbound(t, out)
	// The sender jumps far ahead; the receiver reaches each index in bounded
	// time.
	for _, idx := range []uint32{1 << 24, 1 << 31, math.MaxUint32 - 1} {
		out.SetIndex(idx)
		m, err := out.Encrypt([]byte("far"))
		if err != nil {
			t.Fatal(err)
		}
		pt, got, err := in.Decrypt(m)
		if err != nil || got != idx || string(pt) != "far" {
			t.Fatalf("index %d: %q %d %v", idx, pt, got, err)
		}
	}
	// The outbound session is now at 2^32-1 and refuses to wrap.
	if out.MessageIndex() != math.MaxUint32 {
		t.Fatalf("index %d", out.MessageIndex())
	}
	if _, err := out.Encrypt([]byte("wrap")); !errors.Is(err, megolm.ErrIndexExhausted) {
		t.Fatalf("wrap: %v", err)
	}
	// An inbound session reaches 2^32-1 too, from an export.
	e, err := in.ExportAt(math.MaxUint32)
	if err != nil || e.Index() != math.MaxUint32 {
		t.Fatalf("export at max: %v", err)
	}
}

func TestUnknownMessageIndex(t *testing.T) {
	out := newSession(t)
	var msgs [][]byte
	for range 12 {
		m, _ := out.Encrypt([]byte("x"))
		msgs = append(msgs, m)
	}
	in := inbound(t, out) // the session key is taken at index 12
	if in.FirstKnownIndex() != 12 {
		t.Fatalf("first known %d", in.FirstKnownIndex())
	}
	for _, m := range msgs {
		before, _ := in.PickleLibolm(nil)
		if _, _, err := in.Decrypt(m); !errors.Is(err, megolm.ErrUnknownMessageIndex) {
			t.Fatalf("old message: %v", err)
		}
		after, _ := in.PickleLibolm(nil)
		if before != after {
			t.Fatal("state changed")
		}
	}
	if _, err := in.ExportAt(11); !errors.Is(err, megolm.ErrUnknownMessageIndex) {
		t.Fatalf("export before first: %v", err)
	}
}

// TestFailedDecryptLeavesStateUnchanged flips every byte of a message and
// checks the session's pickle after each failure.
func TestFailedDecryptLeavesStateUnchanged(t *testing.T) {
	out := newSession(t)
	in := inbound(t, out)
	out.SetIndex(1000)
	m, _ := out.Encrypt([]byte("hello world"))
	before, _ := in.PickleLibolm(nil)
	for i := range m {
		for _, x := range []byte{1, 0x80} {
			bad := bytes.Clone(m)
			bad[i] ^= x
			if _, _, err := in.Decrypt(bad); err == nil {
				t.Fatalf("flipped byte %d decrypted", i)
			}
			if after, _ := in.PickleLibolm(nil); after != before {
				t.Fatalf("flipped byte %d changed the session", i)
			}
		}
	}
	// The signature is checked before the MAC: a flipped MAC byte is a
	// signature failure.
	bad := bytes.Clone(m)
	bad[len(bad)-64-1] ^= 1
	if _, _, err := in.Decrypt(bad); !errors.Is(err, megolm.ErrBadSignature) {
		t.Fatalf("flipped MAC: %v", err)
	}
	if _, _, err := in.Decrypt(m); err != nil {
		t.Fatal(err)
	}
	if in.LatestIndex() != 1000 {
		t.Fatal("latest ratchet not cached after success")
	}
}

func TestExportImportCompareMerge(t *testing.T) {
	out := newSession(t)
	full := inbound(t, out)
	var msgs [][]byte
	for i := range 20 {
		m, _ := out.Encrypt([]byte(fmt.Sprint(i)))
		msgs = append(msgs, m)
	}
	e, err := full.ExportAt(10)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := megolm.ParseExportedSessionKey(e.Encode())
	if err != nil {
		t.Fatal(err)
	}
	late, err := megolm.ImportInboundGroupSession(parsed)
	if err != nil {
		t.Fatal(err)
	}
	if late.SignatureChecked() || late.FirstKnownIndex() != 10 || late.SessionID() != full.SessionID() {
		t.Fatal("imported session fields")
	}
	if _, _, err := late.Decrypt(msgs[9]); !errors.Is(err, megolm.ErrUnknownMessageIndex) {
		t.Fatal(err)
	}
	if pt, _, err := late.Decrypt(msgs[15]); err != nil || string(pt) != "15" {
		t.Fatal(err)
	}
	if !late.SignatureChecked() {
		t.Fatal("not verified after a decrypt")
	}
	if got := full.Compare(late); got != megolm.Better {
		t.Fatalf("full vs late: %v", got)
	}
	if got := late.Compare(full); got != megolm.Worse {
		t.Fatalf("late vs full: %v", got)
	}
	if got := full.Compare(full); got != megolm.Equal {
		t.Fatalf("full vs full: %v", got)
	}
	merged := late.Merge(full)
	if merged == nil || merged.FirstKnownIndex() != 0 || !merged.SignatureChecked() {
		t.Fatal("merge")
	}
	if pt, _, err := merged.Decrypt(msgs[0]); err != nil || string(pt) != "0" {
		t.Fatal(err)
	}

	// Same signing key, different ratchet: unconnected.
	raw := e.Bytes()
	raw[10] ^= 1
	forged, _ := megolm.NewExportedSessionKey(raw)
	fs, _ := megolm.ImportInboundGroupSession(forged)
	if full.Connected(fs) || full.Compare(fs) != megolm.Unconnected || full.Merge(fs) != nil {
		t.Fatal("forged ratchet counted as connected")
	}
	other := inbound(t, newSession(t))
	if full.Compare(other) != megolm.Unconnected {
		t.Fatal("other session connected")
	}

	// AdvanceTo forgets earlier states for good.
	if !full.AdvanceTo(5) || full.FirstKnownIndex() != 5 {
		t.Fatal("advance")
	}
	if full.AdvanceTo(3) {
		t.Fatal("advance backwards")
	}
	if _, _, err := full.Decrypt(msgs[4]); !errors.Is(err, megolm.ErrUnknownMessageIndex) {
		t.Fatal("message before the advanced index decrypted")
	}
	p, _ := full.Pickle(testKey)
	restored, _ := megolm.UnpickleInboundGroupSession(p, testKey)
	if _, _, err := restored.Decrypt(msgs[4]); !errors.Is(err, megolm.ErrUnknownMessageIndex) {
		t.Fatal("pickle kept the earlier state")
	}
}

func TestSessionKeyErrors(t *testing.T) {
	out := newSession(t)
	good := out.SessionKey().Bytes()
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, megolm.ErrBadSessionKey},
		{"short", good[:228], megolm.ErrBadSessionKey},
		{"long", append(bytes.Clone(good), 0), megolm.ErrBadSessionKey},
		{"version 1", append([]byte{1}, good[1:]...), megolm.ErrBadSessionKey},
		{"bad signature", append(bytes.Clone(good[:228]), good[228]^1), megolm.ErrBadSignature},
		{"changed ratchet", append(append(bytes.Clone(good[:20]), good[20]^1), good[21:]...), megolm.ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := megolm.NewSessionKey(tt.b); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
	if _, err := megolm.ParseSessionKey("not base64!"); !errors.Is(err, megolm.ErrBadSessionKey) {
		t.Fatal(err)
	}
	if _, err := megolm.ParseSessionKey(strings.Repeat("A", 100000)); !errors.Is(err, megolm.ErrBadSessionKey) {
		t.Fatal(err)
	}
	if _, err := megolm.ParseExportedSessionKey(out.SessionKey().Encode()); !errors.Is(err, megolm.ErrBadSessionKey) {
		t.Fatal("session key read as export")
	}
	// Padded base64 is accepted.
	if _, err := megolm.ParseSessionKey(base64.StdEncoding.EncodeToString(good)); err != nil {
		t.Fatal(err)
	}
}

func TestMessageErrors(t *testing.T) {
	out := newSession(t)
	in := inbound(t, out)
	m, _ := out.Encrypt([]byte("x"))
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, megolm.ErrBadMessageFormat},
		{"version 2", append([]byte{2}, m[1:]...), megolm.ErrBadMessageVersion},
		{"too short", m[:60], megolm.ErrBadMessageFormat},
		{"too large", make([]byte, megolm.MaxMessageSize+1), megolm.ErrMessageTooLarge},
		{"no index", append([]byte{3}, m[3:]...), megolm.ErrBadMessageFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := in.Decrypt(tt.b); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestPickles(t *testing.T) {
	out := newSession(t)
	in := inbound(t, out)
	out.Encrypt([]byte("a"))
	m, _ := out.Encrypt([]byte("b"))
	in.Decrypt(m)

	checkOut := func(t *testing.T, o *megolm.GroupSession) {
		if o.SessionID() != out.SessionID() || o.MessageIndex() != out.MessageIndex() || o.SessionKey().Encode() != out.SessionKey().Encode() {
			t.Fatal("outbound differs")
		}
		m, _ := o.Encrypt([]byte("after"))
		if pt, _, err := in.Decrypt(m); err != nil || string(pt) != "after" {
			t.Fatal(err)
		}
	}
	checkIn := func(t *testing.T, i *megolm.InboundGroupSession) {
		if i.SessionID() != in.SessionID() || i.FirstKnownIndex() != in.FirstKnownIndex() || i.SignatureChecked() != in.SignatureChecked() {
			t.Fatal("inbound differs")
		}
		if pt, _, err := i.Decrypt(m); err != nil || string(pt) != "b" {
			t.Fatal(err)
		}
	}
	t.Run("souverain", func(t *testing.T) {
		po, _ := out.Pickle(testKey)
		pi, _ := in.Pickle(testKey)
		o, err := megolm.UnpickleGroupSession(po, testKey)
		if err != nil {
			t.Fatal(err)
		}
		i, err := megolm.UnpickleInboundGroupSession(pi, testKey)
		if err != nil {
			t.Fatal(err)
		}
		checkIn(t, i)
		checkOut(t, o)
		if _, err := megolm.UnpickleInboundGroupSession(po, testKey); !errors.Is(err, megolm.ErrBadPickleKey) {
			t.Fatal("outbound pickle read as inbound")
		}
	})
	t.Run("libolm", func(t *testing.T) {
		po, _ := out.PickleLibolm([]byte("k"))
		pi, _ := in.PickleLibolm([]byte("k"))
		o, err := megolm.UnpickleLibolmGroupSession(po, []byte("k"))
		if err != nil {
			t.Fatal(err)
		}
		i, err := megolm.UnpickleLibolmInboundGroupSession(pi, []byte("k"))
		if err != nil {
			t.Fatal(err)
		}
		checkIn(t, i)
		checkOut(t, o)
		if _, err := megolm.UnpickleLibolmInboundGroupSession(pi, []byte("other")); !errors.Is(err, megolm.ErrBadPickleKey) {
			t.Fatal(err)
		}
		if _, err := megolm.UnpickleLibolmGroupSession(pi, []byte("k")); !errors.Is(err, megolm.ErrUnknownPickleVersion) {
			t.Fatalf("inbound pickle read as outbound: %v", err)
		}
	})
}

func TestSecretsNeverPrinted(t *testing.T) {
	out := newSession(t)
	in := inbound(t, out)
	key := out.SessionKey()
	exp := in.Export()
	secrets := []string{key.Encode()[10:40], exp.Encode()[10:40]}
	for _, v := range []any{out, *out, in, *in, key, *key, exp, *exp} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q"} {
			s := fmt.Sprintf(verb, v)
			for _, secret := range secrets {
				if strings.Contains(s, secret) {
					t.Fatalf("%s of %T prints the key", verb, v)
				}
			}
			if !strings.Contains(s, "megolm.") {
				t.Fatalf("%s of %T: %q", verb, v, s)
			}
		}
	}
}

func TestRatchetJumpDoesNotAllocate(t *testing.T) {
	// Jumps from 0 to 2^24 and to 2^32-2 take hundreds of hash steps;
	// none of them may allocate.
	for _, target := range []uint32{1 << 24, 1<<32 - 2} {
		if n := testing.AllocsPerRun(5, func() { megolm.JumpRatchet(target) }); n != 0 {
			t.Fatalf("jump to %d allocated %v times", target, n)
		}
	}
}

func TestEncryptRefusesOversizedMessage(t *testing.T) {
	s := newSession(t)
	in := inbound(t, s)
	big := make([]byte, megolm.MaxMessageSize)
	if _, err := s.Encrypt(big); !errors.Is(err, megolm.ErrMessageTooLarge) {
		t.Fatalf("oversized: %v", err)
	}
	if s.MessageIndex() != 0 {
		t.Fatal("refused encrypt moved the ratchet")
	}
	// The largest accepted plaintext makes a message the receiver takes.
	n := megolm.MaxMessageSize - 100
	for {
		if _, err := s.Encrypt(make([]byte, n+16)); err != nil {
			break
		}
		n += 16
	}
	m, err := s.Encrypt(make([]byte, n))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := in.Decrypt(m); err != nil {
		t.Fatalf("largest message refused by the receiver: %v", err)
	}
}

func TestEncryptDecryptAllocations(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts differ under the race detector")
	}
	s := newSession(t)
	in := inbound(t, s)
	pt := make([]byte, 1024)
	var m []byte
	if n := testing.AllocsPerRun(50, func() { m, _ = s.Encrypt(pt) }); n > 3 {
		t.Errorf("Encrypt allocates %v times, want at most 3", n)
	}
	if n := testing.AllocsPerRun(50, func() { in.Decrypt(m) }); n > 3 {
		t.Errorf("Decrypt allocates %v times, want at most 3", n)
	}
}

// TestSigningKeyDecodedOnce: the signing key is checked and decoded on the
// first Decrypt and kept for the next ones; a session whose signing key is
// of small order or non-canonical refuses every message, as before.
func TestSigningKeyDecodedOnce(t *testing.T) {
	out := newSession(t)
	in := inbound(t, out)
	if in.Verifier() != nil {
		t.Fatal("verifying key made before the first message")
	}
	m0, _ := out.Encrypt([]byte("a"))
	m1, _ := out.Encrypt([]byte("b"))
	in.Decrypt(m0)
	v := in.Verifier()
	if v == nil {
		t.Fatal("no verifying key after a message")
	}
	if _, _, err := in.Decrypt(m1); err != nil || in.Verifier() != v {
		t.Fatalf("verifying key not kept: %v", err)
	}
	exp := in.Export().Bytes()
	for _, bad := range []string{
		"0100000000000000000000000000000000000000000000000000000000000000", // identity
		"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", // order 8
		"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // identity, y = p+1
		"ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", // not canonical
	} {
		raw := bytes.Clone(exp)
		b, _ := hex.DecodeString(bad)
		copy(raw[len(raw)-32:], b)
		k, err := megolm.NewExportedSessionKey(raw)
		if err != nil {
			t.Fatal(err)
		}
		s, _ := megolm.ImportInboundGroupSession(k)
		for range 2 {
			if _, _, err := s.Decrypt(m1); !errors.Is(err, megolm.ErrBadSignature) {
				t.Fatalf("signing key %s: %v", bad, err)
			}
		}
	}
}
