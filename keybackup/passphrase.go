package keybackup

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha512"
	"fmt"
)

// Passphrase key derivation (Matrix specification, "Deriving keys from
// passphrases"; also the key export format).
const (
	// PBKDF2Algorithm is the passphrase algorithm of secret storage keys:
	// PBKDF2 with HMAC-SHA-512.
	PBKDF2Algorithm = "m.pbkdf2"
	// MinPBKDF2Iterations is the least iteration count this package uses
	// when it creates a key from a passphrase, as matrix-rust-sdk does.
	MinPBKDF2Iterations = 500_000
	// MaxPBKDF2Iterations is the largest iteration count this package
	// accepts from input. Counts come from account data or export files,
	// which an attacker may write: 10^6, twice the 500,000 Element writes,
	// bounds one attempt to about 0.6 s (10^7 took 6 s). SECURITY
	// requirement 48.
	MaxPBKDF2Iterations = 1_000_000
)

// maxIterations is MaxPBKDF2Iterations, lowered by the fuzz tests so that
// hostile counts cost milliseconds.
var maxIterations = MaxPBKDF2Iterations

// Passphrase describes how a secret storage key is derived from a
// passphrase: the "passphrase" object of a key description. It is public.
type Passphrase struct {
	// Algorithm is PBKDF2Algorithm.
	Algorithm string `json:"algorithm"`
	// Salt is used as the bytes of the string; it is not decoded.
	Salt string `json:"salt"`
	// Iterations is the PBKDF2 iteration count.
	Iterations int `json:"iterations"`
	// Bits is the key length in bits; 0 (absent) means 256, the only
	// length accepted.
	Bits int `json:"bits,omitempty"`
}

// DeriveKey returns the 32-byte key that PBKDF2-HMAC-SHA-512 derives from
// passphrase with p's salt and iteration count. The iteration count is
// checked before any work. Errors wrap ErrUnsupportedAlgorithm, ErrIterations
// or ErrBadFormat (a bit length other than 256).
func (p *Passphrase) DeriveKey(passphrase string) ([]byte, error) {
	if p == nil {
		return nil, fmt.Errorf("keybackup: passphrase: %w", ErrNil)
	}
	if p.Algorithm != PBKDF2Algorithm {
		return nil, fmt.Errorf("keybackup: passphrase algorithm %q: %w", p.Algorithm, ErrUnsupportedAlgorithm)
	}
	if p.Bits != 0 && p.Bits != 8*KeySize {
		return nil, fmt.Errorf("keybackup: passphrase key of %d bits: %w", p.Bits, ErrBadFormat)
	}
	return pbkdf2SHA512(passphrase, []byte(p.Salt), p.Iterations, KeySize)
}

// pbkdf2SHA512 checks the iteration count against the input limit and
// derives n bytes.
func pbkdf2SHA512(passphrase string, salt []byte, iterations, n int) ([]byte, error) {
	if iterations < 1 || iterations > maxIterations {
		return nil, fmt.Errorf("keybackup: %d PBKDF2 iterations (limit %d): %w", iterations, maxIterations, ErrIterations)
	}
	key, err := pbkdf2.Key(sha512.New, passphrase, salt, iterations, n)
	if err != nil { // only for lengths and counts checked above
		return nil, fmt.Errorf("keybackup: PBKDF2: %w: %v", ErrBadFormat, err)
	}
	return key, nil
}

// newPassphrase returns a passphrase description with a fresh random salt
// of 32 letters and digits, as Element makes them.
func newPassphrase(iterations int) *Passphrase {
	return &Passphrase{Algorithm: PBKDF2Algorithm, Salt: randomString(32), Iterations: iterations}
}

// checkCreateIterations refuses counts below MinPBKDF2Iterations for new
// keys; 0 selects MinPBKDF2Iterations.
func checkCreateIterations(iterations int) (int, error) {
	if iterations == 0 {
		return MinPBKDF2Iterations, nil
	}
	if iterations < MinPBKDF2Iterations || iterations > MaxPBKDF2Iterations {
		return 0, fmt.Errorf("keybackup: create with %d PBKDF2 iterations (need %d to %d): %w",
			iterations, MinPBKDF2Iterations, MaxPBKDF2Iterations, ErrIterations)
	}
	return iterations, nil
}

const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// randomString returns n random letters and digits from crypto/rand, for
// salts and key IDs (both public).
func randomString(n int) string {
	out := make([]byte, 0, n)
	var buf [64]byte
	for len(out) < n {
		rand.Read(buf[:]) // never fails (Go 1.24+)
		for _, b := range buf {
			// 248 = 4·62: rejecting larger bytes keeps the choice uniform.
			if b < 248 && len(out) < n {
				out = append(out, alnum[b%62])
			}
		}
	}
	return string(out)
}
