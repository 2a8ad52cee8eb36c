// Package olm implements Olm, the double ratchet that Matrix uses to encrypt
// to-device messages (m.olm.v1.curve25519-aes-sha2), byte-compatible with
// libolm 3.2.13: the same wire formats, the same session IDs and signatures,
// and libolm's pickle formats for accounts and sessions.
//
// An Account holds a device's identity keys and its one-time and fallback
// keys. To send to another device, claim one of its one-time keys and call
// Account.NewOutboundSession (after checking its signature with
// VerifySignedKey); the first messages are PreKeyMessages, which the other
// device turns into a Session with Account.NewInboundSession, once per
// message: a replay is refused with ErrPreKeyReplay. Both ends then call
// Session.Encrypt and Session.Decrypt. Messages travel in m.room.encrypted
// events as "type" (Message.Type) and "body" (Message.Body, read back with
// ParseMessageBody); their plaintexts are made with NewPayload and checked
// with ParsePayload.
//
// Decryption is all or nothing: a message that fails to decrypt leaves the
// session exactly as it was, and an inbound session, with the one-time key
// it consumes, exists only once its first message has decrypted. Hostile
// input is refused with errors that wrap this package's sentinels, and limits
// (MaxMessageSize, MaxMessageGap, MaxSkippedMessageKeys, MaxReceiverChains,
// MaxOneTimeKeys) bound the work and memory any message can cost.
//
// Randomness comes from crypto/rand. Values holding secrets (Account,
// Session) print only public information with fmt, are safe for concurrent
// use, and have a Close method that wipes their keys. Zero values, nil
// arguments and use after Close give errors wrapping ErrNil and ErrClosed.
//
// Specification: https://spec.matrix.org/latest/olm-megolm/olm/ and the
// "End-to-End Encryption" module of the client-server API.
package olm
