package domain

import (
	"strings"
	"testing"
)

// FuzzNormalizeEmailAddress: any typed address either is refused or comes back as a
// plain address with no display name, spaces, line breaks or angle brackets (it ends
// up in an SMTP envelope and a mail header).
func FuzzNormalizeEmailAddress(f *testing.F) {
	for _, s := range []string{"alice@example.com", "Alice <alice@example.com>", "a@b", "bad", "a@b.c\r\nBcc: x@y.z", " alice@example.com ", "\"a b\"@example.com"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := NormalizeEmailAddress(s)
		if err != nil {
			return
		}
		if strings.ContainsAny(out, " \r\n<>\t") || !strings.Contains(out, "@") || len(out) > 254 {
			t.Fatalf("NormalizeEmailAddress(%q) = %q", s, out)
		}
	})
}
