package olm

import (
	"bytes"
	"testing"

	"github.com/souverain/e2ee/internal/pickle"
)

// TestOldOwnPicklesStillRead: souverain's own pickles written before the
// body versions ownAccountVersion and ownSessionVersion (libolm's layouts
// inside the AES-GCM envelope) still open.
func TestOldOwnPicklesStillRead(t *testing.T) {
	fx := newFuzzFixture(t)
	key := bytes.Repeat([]byte{3}, 32)
	text, err := pickle.Encrypt(key, kindAccount, fx.bob.st.marshal(MaxOneTimeKeys, false))
	if err != nil {
		t.Fatal(err)
	}
	a, err := UnpickleAccount(text, key)
	if err != nil {
		t.Fatalf("old own account pickle: %v", err)
	}
	if a.Curve25519Key() != fx.bob.Curve25519Key() || len(a.OneTimeKeys()) != len(fx.bob.OneTimeKeys()) {
		t.Fatal("old own account pickle read wrong")
	}
	w := &pickle.Writer{}
	w.U8(1)
	fx.aliceSession.st.marshal(w, false)
	text, err = pickle.Encrypt(key, kindSession, w.Buf)
	if err != nil {
		t.Fatal(err)
	}
	s, err := UnpickleSession(text, key)
	if err != nil {
		t.Fatalf("old own session pickle: %v", err)
	}
	if s.SessionID() != fx.aliceSession.SessionID() {
		t.Fatal("old own session pickle read wrong")
	}
	// The new versions are refused in libolm's format.
	if _, err := unmarshalSession(fx.aliceSession.marshalOwnForTest(), SessionConfigV1(), false); err == nil {
		t.Fatal("libolm reader took an own session body")
	}
	if _, err := unmarshalAccount(fx.bob.st.marshal(MaxOneTimeKeys, true), false); err == nil {
		t.Fatal("libolm reader took an own account body")
	}
}

func (s *Session) marshalOwnForTest() []byte {
	w := &pickle.Writer{}
	s.st.marshal(w, true)
	return w.Buf
}

// TestPickleBuffersSizedExactly: the marshal buffers never grow (a grown
// buffer leaves a partial copy of the keys in freed memory).
func TestPickleBuffersSizedExactly(t *testing.T) {
	fx := newFuzzFixture(t)
	for _, own := range []bool{false, true} {
		b := fx.bob.st.marshal(MaxOneTimeKeys, own)
		if len(b) != cap(b) {
			t.Errorf("account (own %v): %d bytes in a buffer of %d", own, len(b), cap(b))
		}
		for _, s := range []*Session{fx.aliceSession, fx.bobSess} {
			w := &pickle.Writer{Buf: make([]byte, 0, s.st.pickleSize(own))}
			s.st.marshal(w, own)
			if len(w.Buf) != cap(w.Buf) {
				t.Errorf("session (own %v): %d bytes, %d computed", own, len(w.Buf), cap(w.Buf))
			}
		}
	}
}
