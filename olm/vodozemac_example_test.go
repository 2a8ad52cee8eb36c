package olm_test

import (
	"fmt"

	"github.com/souverain/e2ee/olm"
)

// An account moves from a vodozemac-based store to souverain. The pickle
// holds the keys of RFC 8032 (test 1) and RFC 7748 (section 6.1), so the
// output is the RFCs' public keys and signature
// (vectors/data/vodozemac-pickles.json, gen-vodozemac-pickles-account-seed).
func ExampleUnpickleVodozemacAccount() {
	const pickle = "zd8Gw+WoKb/ZZ4EDGZq3Hq+z346DoQHuWlZJBCncrjTsalzqnW6Uzse1D39qTNWYJXcWB5RIOBU5DBlyR/Xf4NUe0Fip1uUL4OY2JRzEHrsRW5D7QtFI4U25FwwuiylZy/3ljDI1O2ElaK7a2kRIJY/KWutBIJvfOoGbNDr2CPeti09cWm8+h/KCmzs0D+x0i97HBuBJE+xVSUi9GXAuMwR+QwtYzlle5rnfLuIuhN7M6exDCUQHX2RT0Grqq9ErtIZpv6ooUWk9gxP6FYwLOg+Sobac3xTh01hEWKlml/8s1oERYi29Mfr6qmwK6lfS5bUhSWBIDKnCAEZ5fFa6IjIiaw+Zvqcq0/DATlcfq/J2H6CAsvokOCZbZ4brQ+f8n5lNVEr3zU/s1l01ONUSXtJM2/a9yJUdg4z//8DHzwKHC2zsJJc4THVSgea5ufaJzlIWea273pUxlP8+9oWQeGHsmUSrL/k9Mjt3hIzy+9+RaRXHGxlDdIC882xnwl7wIU50gr0twONq0tvCZWI6lXqcJKlJ6/hg6huvADejN6OlWzy31Yq7Abubqij7HFDpswrGpn+lQyNQsJYdQNHBScaH/sB5P0TaeOVI8E706Aq8dsL3kQcVvffR7BmECAYtcu7qSi5/tlY41s4Fix/Oqj6x+wv7oqz9NFdRIxehsW3Tz4rjHnpVMxmkvRZTG8IGuEKh6I5XsEKxfykdmNGH0Xm6ggRKmfhNVtXdYR+EQxgcpdVhwMxMT+DZF3tSIkjTYJYoruY7w5et2JUJBJWH8K7dvX173dj7iA5Tye8bU0Ws8/n5CPvsaq5Wl/ArfnoHL5J4ebyhRUwI/zB2YKOqFZi7BiBVgenV7A+nHx6526sNYutxcUkuTTL94AfNyW77xSXJgQ9MtpnRKTM7BoKK13dW46SIs0NGswLf1WrgIxwt09/eLJWnoycaEa87O+hI7HRbBxjmw20zZRe1a5ZvqXyQtRXvNtgzWN5/zd+klObM4Ul08DSpg6M1ffH2LO7VX6RGZIvkSAoo/159juPVinC4BBnYwxulxYv7KFyl/VZ32eZ7X5YgFnLtg4u8fF3WMfduzunCM4g"
	key := [32]byte([]byte("souverain vodozemac pickle key!!"))
	account, err := olm.UnpickleVodozemacAccount(pickle, &key)
	if err != nil {
		panic(err)
	}
	fmt.Println("curve25519:", account.Curve25519Key())
	fmt.Println("ed25519:   ", account.Ed25519Key())
	fmt.Println("signature: ", account.Sign(nil))
	fmt.Println("one-time keys to publish:", len(account.OneTimeKeys()))
	// Output:
	// curve25519: hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo
	// ed25519:    11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo
	// signature:  5VZDAMNgrHKQhuLMgG6CioSHfx645dl02HPgZSJJAVVfuIIVkKM7rMYeOXAc+bRr0lv18FlbviRlUUFDjnoQCw
	// one-time keys to publish: 1
}
