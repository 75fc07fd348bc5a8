package secret

import (
	"net/url"
	"strconv"
	"strings"
	"testing"
)

func TestName(t *testing.T) {
	for name, want := range map[string]bool{
		"password": true, "sentinel_Password": true, "PASS": true, "client_secret": true, "token": true,
		"credentials": true, "sentinel_auth": true, "apikey": true, "x_api_key": true,
		"prefix": false, "timeout": false, "max_key_size": false, "": false,
	} {
		if got := Name(name); got != want {
			t.Errorf("Name(%q) = %v; want %v", name, got, want)
		}
	}
}

// TestMask checks that a value is masked in every form an error may show
// it in, and that a text without it is left as it is.
func TestMask(t *testing.T) {
	for _, pw := range []string{`pa"ss wörd/`, "a%b", "pä55\x00w", "hunter2"} {
		quoted, ascii := strconv.Quote(pw), strconv.QuoteToASCII(pw)
		for _, form := range []string{pw, quoted, ascii, url.QueryEscape(pw), url.PathEscape(pw)} {
			msg := "a " + form + " b"
			got := Mask(msg, pw)
			if !strings.Contains(got, "xxxxx") || got == msg {
				t.Errorf("Mask(%q) = %q; want the password masked", msg, got)
			}
			for _, piece := range []string{"ss", "rd", "%b", "55", "hunter"} {
				if strings.Contains(pw, piece) && strings.Contains(got, piece) {
					t.Errorf("Mask(%q) = %q; a piece of the password, %q, is left", msg, got, piece)
				}
			}
		}
	}
	if got := Mask("nothing here", "hunter2"); got != "nothing here" {
		t.Errorf("Mask of a text without the value = %q; want it unchanged", got)
	}
	if got := Mask("a b", ""); got != "a b" {
		t.Errorf("Mask with an empty value = %q; want the text unchanged", got)
	}
}
