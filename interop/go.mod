module github.com/souverain/e2ee/interop

go 1.26.0

require (
	github.com/souverain/e2ee v0.0.0-00010101000000-000000000000
	golang.org/x/crypto v0.59.0
	maunium.net/go/mautrix v0.33.0
)

require (
	filippo.io/edwards25519 v1.2.0 // indirect
	go.mau.fi/util v0.11.1 // indirect
	golang.org/x/sys v0.50.0 // indirect
)

replace github.com/souverain/e2ee => ../
