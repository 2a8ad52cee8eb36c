package libolm_test

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/souverain/e2ee/interop/libolm"
)

func newGroupOut(t *testing.T, label string) (*libolm.OutboundGroupSession, []byte) {
	t.Helper()
	random := detRandom(label, libolm.OutboundGroupSessionRandomLength())
	s, err := libolm.NewOutboundGroupSession(random)
	if err != nil {
		t.Fatalf("NewOutboundGroupSession: %v", err)
	}
	t.Cleanup(s.Free)
	return s, random
}

func groupSessionKey(t *testing.T, s *libolm.OutboundGroupSession) string {
	t.Helper()
	k, err := s.SessionKey()
	if err != nil {
		t.Fatalf("SessionKey: %v", err)
	}
	return k
}

func newGroupIn(t *testing.T, sessionKey string) *libolm.InboundGroupSession {
	t.Helper()
	s, err := libolm.NewInboundGroupSession(sessionKey)
	if err != nil {
		t.Fatalf("NewInboundGroupSession: %v", err)
	}
	t.Cleanup(s.Free)
	return s
}

func importGroupIn(t *testing.T, exported string) *libolm.InboundGroupSession {
	t.Helper()
	s, err := libolm.ImportInboundGroupSession(exported)
	if err != nil {
		t.Fatalf("ImportInboundGroupSession: %v", err)
	}
	t.Cleanup(s.Free)
	return s
}

func groupEncrypt(t *testing.T, s *libolm.OutboundGroupSession, pt string) string {
	t.Helper()
	m, err := s.Encrypt([]byte(pt))
	if err != nil {
		t.Fatalf("Encrypt(%q): %v", pt, err)
	}
	return m
}

func groupExport(t *testing.T, s *libolm.InboundGroupSession, index uint32) string {
	t.Helper()
	k, err := s.Export(index)
	if err != nil {
		t.Fatalf("Export(%d): %v", index, err)
	}
	return k
}

