// Package secret tells which URL parameters may hold a secret, so that
// errors and printed URLs can hide their values, and hides a secret's
// value in a text that may echo it.
package secret

import (
	"cmp"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

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

// Mask returns text with value replaced by xxxxx wherever it appears: as
// written, and in the forms an error message quotes or escapes it in (Go
// quoted, ASCII-quoted, query- and path-escaped), the longest first, so
// that no piece of a longer form is left. An empty value masks nothing.
func Mask(text, value string) string {
	if value == "" {
		return text
	}
	quoted, ascii := strconv.Quote(value), strconv.QuoteToASCII(value)
	forms := []string{value, quoted[1 : len(quoted)-1], ascii[1 : len(ascii)-1], url.QueryEscape(value), url.PathEscape(value)}
	slices.SortStableFunc(forms, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	for _, form := range forms {
		text = strings.ReplaceAll(text, form, "xxxxx")
	}
	return text
}
