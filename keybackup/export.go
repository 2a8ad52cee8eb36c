package keybackup

import (
	"bytes"
	"crypto/aes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/souverain/e2ee/internal/b64"
)

// Key export files (Matrix specification, "Key exports"): the room keys of
// a device, encrypted with a passphrase, as Element writes and reads them.
//
// The file is ExportHeader, a line break, the base64 of the body, a line
// break and ExportFooter. The body is
//
//	version (1 byte: 1)
//	salt S (16 bytes)
//	IV (16 bytes)
//	rounds N (4 bytes, big-endian)
//	ciphertext: AES-256-CTR of the JSON list of ExportedSession
//	HMAC-SHA-256 of everything before it (32 bytes)
//
// with K ‖ K′ = PBKDF2-HMAC-SHA-512(passphrase, S, N, 64 bytes), K the AES
// key and K′ the HMAC key.
const (
	// ExportHeader is the first line of a key export file.
	ExportHeader = "-----BEGIN MEGOLM SESSION DATA-----"
	// ExportFooter is the last line of a key export file.
	ExportFooter = "-----END MEGOLM SESSION DATA-----"
	// ExportVersion is the only format version.
	ExportVersion = 1

	exportSaltSize   = 16
	exportIVSize     = 16
	exportHeaderSize = 1 + exportSaltSize + exportIVSize + 4
	exportMACSize    = 32
	// exportMinSize is the smallest body: the header and the MAC around an
	// empty ciphertext.
	exportMinSize = exportHeaderSize + exportMACSize
	// exportLineLength is the length of the base64 lines written, as
	// Element writes them (72 bytes per line).
	exportLineLength = 96
)

// EncryptKeyExport writes a key export file of sessions, encrypted with
// passphrase and MinPBKDF2Iterations rounds of PBKDF2. Errors wrap
// ErrBadFormat if a session lacks a field an import needs.
func EncryptKeyExport(sessions []ExportedSession, passphrase string) ([]byte, error) {
	return EncryptKeyExportRounds(sessions, passphrase, MinPBKDF2Iterations)
}

// EncryptKeyExportRounds is EncryptKeyExport with the given number of
// PBKDF2 rounds, at least MinPBKDF2Iterations (else the error wraps
// ErrIterations).
func EncryptKeyExportRounds(sessions []ExportedSession, passphrase string, rounds int) ([]byte, error) {
	if _, err := checkCreateIterations(rounds); err != nil || rounds == 0 {
		return nil, fmt.Errorf("keybackup: key export: %d rounds: %w", rounds, ErrIterations)
	}
	return encryptKeyExport(sessions, passphrase, rounds)
}

func encryptKeyExport(sessions []ExportedSession, passphrase string, rounds int) ([]byte, error) {
	pt, err := MarshalKeyExport(sessions)
	if err != nil {
		return nil, err
	}
	defer clear(pt)
	return encryptExportData(pt, passphrase, rounds, randomExportParams())
}

// exportParams are the random values of one export.
type exportParams struct {
	salt [exportSaltSize]byte
	iv   [exportIVSize]byte
}

func randomExportParams() exportParams {
	var p exportParams
	rand.Read(p.salt[:]) // never fails (Go 1.24+)
	p.iv = randomIV()
	return p
}

// EncryptKeyExportData encrypts any plaintext in the key export format,
// with the given number of PBKDF2 rounds (at least MinPBKDF2Iterations,
// else the error wraps ErrIterations). EncryptKeyExport uses it for the
// JSON of the sessions.
func EncryptKeyExportData(plaintext []byte, passphrase string, rounds int) ([]byte, error) {
	if _, err := checkCreateIterations(rounds); err != nil || rounds == 0 {
		return nil, fmt.Errorf("keybackup: key export: %d rounds: %w", rounds, ErrIterations)
	}
	return encryptExportData(plaintext, passphrase, rounds, randomExportParams())
}