func mustDecodeBase64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := libolm.DecodeBase64(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// groupHash is Megolm's H_i(A) = HMAC-SHA-256(A, i).
func groupHash(a []byte, i byte) []byte {
	m := hmac.New(sha256.New, a)
	m.Write([]byte{i})
	return m.Sum(nil)
}

func TestGroupRandomLength(t *testing.T) {
	if got := libolm.OutboundGroupSessionRandomLength(); got != 160 {
		t.Errorf("OutboundGroupSessionRandomLength = %d, want 160", got)
	}
	if _, err := libolm.NewOutboundGroupSession(make([]byte, 159)); !errors.Is(err, libolm.ErrNotEnoughRandom) {
		t.Errorf("NewOutboundGroupSession(159 bytes) error = %v, want NOT_ENOUGH_RANDOM", err)
	}
}

// TestGroupKnownAnswer checks the session ID, the session key and the first
// message against the Megolm specification computed with Go's standard
// library from the same random bytes: ratchet = random[:128], signing key
// seed = random[128:160].
func TestGroupKnownAnswer(t *testing.T) {
	random := detRandom("group/kat", 160)
	orig := bytes.Clone(random)
	s, err := libolm.NewOutboundGroupSession(random)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Free()
	if !bytes.Equal(random, orig) {
		t.Error("NewOutboundGroupSession modified the caller's random bytes")
	}
	priv := ed25519.NewKeyFromSeed(random[128:])
	pub := priv.Public().(ed25519.PublicKey)

	id, err := s.SessionID()
	if err != nil || id != libolm.EncodeBase64(pub) {
		t.Errorf("SessionID = %q, %v; want %q", id, err, libolm.EncodeBase64(pub))
	}
	if got := s.MessageIndex(); got != 0 {
		t.Errorf("MessageIndex = %d, want 0", got)
	}

	// Session key: 2 ‖ index ‖ ratchet ‖ public key ‖ signature.
	key := mustDecodeBase64(t, groupSessionKey(t, s))
	want := append([]byte{2, 0, 0, 0, 0}, random[:128]...)
	want = append(want, pub...)
	want = append(want, ed25519.Sign(priv, want)...)
	if !bytes.Equal(key, want) {
		t.Errorf("SessionKey =\n%x\nwant\n%x", key, want)
	}

	// Message 0: 3 ‖ 08 00 ‖ 12 len ciphertext ‖ MAC(8) ‖ signature(64).
	const plaintext = "a Megolm known answer"
	msg := mustDecodeBase64(t, groupEncrypt(t, s, plaintext))
	n := len(msg)
	if !ed25519.Verify(pub, msg[:n-64], msg[n-64:]) {
		t.Fatal("message signature does not verify with crypto/ed25519")
	}
	okm, err := hkdf.Key(sha256.New, random[:128], nil, "MEGOLM_KEYS", 80)
	if err != nil {
		t.Fatal(err)
	}
	aesKey, macKey, iv := okm[:32], okm[32:64], okm[64:]
	mac := hmac.New(sha256.New, macKey)
	mac.Write(msg[:n-72])
	if !bytes.Equal(mac.Sum(nil)[:8], msg[n-72:n-64]) {
		t.Error("message MAC differs from HMAC-SHA-256 truncated to 8 bytes")
	}
	padded := []byte(plaintext)
	pad := 16 - len(padded)%16
	padded = append(padded, bytes.Repeat([]byte{byte(pad)}, pad)...)
	block, _ := aes.NewCipher(aesKey)
	ct := make([]byte, len(padded))
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(ct, padded)
	wantMsg := append([]byte{3, 0x08, 0x00, 0x12, byte(len(ct))}, ct...)
	if !bytes.Equal(msg[:n-72], wantMsg) {
		t.Errorf("message body =\n%x\nwant\n%x", msg[:n-72], wantMsg)
	}

	// After one message only R3 moves: R3' = H_3(R3).
	if got := s.MessageIndex(); got != 1 {
		t.Errorf("MessageIndex after Encrypt = %d, want 1", got)
	}
	key = mustDecodeBase64(t, groupSessionKey(t, s))
	if got := binary.BigEndian.Uint32(key[1:5]); got != 1 {
		t.Errorf("SessionKey index = %d, want 1", got)
	}
	wantRatchet := append(bytes.Clone(random[:96]), groupHash(random[96:128], 3)...)
	if !bytes.Equal(key[5:133], wantRatchet) {
		t.Errorf("ratchet at index 1 =\n%x\nwant\n%x", key[5:133], wantRatchet)
	}
}

func TestGroupRoundTrip(t *testing.T) {
	out, _ := newGroupOut(t, "group/roundtrip")
	outID, err := out.SessionID()
	if err != nil {
		t.Fatal(err)
	}
	in := newGroupIn(t, groupSessionKey(t, out))
	if id, err := in.SessionID(); err != nil || id != outID {
		t.Errorf("inbound SessionID = %q, %v; want %q", id, err, outID)
	}
	if !in.IsVerified() || in.FirstKnownIndex() != 0 {
		t.Errorf("IsVerified, FirstKnownIndex = %v, %d; want true, 0", in.IsVerified(), in.FirstKnownIndex())
	}
	var msgs []string
	for i := range 6 {
		msgs = append(msgs, groupEncrypt(t, out, fmt.Sprint("message ", i)))
	}
	msgs = append(msgs, groupEncrypt(t, out, "")) // index 6, empty
	for _, i := range []int{3, 0, 6, 5, 1, 2, 4, 3} {
		pt, idx, err := in.Decrypt(msgs[i])
		want := fmt.Sprint("message ", i)
		if i == 6 {
			want = ""
		}
		if err != nil || string(pt) != want || idx != uint32(i) {
			t.Errorf("Decrypt(message %d) = %q, %d, %v", i, pt, idx, err)
		}
	}

	// An export at 3 gives an unverified session that starts there.
	imp := importGroupIn(t, groupExport(t, in, 3))
	if imp.IsVerified() || imp.FirstKnownIndex() != 3 {
		t.Errorf("imported IsVerified, FirstKnownIndex = %v, %d; want false, 3", imp.IsVerified(), imp.FirstKnownIndex())
	}
	if id, _ := imp.SessionID(); id != outID {
		t.Errorf("imported SessionID = %q, want %q", id, outID)
	}
	if _, _, err := imp.Decrypt(msgs[2]); !errors.Is(err, libolm.ErrUnknownMessageIndex) {
		t.Errorf("Decrypt(message 2) on export at 3 error = %v, want UNKNOWN_MESSAGE_INDEX", err)
	}
	if _, err := imp.Export(2); !errors.Is(err, libolm.ErrUnknownMessageIndex) {
		t.Errorf("Export(2) on export at 3 error = %v, want UNKNOWN_MESSAGE_INDEX", err)
	}
	if pt, idx, err := imp.Decrypt(msgs[4]); err != nil || string(pt) != "message 4" || idx != 4 {
		t.Errorf("Decrypt(message 4) on export at 3 = %q, %d, %v", pt, idx, err)
	}
	if !imp.IsVerified() {
		t.Error("imported session not verified after a decrypt")
	}
	// Exports at the same index agree, whatever session made them.
	if a, b := groupExport(t, in, 5), groupExport(t, imp, 5); a != b {
		t.Errorf("exports at 5 differ:\n%s\n%s", a, b)
	}
	raw := mustDecodeBase64(t, groupExport(t, in, 0x01020304))
	if len(raw) != 165 || raw[0] != 1 || binary.BigEndian.Uint32(raw[1:5]) != 0x01020304 {
		t.Errorf("export header = %x, want 01 01020304 (165 bytes)", raw[:5])
	}
}

func TestGroupErrors(t *testing.T) {
	out, _ := newGroupOut(t, "group/errors")
	key := groupSessionKey(t, out)
	in := newGroupIn(t, key)
	export := groupExport(t, in, 0)
	msg := groupEncrypt(t, out, "hello")

	flip := func(s string, i int) string {
		b := mustDecodeBase64(t, s)
		if i < 0 {
			i += len(b)
		}
		b[i] ^= 1
		return libolm.EncodeBase64(b)
	}
	keyTests := []struct {
		name string
		key  string
		imp  bool
		want error
	}{
		{"init/base64", "AAAAA", false, libolm.ErrInvalidBase64},
		{"init/short", key[:len(key)-4], false, libolm.ErrBadSessionKey},
		{"init/export", export, false, libolm.ErrBadSessionKey},
		{"init/version", flip(key, 0), false, libolm.ErrBadSessionKey},
		{"init/signature", flip(key, -1), false, libolm.ErrBadSignature},
		{"init/ratchet", flip(key, 40), false, libolm.ErrBadSignature},
		{"import/base64", "AAAAA", true, libolm.ErrInvalidBase64},
		{"import/session key", key, true, libolm.ErrBadSessionKey},
		{"import/version", flip(export, 0), true, libolm.ErrBadSessionKey},
	}
	for _, tt := range keyTests {
		var err error
		if tt.imp {
			_, err = libolm.ImportInboundGroupSession(tt.key)
		} else {
			_, err = libolm.NewInboundGroupSession(tt.key)
		}
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: error = %v, want %v", tt.name, err, tt.want)
		}
	}

	msgTests := []struct {
		name, msg string
		want      error
	}{
		{"base64", "AAAAA", libolm.ErrInvalidBase64},
		{"empty", "", libolm.ErrBadMessageVersion},
		{"version", flip(msg, 0), libolm.ErrBadMessageVersion},
		{"index", flip(msg, 2), libolm.ErrBadSignature},
		{"ciphertext", flip(msg, 6), libolm.ErrBadSignature},
		{"mac", flip(msg, -70), libolm.ErrBadSignature},
		{"signature", flip(msg, -1), libolm.ErrBadSignature},
	}
	for _, tt := range msgTests {
		if _, _, err := in.Decrypt(tt.msg); !errors.Is(err, tt.want) {
			t.Errorf("Decrypt(%s) error = %v, want %v", tt.name, err, tt.want)
		}
	}
	// The error carries the operation and libolm's code.
	_, _, err := in.Decrypt(flip(msg, -1))
	var le *libolm.Error
	if !errors.As(err, &le) || le.Op != "group decrypt" || le.Code != "BAD_SIGNATURE" {
		t.Errorf("error = %#v, want Op %q Code %q", err, "group decrypt", "BAD_SIGNATURE")
	}
	if pt, _, err := in.Decrypt(msg); err != nil || string(pt) != "hello" {
		t.Errorf("Decrypt after failures = %q, %v", pt, err)
	}
}

