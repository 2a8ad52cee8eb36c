package sas_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/souverain/e2ee/sas"
)

// TestParseContent: one valid content per type, then each required field
// missing in turn.
func TestParseContent(t *testing.T) {
	const key = `"hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo"`
	const commitment = `"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"`
	cases := []struct {
		typ      string
		fields   map[string]string // name → JSON value
		required []string
		want     any
	}{
		{sas.EventRequest, map[string]string{"from_device": `"D"`, "methods": `["m.sas.v1"]`, "transaction_id": `"t"`, "timestamp": `1`},
			[]string{"from_device", "methods", "transaction_id", "timestamp"},
			&sas.RequestContent{FromDevice: "D", Methods: []string{"m.sas.v1"}, TransactionID: "t", Timestamp: 1}},
		{sas.EventRoomMessage, map[string]string{"msgtype": `"m.key.verification.request"`, "from_device": `"D"`, "methods": `[]`, "to": `"@b:x"`, "body": `"hi"`},
			[]string{"msgtype", "from_device", "methods", "to"},
			&sas.RequestContent{FromDevice: "D", Methods: []string{}, MsgType: sas.EventRequest, To: "@b:x", Body: "hi"}},
		{sas.EventReady, map[string]string{"from_device": `"D"`, "methods": `["m.sas.v1"]`, "transaction_id": `"t"`},
			[]string{"from_device", "methods", "transaction_id"},
			&sas.ReadyContent{FromDevice: "D", Methods: []string{"m.sas.v1"}, TransactionID: "t"}},
		{sas.EventStart, map[string]string{"from_device": `"D"`, "method": `"m.sas.v1"`, "m.relates_to": `{"rel_type":"m.reference","event_id":"$e"}`,
			"key_agreement_protocols": `["curve25519-hkdf-sha256"]`, "hashes": `["sha256"]`, "message_authentication_codes": `["hkdf-hmac-sha256.v2"]`, "short_authentication_string": `["decimal"]`},
			[]string{"from_device", "method", "m.relates_to", "key_agreement_protocols", "hashes", "message_authentication_codes", "short_authentication_string"},
			&sas.StartContent{FromDevice: "D", Method: "m.sas.v1", RelatesTo: &sas.RelatesTo{RelType: "m.reference", EventID: "$e"},
				KeyAgreementProtocols: []string{"curve25519-hkdf-sha256"}, Hashes: []string{"sha256"}, MessageAuthenticationCodes: []string{"hkdf-hmac-sha256.v2"}, ShortAuthenticationString: []string{"decimal"}}},
		{sas.EventStart, map[string]string{"from_device": `"D"`, "method": `"m.reciprocate.v1"`, "transaction_id": `"t"`, "secret": `"AAAAAAAAAAA"`},
			[]string{"from_device", "method", "transaction_id", "secret"},
			&sas.StartContent{FromDevice: "D", Method: "m.reciprocate.v1", TransactionID: "t", Secret: "AAAAAAAAAAA"}},
		{sas.EventAccept, map[string]string{"transaction_id": `"t"`, "key_agreement_protocol": `"k"`, "hash": `"h"`, "message_authentication_code": `"m"`, "short_authentication_string": `["decimal"]`, "commitment": commitment},
			[]string{"transaction_id", "key_agreement_protocol", "hash", "message_authentication_code", "short_authentication_string", "commitment"},
			&sas.AcceptContent{TransactionID: "t", KeyAgreementProtocol: "k", Hash: "h", MessageAuthenticationCode: "m", ShortAuthenticationString: []string{"decimal"}, Commitment: strings.Trim(commitment, `"`)}},
		{sas.EventKey, map[string]string{"transaction_id": `"t"`, "key": key}, []string{"transaction_id", "key"},
			&sas.KeyContent{TransactionID: "t", Key: strings.Trim(key, `"`)}},
		{sas.EventMAC, map[string]string{"transaction_id": `"t"`, "mac": `{"ed25519:D":"x"}`, "keys": `"y"`}, []string{"transaction_id", "mac", "keys"},
			&sas.MACContent{TransactionID: "t", MAC: map[string]string{"ed25519:D": "x"}, Keys: "y"}},
		{sas.EventDone, map[string]string{"transaction_id": `"t"`}, []string{"transaction_id"}, &sas.DoneContent{TransactionID: "t"}},
		{sas.EventCancel, map[string]string{"transaction_id": `"t"`, "code": `"m.user"`, "reason": `"r"`}, []string{"transaction_id", "code"},
			&sas.CancelContent{TransactionID: "t", Code: sas.CancelUser, Reason: "r"}},
	}
	build := func(fields map[string]string, skip string) []byte {
		var parts []string
		for k, v := range fields {
			if k != skip {
				parts = append(parts, `"`+k+`":`+v)
			}
		}
		return []byte("{" + strings.Join(parts, ",") + "}")
	}
	for _, c := range cases {
		got, err := sas.ParseContent(c.typ, build(c.fields, ""))
		if err != nil {
			t.Errorf("%s: %v", c.typ, err)
			continue
		}
		if diff := cmp.Diff(c.want, got); diff != "" {
			t.Errorf("%s: (-want +got)\n%s", c.typ, diff)
		}
		for _, f := range c.required {
			if _, err := sas.ParseContent(c.typ, build(c.fields, f)); !errors.Is(err, sas.ErrInvalidEvent) {
				t.Errorf("%s without %s: %v", c.typ, f, err)
			}
		}
	}
	bad := map[string][2]string{
		"unknown type":         {"m.key.verification.nope", `{}`},
		"not JSON":             {sas.EventDone, `{`},
		"array":                {sas.EventDone, `[]`},
		"both flow IDs":        {sas.EventDone, `{"transaction_id":"t","m.relates_to":{"rel_type":"m.reference","event_id":"$e"}}`},
		"annotation relation":  {sas.EventDone, `{"m.relates_to":{"rel_type":"m.annotation","event_id":"$e"}}`},
		"empty relation":       {sas.EventDone, `{"m.relates_to":{"rel_type":"m.reference","event_id":""}}`},
		"wrong msgtype":        {sas.EventRoomMessage, `{"msgtype":"m.text","from_device":"D","methods":[],"to":"@b:x"}`},
		"empty from_device":    {sas.EventReady, `{"from_device":"","methods":[],"transaction_id":"t"}`},
		"methods not a list":   {sas.EventReady, `{"from_device":"D","methods":"m.sas.v1","transaction_id":"t"}`},
		"null methods":         {sas.EventReady, `{"from_device":"D","methods":null,"transaction_id":"t"}`},
		"secret not base64":    {sas.EventStart, `{"from_device":"D","method":"m.reciprocate.v1","transaction_id":"t","secret":"!"}`},
		"commitment too short": {sas.EventAccept, `{"transaction_id":"t","key_agreement_protocol":"k","hash":"h","message_authentication_code":"m","short_authentication_string":[],"commitment":"AAAA"}`},
	}
	for name, b := range bad {
		if _, err := sas.ParseContent(b[0], []byte(b[1])); !errors.Is(err, sas.ErrInvalidEvent) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := sas.ParseContent(sas.EventStart, []byte(`{"from_device":"D","method":"m.qr.v9","transaction_id":"t"}`)); !errors.Is(err, sas.ErrUnknownMethod) {
		t.Errorf("unknown start method: %v", err)
	}
	if _, err := sas.ParseContent(sas.EventDone, []byte(`{"transaction_id":"`+strings.Repeat("x", sas.MaxEventSize)+`"}`)); !errors.Is(err, sas.ErrEventTooLarge) {
		t.Errorf("large: %v", err)
	}
}
