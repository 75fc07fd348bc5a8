package keyhash

import (
	"crypto/sha256"
	"strings"
	"testing"
)

// TestMap: short keys stay as they are; long ones, and those that begin
// with the mark byte, become the mark byte and their hash; a short key that
// spells a hashed form (with the mark as a byte, or as the rune ÿ in UTF-8)
// stays apart from the long key it imitates.
func TestMap(t *testing.T) {
	long := strings.Repeat("k", MaxPlain+1)
	sum := sha256.Sum256([]byte(long))
	hashed := "\xff" + string(sum[:])
	for _, tc := range []struct{ key, want string }{
		{"job", "job"},
		{strings.Repeat("k", MaxPlain), strings.Repeat("k", MaxPlain)},
		{"\u00ffx", "\u00ffx"}, // ÿ is c3 bf in UTF-8: no mark byte
		{long, hashed},
	} {
		if got := Map(tc.key); got != tc.want {
			t.Errorf("Map(%.20q…) = %q; want %q", tc.key, got, tc.want)
		}
	}
	for _, crafted := range []string{hashed, "\u00ff" + string(sum[:]), "\xff"} {
		if Map(crafted) == Map(long) {
			t.Errorf("Map(%q) = Map of a %d-byte key", crafted, len(long))
		}
		if got := Map(crafted); len(got) != 1+sha256.Size && got[0] == Mark {
			t.Errorf("Map(%q) = %q: begins with the mark, but is no hash", crafted, got)
		}
	}
}
