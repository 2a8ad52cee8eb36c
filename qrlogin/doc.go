// Package qrlogin implements the secure channels and the QR code data of
// "log in with a QR code": the new device and an existing one show each
// other a QR code, open an encrypted channel through a rendezvous server,
// compare a two-digit check code, and the existing device hands over what
// the new one needs to sign in.
//
// Two channels are provided, byte-compatible with vodozemac (the Rust
// library behind Element):
//
//   - ECIES, from MSC4108 ("m.login.qr", reciprocal sign-in): X25519,
//     HKDF-SHA-512 and ChaCha20-Poly1305 with a counter nonce per
//     direction. [GenerateECIES], [ECIES.EstablishOutbound],
//     [ECIES.EstablishInbound], then [ECIESChannel].
//   - HPKE, from MSC4388, its successor: RFC 9180 base mode with
//     DHKEM(X25519, HKDF-SHA256), HKDF-SHA256 and ChaCha20-Poly1305, made
//     bidirectional the way RFC 9458 (Oblivious HTTP) encrypts responses.
//     [EstablishHPKESender], [GenerateHPKERecipient],
//     [HPKERecipient.Establish], [HPKERecipientChannel.Respond],
//     [HPKESenderChannel.Establish], then [HPKEChannel].
//
// In both, the device whose public key is in the QR code is the recipient
// (MSC4108 calls it device G); the device that scanned it opens the channel
// with an ephemeral key it sends in the first message (device S). That key
// is unauthenticated: the recipient cannot tell who is talking to it until
// the user compares the [CheckCode] both screens derive, so a client must
// not send anything secret before the check code is confirmed
// ([CheckCode.Verify]).
//
// Messages are accepted only in the order they were sent: each direction
// has its own counter in the nonce, so a replayed, reordered or dropped
// message fails authentication ([ErrBadMessageMAC]). A failed decryption
// changes nothing: the next genuine message still decrypts. (vodozemac
// burns its counter on a failed ECIES decryption, which leaves that channel
// unusable; the difference is visible only after a failure.)
//
// Every Parse function accepts only the canonical text form: unpadded
// base64 with zero trailing bits, so that decoding then encoding gives the
// same text (vodozemac also accepts padded base64).
//
// [QRCodeData] reads and writes the binary content of the QR code in both
// formats Element's stack speaks: MSC4108's ("MATRIX", version 0x02) and
// MSC4388's ("IO_ELEMENT_MSC4388", type 0x03).
//
// Specifications: https://github.com/matrix-org/matrix-spec-proposals/pull/4108,
// https://github.com/matrix-org/matrix-spec-proposals/pull/4388,
// https://www.rfc-editor.org/rfc/rfc9180, https://www.rfc-editor.org/rfc/rfc9458#section-4.4.
package qrlogin
