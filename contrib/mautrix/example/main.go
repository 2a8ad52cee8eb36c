// Command example is a mautrix-go echo bot whose end-to-end encryption runs
// on souverain: the only change from a libolm or goolm bot is the
// souverain.Register() call at the top of main.
//
//	go run ./example -homeserver https://matrix.example.org -username bot -password …
//
// With -check it only reports which Olm driver is in force, without
// connecting anywhere. Build with -tags goolm to keep libolm (and its cgo
// link) out of the binary: mautrix-go's crypto package then registers goolm
// at start-up, and souverain.Register replaces it all the same.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"

	_ "github.com/mattn/go-sqlite3" // the crypto store's database
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/crypto/cryptohelper"
	"maunium.net/go/mautrix/crypto/olm"
	"maunium.net/go/mautrix/event"

	souverain "github.com/souverain/e2ee/contrib/mautrix"
)

var (
	homeserver = flag.String("homeserver", "", "homeserver URL")
	username   = flag.String("username", "", "user name (localpart)")
	password   = flag.String("password", "", "password")
	database   = flag.String("database", "example-bot.db", "SQLite crypto store (libolm pickles, readable by any driver)")
	pickleKey  = flag.String("pickle-key", "change me", "key the crypto store's pickles are encrypted with")
	check      = flag.Bool("check", false, "print the Olm driver in force and exit")
)

func main() {
	// The switch: from here on mautrix-go's Olm and Megolm objects are
	// souverain's. Existing stores written with libolm or goolm still open.
	souverain.Register()

	flag.Parse()
	if *check {
		fmt.Println("olm driver:", olm.Driver)
		return
	}
	if *homeserver == "" || *username == "" || *password == "" {
		fmt.Fprintf(os.Stderr, "usage: %s -homeserver URL -username NAME -password PASSWORD [-database FILE]\n", os.Args[0])
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "example:", err)
		os.Exit(1)
	}
}

// run logs in, sets up end-to-end encryption and echoes every text message
// it can decrypt, until ctx ends. Nothing here depends on the driver.
func run(ctx context.Context) error {
	client, err := mautrix.NewClient(*homeserver, "", "")
	if err != nil {
		return err
	}
	helper, err := cryptohelper.NewCryptoHelper(client, []byte(*pickleKey), *database)
	if err != nil {
		return err
	}
	helper.LoginAs = &mautrix.ReqLogin{
		Type:       mautrix.AuthTypePassword,
		Identifier: mautrix.UserIdentifier{Type: mautrix.IdentifierTypeUser, User: *username},
		Password:   *password,
	}
	if err := helper.Init(ctx); err != nil {
		return err
	}
	defer helper.Close()
	client.Crypto = helper

	syncer := client.Syncer.(*mautrix.DefaultSyncer)
	syncer.OnEventType(event.StateMember, func(ctx context.Context, evt *event.Event) {
		if evt.GetStateKey() == client.UserID.String() && evt.Content.AsMember().Membership == event.MembershipInvite {
			_, _ = client.JoinRoomByID(ctx, evt.RoomID)
		}
	})
	syncer.OnEventType(event.EventMessage, func(ctx context.Context, evt *event.Event) {
		msg := evt.Content.AsMessage()
		if evt.Sender == client.UserID || msg.MsgType != event.MsgText {
			return
		}
		// SendMessageEvent encrypts through the crypto helper in
		// encrypted rooms: Megolm on souverain.
		_, _ = client.SendMessageEvent(ctx, evt.RoomID, event.EventMessage, &event.MessageEventContent{
			MsgType:   event.MsgNotice,
			Body:      "echo: " + msg.Body,
			RelatesTo: (&event.RelatesTo{}).SetReplyTo(evt.ID),
		})
	})
	fmt.Printf("logged in as %s (device %s), olm driver %s\n", client.UserID, client.DeviceID, olm.Driver)
	err = client.SyncWithContext(ctx)
	if ctx.Err() != nil {
		return nil
	}
	return err
}
