package libolm

/*
#include <stdlib.h>
#include <olm/olm.h>
#include <olm/pk.h>
*/
import "C"

// PkSigningSeedLength returns the size of a seed for [PkSign] (32 in
// libolm 3.2.13: an Ed25519 seed, as cross-signing keys are stored).
func PkSigningSeedLength() int { return int(C.olm_pk_signing_seed_length()) }

// PkSign signs message with libolm's olm_pk_sign, the signing object that
// libolm-based clients use for cross-signing keys, built from seed by
// olm_pk_signing_key_from_seed. It returns the public key and the
// signature in unpadded base64.
func PkSign(seed, message []byte) (publicKey, signature string, err error) {
	mem := C.malloc(C.olm_pk_signing_size())
	s := C.olm_pk_signing(mem)
	defer func() {
		C.olm_clear_pk_signing(s)
		C.free(mem)
	}()
	fail := func(op string) error {
		return &Error{Op: op, Code: C.GoString(C.olm_pk_signing_last_error(s))}
	}
	sd := cCopy(seed)
	defer sd.free()
	pub := newCBuf(int(C.olm_pk_signing_public_key_length()))
	defer pub.free()
	if isErr(C.olm_pk_signing_key_from_seed(s, pub.p, pub.size(), sd.p, sd.size())) {
		return "", "", fail("pk signing key from seed")
	}
	msg := cCopy(message)
	defer msg.free()
	sig := newCBuf(int(C.olm_pk_signature_length()))
	defer sig.free()
	r := C.olm_pk_sign(s, (*C.uint8_t)(msg.p), msg.size(), (*C.uint8_t)(sig.p), sig.size())
	if isErr(r) {
		return "", "", fail("pk sign")
	}
	return string(pub.bytes(pub.n)), string(sig.bytes(int(r))), nil
}
