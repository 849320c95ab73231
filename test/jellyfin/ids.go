package jellyfin

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
)

// randomHex returns n random bytes as lower-case hex, the shape of
// Guid.NewGuid().ToString("N") when n is 16.
func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// parseGUID reads a GUID the way ASP.NET Core binds a Guid parameter
// ("N", "D", "B" and "P" formats, any case) and returns it in "N" format.
func parseGUID(s string) (string, bool) {
	switch {
	case len(s) == 38 && (s[0] == '{' && s[37] == '}' || s[0] == '(' && s[37] == ')'):
		s = s[1:37]
		fallthrough
	case len(s) == 36:
		if s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
			return "", false
		}
		s = s[:8] + s[9:13] + s[14:18] + s[19:23] + s[24:]
	}
	if len(s) != 32 {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		if !isHex(s[i]) {
			return "", false
		}
	}
	return strings.ToLower(s), true
}
