module github.com/souverain/e2ee/interop

go 1.26

require github.com/souverain/e2ee v0.0.0-00010101000000-000000000000

require filippo.io/edwards25519 v1.2.0 // indirect

replace github.com/souverain/e2ee => ../
