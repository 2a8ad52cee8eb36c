package libolm

/*
#include <stdlib.h>
#include <olm/olm.h>
#include <olm/sas.h>
*/
import "C"

import (
	"runtime"
	"unsafe"
)

// ErrSASTheirKeyNotSet is libolm's error for deriving from a SAS before
// olm_sas_set_their_key.
var ErrSASTheirKeyNotSet = &Error{Code: "OLM_SAS_THEIR_KEY_NOT_SET"}

// SAS is a libolm OlmSAS: an ephemeral Curve25519 key pair and, once the
// other side's key is set, the shared secret of a short authentication
// string verification. It owns C memory; call Free when done. libolm does
// not refuse low-order keys here: the all-zero secret is accepted.
type SAS struct {
	ptr     *C.OlmSAS
	cleanup runtime.Cleanup
}

func freeSAS(p *C.OlmSAS) {
	live.Add(-1)
	C.olm_clear_sas(p)
	C.free(unsafe.Pointer(p))
}

// SASRandomLength returns the number of random bytes [NewSAS] needs (32:
// the private key, which libolm clamps).
func SASRandomLength() int {
	s := allocSAS()
	defer s.Free()
	return int(C.olm_create_sas_random_length(s.ptr))
}

func allocSAS() *SAS {
	p := C.olm_sas(C.malloc(C.olm_sas_size()))
	live.Add(1)
	s := &SAS{ptr: p}
	s.cleanup = runtime.AddCleanup(s, freeSAS, p)
	return s
}

// NewSAS creates a SAS with olm_create_sas from random, which must hold at
// least [SASRandomLength] bytes (else the error matches
// [ErrNotEnoughRandom]). The same random gives the same key.
func NewSAS(random []byte) (*SAS, error) {
	s := allocSAS()
	r := cCopy(random)
	defer r.free()
	if isErr(C.olm_create_sas(s.ptr, r.p, r.size())) {
		err := s.err("create sas")
		s.Free()
		return nil, err
	}
	return s, nil
}

// NewSASRand is [NewSAS] with random bytes from crypto/rand.
func NewSASRand() (*SAS, error) {
	random := readRandom(SASRandomLength())
	defer wipe(random)
	return NewSAS(random)
}

// Free wipes and releases the SAS's C memory; it is idempotent. Methods
// called afterwards return [ErrFreed].
func (s *SAS) Free() {
	if s == nil || s.ptr == nil {
		return
	}
	s.cleanup.Stop()
	freeSAS(s.ptr)
	s.ptr = nil
}

func (s *SAS) err(op string) error {
	return &Error{Op: op, Code: C.GoString(C.olm_sas_last_error(s.ptr))}
}

// PublicKey returns the ephemeral public key in unpadded base64, from
// olm_sas_get_pubkey.
func (s *SAS) PublicKey() (string, error) {
	if s.ptr == nil {
		return "", ErrFreed
	}
	defer runtime.KeepAlive(s)
	n := int(C.olm_sas_pubkey_length(s.ptr))
	o := newCBuf(n)
	defer o.free()
	if isErr(C.olm_sas_get_pubkey(s.ptr, o.p, o.size())) {
		return "", s.err("get pubkey")
	}
	return string(o.bytes(n)), nil
}

// SetTheirKey sets the other side's public key (unpadded base64, 43
// characters) with olm_sas_set_their_key, which computes the shared
// secret.
func (s *SAS) SetTheirKey(key string) error {
	if s.ptr == nil {
		return ErrFreed
	}
	defer runtime.KeepAlive(s)
	k := cCopyString(key) // decoded in place by libolm
	defer k.free()
	if isErr(C.olm_sas_set_their_key(s.ptr, k.p, k.size())) {
		return s.err("set their key")
	}
	return nil
}

// IsTheirKeySet reports olm_sas_is_their_key_set.
func (s *SAS) IsTheirKeySet() bool {
	s.mustLive()
	defer runtime.KeepAlive(s)
	return C.olm_sas_is_their_key_set(s.ptr) != 0
}

func (s *SAS) mustLive() {
	if s.ptr == nil {
		panic("libolm: SAS used after Free")
	}
}

// GenerateBytes returns n bytes from olm_sas_generate_bytes for info.
func (s *SAS) GenerateBytes(info string, n int) ([]byte, error) {
	if s.ptr == nil {
		return nil, ErrFreed
	}
	defer runtime.KeepAlive(s)
	in := cCopyString(info)
	defer in.free()
	o := newCBuf(n)
	defer o.free()
	if isErr(C.olm_sas_generate_bytes(s.ptr, in.p, in.size(), o.p, o.size())) {
		return nil, s.err("generate bytes")
	}
	return o.bytes(n), nil
}

type sasMACFunc func(*C.OlmSAS, unsafe.Pointer, C.size_t, unsafe.Pointer, C.size_t, unsafe.Pointer, C.size_t) C.size_t

func (s *SAS) mac(op string, f sasMACFunc, input, info string) (string, error) {
	if s.ptr == nil {
		return "", ErrFreed
	}
	defer runtime.KeepAlive(s)
	in := cCopyString(input)
	defer in.free()
	inf := cCopyString(info)
	defer inf.free()
	n := int(C.olm_sas_mac_length(s.ptr))
	o := newCBuf(n)
	defer o.free()
	if isErr(f(s.ptr, in.p, in.size(), inf.p, inf.size(), o.p, o.size())) {
		return "", s.err(op)
	}
	return string(o.bytes(n)), nil
}

// CalculateMAC returns olm_sas_calculate_mac: the MAC of the deprecated
// hkdf-hmac-sha256 method, in libolm's faulty base64.
func (s *SAS) CalculateMAC(input, info string) (string, error) {
	return s.mac("calculate mac", func(p *C.OlmSAS, a unsafe.Pointer, b C.size_t, c unsafe.Pointer, d C.size_t, e unsafe.Pointer, f C.size_t) C.size_t {
		return C.olm_sas_calculate_mac(p, a, b, c, d, e, f)
	}, input, info)
}

// CalculateMACFixedBase64 returns olm_sas_calculate_mac_fixed_base64: the
// MAC of hkdf-hmac-sha256.v2 in unpadded base64.
func (s *SAS) CalculateMACFixedBase64(input, info string) (string, error) {
	return s.mac("calculate mac fixed base64", func(p *C.OlmSAS, a unsafe.Pointer, b C.size_t, c unsafe.Pointer, d C.size_t, e unsafe.Pointer, f C.size_t) C.size_t {
		return C.olm_sas_calculate_mac_fixed_base64(p, a, b, c, d, e, f)
	}, input, info)
}

// CalculateMACLongKDF returns olm_sas_calculate_mac_long_kdf, the MAC "for
// an old version of Riot" that the specification does not define.
func (s *SAS) CalculateMACLongKDF(input, info string) (string, error) {
	return s.mac("calculate mac long kdf", func(p *C.OlmSAS, a unsafe.Pointer, b C.size_t, c unsafe.Pointer, d C.size_t, e unsafe.Pointer, f C.size_t) C.size_t {
		return C.olm_sas_calculate_mac_long_kdf(p, a, b, c, d, e, f)
	}, input, info)
}
