// Package leakcheck helps tests show that error messages hold no piece of a
// password. A test wraps the password it tries between [Prefix] and
// [Suffix], makes the error once with that password and once with
// [Rotate] of it, and asks [Leak] about the two messages.
//
// The check is differential: Rotate changes every letter of the password, and
// every non-ASCII character, into another of its kind, and keeps digits, ASCII
// punctuation and control characters; so both URLs have the same structure (the
// same delimiters, the same valid and invalid escapes, ports and IP addresses)
// and code that shows none of the password makes the same message for both. Any
// difference is text that depends on the password, in whatever form (quoted,
// escaped, cut, lower-cased). The markers catch what is left: a message for
// which the rotated run did not fail, and pieces made of digits and punctuation
// alone, which Rotate keeps, as long as they touch either end of the password.
package leakcheck

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Prefix and Suffix are put around a fuzzed password: distinctive letters
// that no fixed text of an error holds, so that a message showing the first
// or the last piece of a password shows one of them.
const (
	Prefix = "Q7Zj"
	Suffix = "Jv9Q"
)

// Rotate returns s with each ASCII letter replaced by another of its case and
// kind (a-f among a-f, g-z among g-z: an IPv6 address stays valid; a valid
// %-escape is kept whole, so it decodes to the same byte), each non-ASCII
// character by a neighbour of the same UTF-8 length, and everything else kept:
// digits (ports and IPv4 addresses stay valid or invalid), ASCII punctuation,
// control characters, invalid UTF-8.
func Rotate(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		if c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			// A %-escape stays as it is: it decodes to the same byte,
			// whose meaning (a '/', a zone, a ',') the URL's structure
			// depends on.
			b.WriteString(s[i : i+3])
			i += 3
			continue
		}
		switch {
		case c >= utf8.RuneSelf:
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n == 1 {
				b.WriteByte(c)
			} else {
				b.WriteRune(r ^ 1)
			}
			i += n
			continue
		case 'a' <= c && c <= 'f':
			c = 'a' + (c-'a'+3)%6
		case 'A' <= c && c <= 'F':
			c = 'A' + (c-'A'+3)%6
		case 'g' <= c && c <= 'z':
			c = 'g' + (c-'g'+10)%20
		case 'G' <= c && c <= 'Z':
			c = 'G' + (c-'G'+10)%20
		}
		b.WriteByte(c)
		i++
	}
	return b.String()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// Leak returns how msg shows password, or "" when it does not. alt is the
// message of the same call with Rotate(password) for password, or "" when
// that call did not fail. password should start with Prefix and end with
// Suffix.
func Leak(msg, alt, password string) string {
	lower := strings.ToLower(msg)
	for _, marker := range []string{Prefix, Suffix} {
		if strings.Contains(lower, strings.ToLower(marker)) {
			return fmt.Sprintf("it shows %q, which ends the password", marker)
		}
	}
	for _, form := range forms(password) {
		if len(form) >= 4 && strings.Contains(msg, form) {
			return fmt.Sprintf("it shows the password, as %q", form)
		}
	}
	if alt != "" && alt != msg {
		i := 0
		for i < len(msg) && i < len(alt) && msg[i] == alt[i] {
			i++
		}
		return fmt.Sprintf("it depends on the password's letters, from byte %d: %q; with them rotated: %q", i, msg[i:], alt[i:])
	}
	return ""
}

// forms returns password as a message might show it.
func forms(password string) []string {
	q := strconv.Quote(password)
	f := []string{password, q[1 : len(q)-1], url.QueryEscape(password), url.PathEscape(password)}
	if s, err := url.QueryUnescape(password); err == nil {
		f = append(f, s)
	}
	if s, err := url.PathUnescape(password); err == nil {
		f = append(f, s)
	}
	return f
}
