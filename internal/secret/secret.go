// Package secret tells which URL parameters may hold a secret, so that
// errors and printed URLs can hide their values.
package secret

import "strings"

// words are the parts of parameter names that suggest a secret.
var words = []string{"pass", "secret", "token", "credential", "auth", "apikey", "api_key"}

// Name reports whether a parameter named name may hold a secret: its name
// contains, in any case, pass, secret, token, credential, auth, apikey or
// api_key.
func Name(name string) bool {
	n := strings.ToLower(name)
	for _, w := range words {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}
