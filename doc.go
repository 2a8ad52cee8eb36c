// Package e2ee is the root of souverain, a pure-Go implementation of Matrix
// end-to-end encryption, byte-compatible with libolm 3.2.13.
//
// Most programs want machine, the end-to-end encryption engine that clients
// and bots embed (sans I/O: /sync in, HTTP requests out), with its stores
// machine/memstore and the conformance tests machine/storetest. The
// protocols it composes live in their own packages:
//
//   - olm: accounts (identity, one-time and fallback keys) and the Olm
//     double ratchet for to-device messages.
//   - megolm: the group ratchet for room messages: outbound and inbound
//     group sessions, session keys, exports and imports.
//   - sas: short authentication strings, the m.key.verification flow and
//     QR code verification.
//   - keybackup: server-side key backup, recovery keys, passphrases, secret
//     storage and key export files.
//   - signedjson: signing and verifying JSON objects as the specification's
//     appendix describes.
//   - crossign: cross-signing keys, their uploads, and the trust evaluation
//     of /keys/query responses.
//   - qrlogin: the secure channels of login with a QR code (MSC4108 ECIES,
//     MSC4388 HPKE), their check codes, and the QR code data.
//   - dehydrated: dehydrated devices (MSC3814) in the formats of Element's
//     crypto stack: creating one, its upload, rehydrating it and taking the
//     room keys it collected.
//   - vectors: the conformance vectors and the runner that checks an
//     implementation against them.
//
// The command souverain (cmd/souverain) runs the conformance suite. Code that
// needs cgo or another implementation (libolm) lives in separate modules
// (interop/), so that depending on this module pulls in nothing beyond the
// standard library, filippo.io/edwards25519 and, for qrlogin and dehydrated
// devices, golang.org/x/crypto/chacha20poly1305 (the tests also use
// github.com/stretchr/testify and github.com/google/go-cmp). HKDF, HMAC,
// AES, SHA-2, PBKDF2, X25519 and HPKE's key schedule come from the standard
// library, which has no public ChaCha20-Poly1305; MSC4108 and MSC4388 need
// it with explicit keys and nonces, and so do vodozemac's dehydrated devices.
//
// olm and megolm also read and write vodozemac's own pickles
// (UnpickleVodozemac…, ParseVodozemac…, PickleVodozemac, MarshalVodozemac),
// so that a store written by a vodozemac-based client (matrix-rust-sdk,
// Element) can move here, and back.
package e2ee
