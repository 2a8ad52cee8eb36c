// Package megolm implements Megolm, the group ratchet that encrypts Matrix
// room messages (m.megolm.v1.aes-sha2), byte-compatible with libolm 3.2.13:
// the same message format, session keys, exports, session IDs and pickles.
//
// A sender creates a GroupSession, shares its SessionKey with every device in
// the room over Olm (an m.room_key event), and encrypts each room message
// with GroupSession.Encrypt. Each receiver turns the key into an
// InboundGroupSession and decrypts; keys forwarded by other devices, restored
// from backup or read from export files arrive as ExportedSessionKeys and
// are imported with ImportInboundGroupSessionFrom, which records their
// Provenance. A session's provenance says what its origin proves about the
// sender and never rises; SignatureChecked (libolm's "verified" flag) only
// ties the ratchet to the session's signing key.
//
// Sessions are safe for concurrent use: a GroupSession shared by several
// goroutines hands out each message index once. Close wipes a session's or
// key's secrets; afterwards its methods fail with ErrClosed. Zero and nil
// values give errors wrapping ErrNil.
//
// The ratchet reaches any index in a bounded number of hash steps (at most
// 1030, whatever the distance), so a message at index 2^31 costs no more than
// one at index 300. Decryption is all or nothing: the signature is checked
// first, then the MAC, and a failure leaves the session unchanged. An
// inbound session checks and decodes its signing key once, and from its
// second message on verifies signatures with precomputed multiples of it,
// in about half the time of crypto/ed25519.
//
// Specification: https://spec.matrix.org/latest/olm-megolm/megolm/
package megolm