func encryptExportData(plaintext []byte, passphrase string, rounds int, p exportParams) ([]byte, error) {
	aesKey, macKey, err := exportKeys(passphrase, p.salt[:], rounds)
	if err != nil {
		return nil, err
	}
	defer clear(aesKey)
	defer clear(macKey)

	body := make([]byte, exportHeaderSize, exportHeaderSize+len(plaintext)+exportMACSize)
	body[0] = ExportVersion
	copy(body[1:], p.salt[:])
	copy(body[1+exportSaltSize:], p.iv[:])
	binary.BigEndian.PutUint32(body[1+exportSaltSize+exportIVSize:], uint32(rounds))
	body = body[:exportHeaderSize+len(plaintext)]
	block, _ := aes.NewCipher(aesKey) // 32-byte key: no error
	xorCTR64(block, p.iv, body[exportHeaderSize:], plaintext)
	h := hmac.New(sha256.New, macKey)
	h.Write(body)
	body = h.Sum(body)

	enc := b64.Encode(body) // unpadded; padding added below, as Element writes it
	if n := len(enc) % 4; n != 0 {
		enc += strings.Repeat("=", 4-n)
	}
	var out bytes.Buffer
	out.Grow(len(ExportHeader) + len(enc) + len(enc)/exportLineLength + len(ExportFooter) + 3)
	out.WriteString(ExportHeader)
	out.WriteByte('\n')
	for len(enc) > 0 {
		n := min(exportLineLength, len(enc))
		out.WriteString(enc[:n])
		out.WriteByte('\n')
		enc = enc[n:]
	}
	out.WriteString(ExportFooter)
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// exportKeys derives the AES and HMAC keys of an export file, after
// checking the round count against MaxPBKDF2Iterations.
func exportKeys(passphrase string, salt []byte, rounds int) (aesKey, macKey []byte, err error) {
	k, err := pbkdf2SHA512(passphrase, salt, rounds, 64)
	if err != nil {
		return nil, nil, err // already says "keybackup:"
	}
	return k[:32], k[32:], nil
}

// DecryptKeyExport reads a key export file encrypted with passphrase and
// returns its sessions, in file order. Errors wrap ErrBadFormat (framing,
// base64, length, the JSON inside, or a session lacking room_id,
// session_id, sender_key or session_key), ErrUnsupportedAlgorithm (a format
// version other than 1, or a session of another algorithm), ErrIterations
// (a round count above MaxPBKDF2Iterations, refused before any work) or
// ErrWrongPassphrase (the MAC fails: a wrong passphrase, or a changed or
// truncated file). The MAC is checked, in constant time, before anything is
// decrypted.
func DecryptKeyExport(file []byte, passphrase string) ([]ExportedSession, error) {
	pt, err := DecryptKeyExportData(file, passphrase)
	if err != nil {
		return nil, err
	}
	defer clear(pt)
	var sessions []ExportedSession
	if err := json.Unmarshal(pt, &sessions); err != nil {
		return nil, fmt.Errorf("keybackup: key export: sessions: %w: %v", ErrBadFormat, err)
	}
	for i := range sessions {
		if err := sessions[i].validate(); err != nil {
			return nil, fmt.Errorf("keybackup: key export: session %d: %w", i, err)
		}
	}
	return sessions, nil
}

// DecryptKeyExportData reads a key export file and returns the plaintext,
// without interpreting it. Errors are those of DecryptKeyExport for the
// file itself.
func DecryptKeyExportData(file []byte, passphrase string) ([]byte, error) {
	body, err := unarmorExport(file)
	if err != nil {
		return nil, err
	}
	if len(body) < exportMinSize {
		return nil, fmt.Errorf("keybackup: key export: body of %d bytes: %w", len(body), ErrBadFormat)
	}
	if body[0] != ExportVersion {
		return nil, fmt.Errorf("keybackup: key export: version %d: %w", body[0], ErrUnsupportedAlgorithm)
	}
	salt := body[1 : 1+exportSaltSize]
	iv := [exportIVSize]byte(body[1+exportSaltSize : 1+exportSaltSize+exportIVSize])
	rounds := binary.BigEndian.Uint32(body[1+exportSaltSize+exportIVSize:])
	if rounds == 0 || rounds > uint32(maxIterations) {
		return nil, fmt.Errorf("keybackup: key export: %d rounds (limit %d): %w", rounds, maxIterations, ErrIterations)
	}
	aesKey, macKey, err := exportKeys(passphrase, salt, int(rounds))
	if err != nil {
		return nil, err
	}
	defer clear(aesKey)
	defer clear(macKey)

	signed, mac := body[:len(body)-exportMACSize], body[len(body)-exportMACSize:]
	h := hmac.New(sha256.New, macKey)
	h.Write(signed)
	if !hmac.Equal(h.Sum(nil), mac) {
		return nil, fmt.Errorf("keybackup: key export: %w", ErrWrongPassphrase)
	}
	ct := signed[exportHeaderSize:]
	pt := make([]byte, len(ct))
	block, _ := aes.NewCipher(aesKey)
	xorCTR64(block, iv, pt, ct)
	return pt, nil
}

// unarmorExport finds the header and footer lines and decodes the base64
// between them. Blank lines and whitespace around the lines are allowed,
// and so are CR LF line ends and unpadded base64; nothing else may precede
// the header or follow the footer.
func unarmorExport(file []byte) ([]byte, error) {
	lines := strings.Split(strings.ReplaceAll(string(file), "\r\n", "\n"), "\n")
	start := -1
	for i, l := range lines {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		if l != ExportHeader {
			return nil, fmt.Errorf("keybackup: key export: header line not found: %w", ErrBadFormat)
		}
		start = i + 1
		break
	}
	if start < 0 {
		return nil, fmt.Errorf("keybackup: key export: header line not found: %w", ErrBadFormat)
	}
	var enc strings.Builder
	end := -1
	for i := start; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		if l == ExportFooter {
			end = i
			break
		}
		enc.WriteString(l)
	}
	if end < 0 {
		return nil, fmt.Errorf("keybackup: key export: footer line not found: %w", ErrBadFormat)
	}
	for _, l := range lines[end+1:] {
		if strings.TrimSpace(l) != "" {
			return nil, fmt.Errorf("keybackup: key export: data after the footer: %w", ErrBadFormat)
		}
	}
	body, err := b64.Decode(enc.String())
	if err != nil {
		return nil, fmt.Errorf("keybackup: key export: base64: %w", ErrBadFormat)
	}
	return body, nil
}
