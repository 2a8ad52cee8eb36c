package megolm_test

import (
	"fmt"

	"github.com/souverain/e2ee/megolm"
)

// An inbound session moves from a matrix-rust-sdk store (which keeps
// vodozemac's pickle JSON in its records) to souverain. The JSON is a
// fixture of matrix-rust-sdk's tests.
func ExampleParseVodozemacInboundGroupSession() {
	pickle := []byte(`{
		"initial_ratchet": {
			"inner": [124, 251, 213, 204, 108, 247, 54, 7, 179, 162, 15, 107, 154, 215, 220, 46,
			          123, 113, 120, 162, 225, 246, 237, 203, 125, 102, 190, 212, 229, 195, 136, 185,
			          26, 31, 77, 140, 144, 181, 152, 177, 46, 105, 202, 6, 53, 158, 157, 170,
			          31, 155, 130, 87, 214, 110, 143, 55, 68, 138, 41, 35, 242, 230, 194, 15,
			          16, 145, 116, 94, 89, 35, 79, 145, 245, 117, 204, 173, 166, 178, 49, 131,
			          143, 61, 61, 15, 211, 167, 17, 2, 79, 110, 149, 200, 223, 23, 185, 200,
			          29, 64, 55, 39, 147, 167, 205, 224, 159, 101, 218, 249, 203, 30, 175, 174,
			          48, 252, 40, 131, 52, 135, 91, 57, 211, 96, 105, 58, 55, 68, 250, 24],
			"counter": 0
		},
		"signing_key": [93, 185, 171, 61, 173, 100, 51, 9, 157, 180, 214, 39, 131, 80, 118, 130,
		                199, 232, 163, 197, 45, 23, 227, 100, 151, 59, 19, 102, 38, 149, 43, 38],
		"signing_key_verified": true,
		"config": {"version": "V1"}
	}`)
	s, err := megolm.ParseVodozemacInboundGroupSession(pickle)
	if err != nil {
		panic(err)
	}
	fmt.Println(s.SessionID(), s.FirstKnownIndex(), s.IsVerified())
	// Output: XbmrPa1kMwmdtNYng1B2gsfoo8UtF+NklzsTZiaVKyY 0 true
}