func TestGroupPickle(t *testing.T) {
	keys := []struct {
		name string
		key  []byte
	}{
		{"nil", nil},
		{"empty", []byte{}},
		{"1 byte", []byte("k")},
		{"32 bytes", bytes.Repeat([]byte{7}, 32)},
		{"100 bytes", detRandom("group/pickle key", 100)},
	}
	for _, tk := range keys {
		key := tk.key
		t.Run(tk.name, func(t *testing.T) {
			out, _ := newGroupOut(t, "group/pickle")
			in := newGroupIn(t, groupSessionKey(t, out))
			var msgs []string
			for i := range 3 {
				msgs = append(msgs, groupEncrypt(t, out, fmt.Sprint("m", i)))
			}
			if _, _, err := in.Decrypt(msgs[1]); err != nil {
				t.Fatal(err)
			}

			p, err := out.Pickle(key)
			if err != nil {
				t.Fatal(err)
			}
			if p2, _ := out.Pickle(key); p2 != p {
				t.Error("two pickles of the same outbound session differ")
			}
			out2, err := libolm.UnpickleOutboundGroupSession(p, key)
			if err != nil {
				t.Fatalf("UnpickleOutboundGroupSession: %v", err)
			}
			defer out2.Free()
			id, _ := out.SessionID()
			if id2, _ := out2.SessionID(); id2 != id || out2.MessageIndex() != 3 {
				t.Errorf("unpickled outbound = %s at %d, want %s at 3", id2, out2.MessageIndex(), id)
			}
			if a, b := groupSessionKey(t, out), groupSessionKey(t, out2); a != b {
				t.Error("session keys differ after unpickling")
			}
			// Encryption is deterministic, so both copies produce the same
			// next message.
			if a, b := groupEncrypt(t, out, "next"), groupEncrypt(t, out2, "next"); a != b {
				t.Errorf("next messages differ:\n%s\n%s", a, b)
			}

			imp := importGroupIn(t, groupExport(t, in, 1))
			for _, s := range []*libolm.InboundGroupSession{in, imp} {
				p, err := s.Pickle(key)
				if err != nil {
					t.Fatal(err)
				}
				s2, err := libolm.UnpickleInboundGroupSession(p, key)
				if err != nil {
					t.Fatalf("UnpickleInboundGroupSession: %v", err)
				}
				defer s2.Free()
				if s2.IsVerified() != s.IsVerified() || s2.FirstKnownIndex() != s.FirstKnownIndex() {
					t.Errorf("unpickled verified, first index = %v, %d; want %v, %d",
						s2.IsVerified(), s2.FirstKnownIndex(), s.IsVerified(), s.FirstKnownIndex())
				}
				if id2, _ := s2.SessionID(); id2 != id {
					t.Errorf("unpickled inbound SessionID = %s, want %s", id2, id)
				}
				if pt, idx, err := s2.Decrypt(msgs[2]); err != nil || string(pt) != "m2" || idx != 2 {
					t.Errorf("Decrypt after unpickle = %q, %d, %v", pt, idx, err)
				}
			}

			wrong := append(bytes.Clone(key), 'x')
			if _, err := libolm.UnpickleOutboundGroupSession(p, wrong); !errors.Is(err, libolm.ErrBadAccountKey) {
				t.Errorf("UnpickleOutboundGroupSession(wrong key) error = %v, want BAD_ACCOUNT_KEY", err)
			}
			ip, _ := in.Pickle(key)
			if _, err := libolm.UnpickleInboundGroupSession(ip, wrong); !errors.Is(err, libolm.ErrBadAccountKey) {
				t.Errorf("UnpickleInboundGroupSession(wrong key) error = %v, want BAD_ACCOUNT_KEY", err)
			}
			if _, err := libolm.UnpickleOutboundGroupSession(ip, key); !errors.Is(err, libolm.ErrUnknownPickleVersion) {
				t.Errorf("UnpickleOutboundGroupSession(inbound pickle) error = %v, want UNKNOWN_PICKLE_VERSION", err)
			}
			if _, err := libolm.UnpickleInboundGroupSession(p, key); !errors.Is(err, libolm.ErrCorruptedPickle) {
				t.Errorf("UnpickleInboundGroupSession(outbound pickle) error = %v, want CORRUPTED_PICKLE", err)
			}
			if _, err := libolm.UnpickleInboundGroupSession(strings.Repeat("A", 5), key); !errors.Is(err, libolm.ErrInvalidBase64) {
				t.Errorf("UnpickleInboundGroupSession(bad base64) error = %v, want INVALID_BASE64", err)
			}
		})
	}
}

