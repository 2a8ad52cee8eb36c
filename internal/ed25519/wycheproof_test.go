package ed25519_test

import (
	"errors"
	"testing"

	"github.com/souverain/e2ee/internal/ed25519"
	"github.com/souverain/e2ee/internal/wycheproof"
)

// ed25519Stricter lists the Wycheproof vectors that Wycheproof calls valid
// and Verify refuses, each with the reason (SECURITY 5: Verify refuses
// non-canonical and small-order public keys and R, which RFC 8032 and
// Wycheproof accept). With the file at the commit in testdata/README.md the
// list is empty: ed25519_test.json has no small-order or non-canonical public
// key and no small-order R among its valid vectors; those cases are tested by
// TestVerifySmallOrderPublicKey, TestVerifySmallOrderR and
// TestVerifyNonCanonicalPublicKey. A newer file that adds such vectors makes
// TestWycheproof fail until each is listed here with its reason.
var ed25519Stricter = map[int]string{}

// TestWycheproof runs every vector of ed25519_test.json through Verify: a
// valid vector verifies, unless listed in ed25519Stricter; an invalid one is
// refused with ErrBadSignature (every public key in the file is a usable
// key, so ErrInvalidKey would be wrong).
func TestWycheproof(t *testing.T) {
	vectors, err := wycheproof.Ed25519()
	if err != nil {
		t.Fatal(err)
	}
	var ran, valid, invalid, stricter int
	for _, v := range vectors {
		err := ed25519.Verify(v.PublicKey, v.Msg, v.Sig)
		reason, isStricter := ed25519Stricter[v.ID]
		switch {
		case isStricter:
			if v.Result != wycheproof.Valid {
				t.Errorf("tcId %d: listed as stricter (%s) but Wycheproof says %s", v.ID, reason, v.Result)
			}
			if err == nil {
				t.Errorf("tcId %d (%s): verified; want refused because %s", v.ID, v.Comment, reason)
			}
			stricter++
		case v.Result == wycheproof.Valid:
			if err != nil {
				t.Errorf("tcId %d (%s %v): %v; want valid (list it in ed25519Stricter with a reason if refusing is intended)", v.ID, v.Comment, v.Flags, err)
			}
			valid++
		case v.Result == wycheproof.Invalid:
			if !errors.Is(err, ed25519.ErrBadSignature) {
				t.Errorf("tcId %d (%s %v): %v; want ErrBadSignature", v.ID, v.Comment, v.Flags, err)
			}
			invalid++
		default:
			t.Errorf("tcId %d: result %q has no rule", v.ID, v.Result)
		}
		ran++
	}
	for id := range ed25519Stricter {
		found := false
		for _, v := range vectors {
			found = found || v.ID == id
		}
		if !found {
			t.Errorf("ed25519Stricter lists tcId %d, which the file does not have", id)
		}
	}
	if ran != len(vectors) || valid+invalid+stricter != ran {
		t.Errorf("ran %d of %d vectors (%d valid, %d invalid, %d stricter)", ran, len(vectors), valid, invalid, stricter)
	}
	t.Logf("ed25519: %d Wycheproof vectors run: %d valid accepted, %d invalid refused, %d valid refused by the stricter rules", ran, valid, invalid, stricter)
}
