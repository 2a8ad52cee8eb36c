package sas_test

import (
	"go/parser"
	"go/token"
	"strconv"
	"testing"
)

// TestQRSecretConstantTimeCodec: the files that handle the QR code's
// shared secret encode and decode it with the constant-time codec
// (internal/b64), never encoding/base64, whose table lookups depend on the
// secret.
func TestQRSecretConstantTimeCodec(t *testing.T) {
	for _, file := range []string{"qr.go", "qrflow.go"} {
		f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			if path, _ := strconv.Unquote(imp.Path.Value); path == "encoding/base64" {
				t.Errorf("%s imports encoding/base64", file)
			}
		}
	}
}
