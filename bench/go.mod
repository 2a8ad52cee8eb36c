module github.com/souverain/e2ee/bench

go 1.26.0

require (
	filippo.io/edwards25519 v1.2.0
	github.com/souverain/e2ee v0.0.0-00010101000000-000000000000
	github.com/souverain/e2ee/interop v0.0.0-00010101000000-000000000000
	golang.org/x/crypto v0.59.0
	maunium.net/go/mautrix v0.33.0
)

require (
	github.com/tidwall/gjson v1.20.0 // indirect
	github.com/tidwall/match v1.1.1 // indirect
	github.com/tidwall/pretty v1.3.0 // indirect
	github.com/tidwall/sjson v1.2.5 // indirect
	go.mau.fi/util v0.11.1 // indirect
)

replace (
	github.com/souverain/e2ee => ../
	github.com/souverain/e2ee/interop => ../interop
)
