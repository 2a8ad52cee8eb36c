// Package sas implements Matrix device verification: the short
// authentication string (SAS) method m.sas.v1, byte-compatible with
// libolm's OlmSAS, the key verification framework around it, and
// verification by QR code (m.qr_code.show.v1, m.qr_code.scan.v1,
// m.reciprocate.v1).
//
// # Primitives
//
// New returns a SAS with an ephemeral X25519 key; Establish with the other
// side's key gives an EstablishedSAS (a key the all-zero shared secret
// would come from is refused). Its ShortAuthString, built from SASInfo,
// gives the 7 emojis (Emojis, from the specification's table) and the 3
// decimals users compare; MAC and VerifyMAC, with MACInfo and KeyIDList,
// compute and check the MACs of m.key.verification.mac in both methods,
// hkdf-hmac-sha256.v2 and the deprecated hkdf-hmac-sha256 with libolm's
// faulty base64. Commitment is the hash an accepting device commits to.
//
// # The flow
//
// A Machine runs the verifications of one device. It does no I/O: feed it
// every verification event received (Receive) and send the events it
// returns, to-device or in the room they name. Receive also returns the
// Verification the event belongs to, so a bot learns of a new request
// there (see the example of Machine.Receive). Received requests not yet
// accepted are capped per user (MaxPendingRequestsPerUser) and in all
// (MaxPendingRequests), and never keep this device from starting its own. A Verification goes from
// request to ready (Accept), to a method (StartSAS, or QRCode and
// ScanQRCode), through the key exchange, to the user's comparison
// (ShortAuthString, then Confirm or Mismatch), and ends done, with a
// Result naming exactly which keys were verified (the other device's
// Ed25519 key and/or a master cross-signing key, always this device's
// pinned copies), or cancelled with one of the specification's codes.
//
// The flow pins the other device's key and the user's cross-signing keys
// when the device becomes known, checks the commitment before showing the
// SAS, verifies the MAC of the key ID list before each key's MAC, refuses
// a user whose device IDs collide with their cross-signing keys
// (CVE-2022-39250), answers out-of-order, duplicate and unknown events
// with the specification's cancel codes (never answering a cancel), and
// cancels with m.timeout after Timeout; Machine.Tick drives the clock.
//
// Randomness comes from crypto/rand. Values holding secrets print only
// public information with fmt.
//
// Specification: https://spec.matrix.org/latest/client-server-api/#device-verification
package sas
