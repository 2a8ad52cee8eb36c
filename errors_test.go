package e2ee_test

import (
	"errors"
	"testing"

	"github.com/souverain/e2ee/crossign"
	"github.com/souverain/e2ee/keybackup"
	"github.com/souverain/e2ee/megolm"
	"github.com/souverain/e2ee/olm"
	"github.com/souverain/e2ee/sas"
	"github.com/souverain/e2ee/signedjson"
)

// TestSharedSentinels checks that sentinels of the same name in different
// packages are one value, so errors.Is works whichever package a caller names.
func TestSharedSentinels(t *testing.T) {
	groups := map[string][]error{
		"ErrBadSignature":      {olm.ErrBadSignature, megolm.ErrBadSignature, signedjson.ErrBadSignature, crossign.ErrBadSignature},
		"ErrBadPublicKey":      {olm.ErrBadPublicKey, sas.ErrBadPublicKey, keybackup.ErrBadPublicKey},
		"ErrBadMessageMAC":     {olm.ErrBadMessageMAC, megolm.ErrBadMessageMAC},
		"ErrBadMessageFormat":  {olm.ErrBadMessageFormat, megolm.ErrBadMessageFormat},
		"ErrBadMessageVersion": {olm.ErrBadMessageVersion, megolm.ErrBadMessageVersion},
		"ErrMessageTooLarge":   {olm.ErrMessageTooLarge, megolm.ErrMessageTooLarge},
		"ErrSessionConfig":     {olm.ErrSessionConfig, megolm.ErrSessionConfig},
		"ErrBadPickleKey":      {olm.ErrBadPickleKey, megolm.ErrBadPickleKey},
	}
	for name, errs := range groups {
		for i, a := range errs {
			for j, b := range errs {
				if !errors.Is(a, b) {
					t.Errorf("%s: errors.Is(#%d, #%d) = false", name, i, j)
				}
			}
		}
	}
}
