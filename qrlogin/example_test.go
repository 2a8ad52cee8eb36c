package qrlogin_test

import (
	"encoding/hex"
	"fmt"
	"log"

	"github.com/souverain/e2ee/qrlogin"
)

// Example logs a new device in with MSC4108: the existing device shows a
// QR code, the new device scans it, both open an ECIES channel through the
// rendezvous server, and the user confirms the check code before anything
// secret is sent.
func Example() {
	// The existing device (the recipient, device G) shows a QR code.
	existing, err := qrlogin.GenerateECIES()
	if err != nil {
		log.Fatal(err)
	}
	qr, err := qrlogin.NewQRCodeDataMSC4108(existing.PublicKey(), qrlogin.IntentReciprocate,
		"https://rendezvous.example.org/e8da6355", "example.org")
	if err != nil {
		log.Fatal(err)
	}
	image := qr.Bytes() // render these bytes as a QR code

	// The new device (the initiator, device S) scans it and opens the channel.
	scanned, err := qrlogin.ParseQRCodeData(image)
	if err != nil {
		log.Fatal(err)
	}
	newDevice, err := qrlogin.GenerateECIES()
	if err != nil {
		log.Fatal(err)
	}
	s, first, err := newDevice.EstablishOutbound(scanned.PublicKey(), []byte("MATRIX_QR_CODE_LOGIN_INITIATE"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("new device logs in to", scanned.ServerName())

	// first.String() travels through the rendezvous server.
	m, err := qrlogin.ParseECIESInitialMessage(first.String())
	if err != nil {
		log.Fatal(err)
	}
	g, hello, err := existing.EstablishInbound(m)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("existing device got %s\n", hello)

	// The existing device shows the check code; the user types it on the
	// new device, which checks it before going on.
	shown := g.CheckCode().Digits(qrlogin.AllowLeadingZero)
	if err := s.CheckCode().Verify(shown, qrlogin.AllowLeadingZero); err != nil {
		log.Fatal("someone is in the middle: ", err)
	}
	fmt.Println("check code confirmed")

	reply, _ := g.Encrypt([]byte(`{"type":"m.login.protocols"}`))
	pt, err := s.Decrypt(reply)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("new device got %s\n", pt)
	// Output:
	// new device logs in to example.org
	// existing device got MATRIX_QR_CODE_LOGIN_INITIATE
	// check code confirmed
	// new device got {"type":"m.login.protocols"}
}

// ExampleEstablishHPKESender opens an MSC4388 channel: the sender's first
// message, the recipient's initial response, then messages both ways.
func ExampleEstablishHPKESender() {
	recipient, err := qrlogin.GenerateHPKERecipient()
	if err != nil {
		log.Fatal(err)
	}
	qr, err := qrlogin.NewQRCodeDataMSC4388(recipient.PublicKey(), qrlogin.IntentLogin,
		"01HX9K00Q1H6KPD47EG4G1T3XG", "https://matrix-client.example.org/")
	if err != nil {
		log.Fatal(err)
	}

	sender, first, err := qrlogin.EstablishHPKESender(qr.PublicKey(), []byte("hello"), nil)
	if err != nil {
		log.Fatal(err)
	}
	half, hello, err := recipient.Establish(first, nil)
	if err != nil {
		log.Fatal(err)
	}
	g, response, err := half.Respond([]byte("welcome"), nil)
	if err != nil {
		log.Fatal(err)
	}
	s, welcome, err := sender.Establish(response, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s, %s, same check code: %v\n", hello, welcome, s.CheckCode().Equal(g.CheckCode()))

	m, _ := s.Seal([]byte("next"), []byte("aad"))
	pt, err := g.Open(m, []byte("aad"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", pt)
	// Output:
	// hello, welcome, same check code: true
	// next
}

// ExampleParseQRCodeData reads MSC4108's example QR code.
func ExampleParseQRCodeData() {
	b, _ := hex.DecodeString("4d41545249580203d886686ab2197b780e300a9d4a2147480700d7929f39ab31b9e514370248ed6b004768747470733a2f2f72656e64657a766f75732e6c61622e656c656d656e742e6465762f65386461363335352d353530622d346133322d613139332d313631396439383330363638")
	q, err := qrlogin.ParseQRCodeData(b)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(q.Format(), q.Intent(), q.PublicKey())
	fmt.Println(q.RendezvousURL())
	// Output:
	// MSC4108 login 2IZoarIZe3gOMAqdSiFHSAcA15KfOasxueUUNwJI7Ws
	// https://rendezvous.lab.element.dev/e8da6355-550b-4a32-a193-1619d9830668
}
