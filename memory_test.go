//go:build linux

package e2ee_test

import (
	"bufio"
	"bytes"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"github.com/souverain/e2ee/internal/pickle"
	"github.com/souverain/e2ee/internal/wipe"
	"github.com/souverain/e2ee/keybackup"
	"github.com/souverain/e2ee/megolm"
	"github.com/souverain/e2ee/olm"
	"github.com/souverain/e2ee/sas"
)

// A closer is one row of TestCloseWipesMemory: a type with Close. open
// creates a value and returns it with a copy of the secret it holds (the
// test masks and wipes that copy at once, so that the only plain copies left
// are the library's), a use function that exercises the value so that its
// methods make whatever temporaries they make, and a close function that
// calls Close. The test keeps the value reachable until after the last
// search: memory the garbage collector frees is not cleared, but it may be
// reused, so only a reachable value shows for sure whether Close wiped it.
//
// knownLeak, when set, starts with "FIX:" and says where copies are known to
// remain after Close: the test then logs them instead of failing, and fails
// once none remain, so that the marker goes away with the fix.
type closer struct {
	name      string
	open      func(t *testing.T) (value any, secret []byte, use func(), close func())
	knownLeak string
}

// closers lists every type that holds a secret and has Close. Add one row
// per type as Close lands on it (megolm.GroupSession,
// megolm.InboundGroupSession, ...).
var closers = []closer{
	{name: "olm.Account", open: func(t *testing.T) (any, []byte, func(), func()) {
		// Creating an account makes the fresh test goroutine's stack grow;
		// the runtime copies the stack and frees the old one without
		// clearing it, so that whatever lay there (in about half the runs,
		// one copy of the private key) stays until the memory is reused.
		// That copy is the runtime's to clear (runtime/secret does, under
		// wipe.Do); growing the stack first keeps this row on the
		// library's own copies.
		growStack(64)
		a, err := olm.NewAccount()
		if err != nil {
			t.Fatal(err)
		}
		if err := a.GenerateOneTimeKeys(2); err != nil {
			t.Fatal(err)
		}
		// The Curve25519 identity private key, read from the account's
		// libolm pickle: bytes 132 to 164 of the body.
		body := libolmBody(t, a.PickleLibolm)
		secret := bytes.Clone(body[4+32+64+32 : 4+32+64+32+32])
		clear(body)
		peer, _ := olm.NewAccount()
		use := func() {
			_ = a.Sign([]byte("memory test"))
			if _, err := a.NewOutboundSession(peer.Curve25519Key(), peer.Curve25519Key()); err != nil {
				t.Fatal(err)
			}
			if _, err := a.Pickle(make([]byte, 32)); err != nil {
				t.Fatal(err)
			}
		}
		return a, secret, use, func() { a.Close() }
	}},
	{name: "olm.Session", open: func(t *testing.T) (any, []byte, func(), func()) {
		alice, _ := olm.NewAccount()
		bob, _ := olm.NewAccount()
		bob.GenerateFallbackKey()
		_, fb, _ := bob.UnpublishedFallbackKey()
		s, err := alice.NewOutboundSession(bob.Curve25519Key(), fb)
		if err != nil {
			t.Fatal(err)
		}
		// The root key, read from the session's libolm pickle: bytes 101
		// to 133 of the body. Encrypting on the sender chain leaves it as
		// it is.
		body := libolmBody(t, s.PickleLibolm)
		secret := bytes.Clone(body[4+1+3*32 : 4+1+3*32+32])
		clear(body)
		use := func() {
			// (Bob's session would hold the same root key: the test
			// stays on Alice's side.)
			if _, err := s.Encrypt([]byte("memory test")); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Pickle(make([]byte, 32)); err != nil {
				t.Fatal(err)
			}
		}
		return s, secret, use, func() { s.Close() }
	}},
	{name: "keybackup.BackupKey", open: func(t *testing.T) (any, []byte, func(), func()) {
		k, err := keybackup.GenerateBackupKey()
		if err != nil {
			t.Fatal(err)
		}
		use := func() {
			d, err := k.PublicKey().Encrypt([]byte(`{"session_key":"x"}`))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := k.Decrypt(d); err != nil {
				t.Fatal(err)
			}
		}
		return k, k.Bytes(), use, k.Close
	}},
	{name: "keybackup.SecretStorageKey", open: func(t *testing.T) (any, []byte, func(), func()) {
		k, err := keybackup.GenerateSecretStorageKey("memory test")
		if err != nil {
			t.Fatal(err)
		}
		use := func() {
			es, err := k.Encrypt("m.cross_signing.master", []byte("c2VjcmV0"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := k.Decrypt("m.cross_signing.master", es); err != nil {
				t.Fatal(err)
			}
		}
		return k, k.Bytes(), use, k.Close
	}},
	{name: "megolm.GroupSession", open: func(t *testing.T) (any, []byte, func(), func()) {
		s, secret := megolmSessionWithRatchet(t)
		use := func() {
			if _, err := s.Encrypt([]byte("memory test")); err != nil {
				t.Fatal(err)
			}
		}
		return s, secret, use, func() { s.Close() }
	}},
	{name: "sas.EstablishedSAS", open: func(t *testing.T) (any, []byte, func(), func()) {
		s, err := sas.New()
		if err != nil {
			t.Fatal(err)
		}
		// The other side, played by crypto/ecdh, computes the shared
		// secret the EstablishedSAS will hold.
		peer, err := ecdh.X25519().GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		theirs, err := ecdh.X25519().NewPublicKey(s.PublicKey().Bytes())
		if err != nil {
			t.Fatal(err)
		}
		secret, err := peer.ECDH(theirs)
		if err != nil {
			t.Fatal(err)
		}
		pub, err := sas.NewPublicKey(peer.PublicKey().Bytes())
		if err != nil {
			t.Fatal(err)
		}
		e, err := s.Establish(pub)
		if err != nil {
			t.Fatal(err)
		}
		use := func() { _ = e.ShortAuthString("MATRIX_KEY_VERIFICATION_SAS|memory test") }
		return e, secret, use, e.Close
	}},
}

// growStack grows the calling goroutine's stack by about n KiB.
//
//go:noinline
func growStack(n int) byte {
	var b [1024]byte
	b[n%len(b)] = byte(n)
	if n == 0 {
		return b[0]
	}
	return growStack(n-1) + b[3]
}

// libolmBody returns the body of a libolm pickle made by pickleLibolm.
func libolmBody(t *testing.T, pickleLibolm func([]byte) (string, error)) []byte {
	t.Helper()
	key := []byte("memory test")
	text, err := pickleLibolm(key)
	if err != nil {
		t.Fatal(err)
	}
	body, err := pickle.DecryptLibolm(key, text)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// megolmSessionWithRatchet returns an outbound Megolm session whose ratchet
// is R0 = a random secret, R1 = R2 = R3 = 0, and that secret. It is made
// from a libolm pickle whose ratchet the test rewrites, so that the secret
// never goes through GroupSession.SessionKey, whose signature hashes the
// ratchet with crypto/sha512 and leaves part of it in a freed buffer.
func megolmSessionWithRatchet(t *testing.T) (*megolm.GroupSession, []byte) {
	t.Helper()
	s, err := megolm.NewGroupSession()
	if err != nil {
		t.Fatal(err)
	}
	key := []byte("memory test")
	p, err := s.PickleLibolm(key)
	s.Close()
	if err != nil {
		t.Fatal(err)
	}
	body, err := pickle.DecryptLibolm(key, p)
	if err != nil {
		t.Fatal(err)
	}
	// version (4) ‖ ratchet (128) ‖ counter (4) ‖ public key ‖ private key
	secret := make([]byte, 32)
	rand.Read(secret)
	copy(body[4:36], secret)
	clear(body[36:132])
	p = pickle.EncryptLibolm(key, body)
	clear(body)
	s, err = megolm.UnpickleLibolmGroupSession(p, key)
	if err != nil {
		t.Fatal(err)
	}
	return s, secret
}

// TestCloseWipesMemory searches the process's writable memory (the Go heap,
// every goroutine stack, the rest of the anonymous and data mappings) for
// each secret: it must be found while the value is open, which shows the
// search sees it, and not anywhere after Close and two garbage collections.
// The test holds the secret only XORed with a random mask, so that it never
// finds its own copy; its read buffer is mapped outside the Go heap and
// skipped by the search.
func TestCloseWipesMemory(t *testing.T) {
	if _, err := os.Stat("/proc/self/mem"); err != nil {
		t.Skip("no /proc/self/mem:", err)
	}
	s, err := newScanner()
	if err != nil {
		t.Skip("cannot map a scan buffer:", err)
	}
	defer s.close()
	for _, c := range closers {
		t.Run(c.name, func(t *testing.T) {
			value, secret, use, closeIt := c.open(t)
			if len(secret) < 16 {
				t.Fatalf("secret of %d bytes is too short to search for", len(secret))
			}
			mask := make([]byte, len(secret))
			rand.Read(mask)
			masked := make([]byte, len(secret))
			for i := range secret {
				masked[i] = secret[i] ^ mask[i]
			}
			clear(secret)
			use()
			runtime.GC()

			before, err := s.count(masked, mask)
			if err != nil {
				t.Skip("cannot read /proc/self/mem:", err)
			}
			if before == 0 {
				t.Fatal("the open value's secret is not found: the search cannot see it")
			}
			closeIt()
			runtime.GC()
			runtime.GC()
			after, err := s.count(masked, mask)
			if err != nil {
				t.Fatal(err)
			}
			runtime.KeepAlive(value)
			t.Logf("copies of the secret: %d while open, %d after Close and GC", before, after)
			switch {
			case after != 0 && c.knownLeak != "":
				t.Logf("known leak, to fix: %s", c.knownLeak)
			case after != 0:
				t.Errorf("%d copies of the secret remain in memory after Close and GC", after)
			case c.knownLeak != "":
				t.Errorf("no copy remains: the known leak is fixed; remove knownLeak from the row")
			}
		})
	}
}

// scanner reads the process's memory through /proc/self/mem into a buffer
// mapped outside the Go heap.
type scanner struct {
	mem *os.File
	buf []byte
}

const scanChunk = 1 << 20

func newScanner() (*scanner, error) {
	mem, err := os.Open("/proc/self/mem")
	if err != nil {
		return nil, err
	}
	buf, err := syscall.Mmap(-1, 0, scanChunk, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		mem.Close()
		return nil, err
	}
	return &scanner{mem: mem, buf: buf}, nil
}

func (s *scanner) close() {
	s.mem.Close()
	syscall.Munmap(s.buf)
}

type region struct{ start, end uint64 }

// maxRegion bounds the size of a mapping worth reading: the Go heap grows in
// 64 MiB arenas, while the race detector reserves terabytes.
const maxRegion = 16 << 30

// regions returns the readable and writable mappings, except the kernel's
// and the scanner's own buffer.
func (s *scanner) regions() ([]region, error) {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	self := uint64(uintptr(unsafe.Pointer(&s.buf[0])))
	var out []region
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 || !strings.HasPrefix(fields[1], "rw") {
			continue
		}
		if len(fields) >= 6 && strings.HasPrefix(fields[5], "[v") { // [vvar], [vdso], [vsyscall]
			continue
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		if !ok {
			return nil, fmt.Errorf("maps line %q", sc.Text())
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("maps line %q", sc.Text())
		}
		if start <= self && self < end {
			// Skip the buffer, keep the rest of its mapping.
			if start < self {
				out = append(out, region{start, self})
			}
			if self+scanChunk < end {
				out = append(out, region{self + scanChunk, end})
			}
			continue
		}
		if end-start > maxRegion {
			continue // address space reserved, not heap: the race detector's shadow
		}
		out = append(out, region{start, end})
	}
	return out, sc.Err()
}

// count returns how many times masked XOR mask occurs in memory.
func (s *scanner) count(masked, mask []byte) (int, error) {
	defer clear(s.buf)
	rs, err := s.regions()
	if err != nil {
		return 0, err
	}
	first := masked[0] ^ mask[0]
	n := len(masked)
	found := 0
	for _, r := range rs {
		for off := r.start; off < r.end; {
			size := min(uint64(scanChunk), r.end-off)
			got, err := s.mem.ReadAt(s.buf[:size], int64(off))
			if got == 0 && err != nil {
				break // unreadable (guard or reserved pages)
			}
			chunk := s.buf[:got]
			for i := 0; ; {
				j := bytes.IndexByte(chunk[i:], first)
				if j < 0 {
					break
				}
				i += j
				if i+n > len(chunk) {
					break
				}
				match := true
				for k := 1; k < n; k++ {
					if chunk[i+k]^mask[k] != masked[k] {
						match = false
						break
					}
				}
				if match {
					found++
				}
				i++
			}
			// The next chunk starts n-1 bytes back, so that no occurrence
			// is cut in two.
			if uint64(got) < size || off+size >= r.end {
				break
			}
			off += size - uint64(n-1)
		}
	}
	return found, nil
}

// TestWipeDo checks what internal/wipe.Do promises, with the same search:
// built with GOEXPERIMENT=runtimesecret, a key that crypto/hkdf copied into
// its heap temporaries inside Do is gone once they are unreachable and
// collected (without Do one copy stays: see the SecretStorageKey row).
// Without the experiment it only logs what remains. With
// SOUVERAIN_EXPECT_RUNTIMESECRET=1 (the CI step that builds with the
// experiment) it fails if the build lacks it, so that the step cannot pass
// on a toolchain that ignored the setting.
func TestWipeDo(t *testing.T) {
	if os.Getenv("SOUVERAIN_EXPECT_RUNTIMESECRET") == "1" && !wipe.Enabled {
		t.Fatal("SOUVERAIN_EXPECT_RUNTIMESECRET=1 but internal/wipe was built without GOEXPERIMENT=runtimesecret")
	}
	s, err := newScanner()
	if err != nil {
		t.Skip("cannot map a scan buffer:", err)
	}
	defer s.close()
	mask := make([]byte, 32)
	rand.Read(mask)
	masked := make([]byte, 32)
	var out []byte
	wipe.Do(func() {
		key := make([]byte, 32)
		rand.Read(key)
		for i := range key {
			masked[i] = key[i] ^ mask[i]
		}
		out, err = hkdf.Key(sha256.New, key, nil, "wipe.Do", 32)
		clear(key)
	})
	if err != nil || len(out) != 32 {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.GC()
	n, err := s.count(masked, mask)
	if err != nil {
		t.Skip("cannot read /proc/self/mem:", err)
	}
	t.Logf("runtime/secret: %v; copies of the key left by crypto/hkdf after wipe.Do and GC: %d", wipe.Enabled, n)
	if wipe.Enabled && n != 0 {
		t.Errorf("%d copies remain although wipe.Do ran f under runtime/secret", n)
	}
}
