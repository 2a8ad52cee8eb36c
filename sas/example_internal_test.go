package sas

import (
	"encoding/hex"
	"fmt"
)

// Two devices with fixed ephemeral keys (those of RFC 7748, section 6.1, so
// that the output is the same on every run; real keys come from New) print
// the 7 emojis they agree on.
func ExampleEstablishedSAS_ShortAuthString() {
	aliceKey, _ := hex.DecodeString("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
	bobKey, _ := hex.DecodeString("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")
	alice, _ := newFromRandom(aliceKey)
	bob, _ := newFromRandom(bobKey)

	// Each side sends its public key in m.key.verification.key and
	// establishes with the other's.
	aliceSAS, _ := alice.Establish(bob.PublicKey())
	bobSAS, _ := bob.Establish(alice.PublicKey())

	aliceParty := Party{UserID: "@alice:example.org", DeviceID: "ALICEDEVICE"}
	bobParty := Party{UserID: "@bob:example.org", DeviceID: "BOBDEVICE"}
	info := SASInfo(aliceParty, alice.PublicKey(), bobParty, bob.PublicKey(), "txn1")

	for _, side := range []struct {
		name string
		sas  *EstablishedSAS
	}{{"Alice", aliceSAS}, {"Bob", bobSAS}} {
		fmt.Printf("%s sees:", side.name)
		for _, e := range side.sas.ShortAuthString(info).Emojis() {
			fmt.Printf(" %s", e.Symbol)
		}
		fmt.Println()
	}
	// Output:
	// Alice sees: 🦄 😀 🦋 🐷 ✂️ 🏆 🚀
	// Bob sees: 🦄 😀 🦋 🐷 ✂️ 🏆 🚀
}
