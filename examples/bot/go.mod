module github.com/souverain/e2ee/examples/bot

go 1.26.0

replace github.com/souverain/e2ee => ../../

require github.com/souverain/e2ee v0.0.0-00010101000000-000000000000

require (
	filippo.io/edwards25519 v1.2.0 // indirect
	golang.org/x/crypto v0.58.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
)