// TestGroupDeterministic checks that the same random bytes give the same
// session, session key and messages.
func TestGroupDeterministic(t *testing.T) {
	run := func() []string {
		s, _ := newGroupOut(t, "group/det")
		out := []string{groupSessionKey(t, s)}
		for i := range 3 {
			out = append(out, groupEncrypt(t, s, fmt.Sprint(i)))
		}
		return out
	}
	a, b := run(), run()
	for i := range a {
		if a[i] != b[i] {
			t.Errorf("output %d differs between runs", i)
		}
	}
	if c, _ := newGroupOut(t, "group/other"); groupSessionKey(t, c) == a[0] {
		t.Error("different random bytes gave the same session key")
	}
}

func TestGroupFree(t *testing.T) {
	out, err := libolm.NewOutboundGroupSessionRand()
	if err != nil {
		t.Fatal(err)
	}
	key := groupSessionKey(t, out)
	in, err := libolm.NewInboundGroupSession(key)
	if err != nil {
		t.Fatal(err)
	}
	out.Free()
	out.Free()
	in.Free()
	in.Free()
	errTests := []struct {
		name string
		err  error
	}{
		{"Encrypt", func() error { _, err := out.Encrypt(nil); return err }()},
		{"SessionID", func() error { _, err := out.SessionID(); return err }()},
		{"SessionKey", func() error { _, err := out.SessionKey(); return err }()},
		{"Pickle", func() error { _, err := out.Pickle(nil); return err }()},
		{"Decrypt", func() error { _, _, err := in.Decrypt("AAAA"); return err }()},
		{"inbound SessionID", func() error { _, err := in.SessionID(); return err }()},
		{"Export", func() error { _, err := in.Export(0); return err }()},
		{"inbound Pickle", func() error { _, err := in.Pickle(nil); return err }()},
	}
	for _, tt := range errTests {
		if !errors.Is(tt.err, libolm.ErrFreed) {
			t.Errorf("%s after Free error = %v, want ErrFreed", tt.name, tt.err)
		}
	}
	panics := map[string]func(){
		"MessageIndex":    func() { out.MessageIndex() },
		"FirstKnownIndex": func() { in.FirstKnownIndex() },
		"IsVerified":      func() { in.IsVerified() },
	}
	for name, f := range panics {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s after Free did not panic", name)
				}
			}()
			f()
		}()
	}
	var nilOut *libolm.OutboundGroupSession
	var nilIn *libolm.InboundGroupSession
	nilOut.Free() // no panic
	nilIn.Free()
}
