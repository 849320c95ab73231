package domain

import (
	"fmt"
	"io"
	"strings"
)

// App password layout: "jfg_<id>_<secret>", 43 characters, for example
// "jfg_7k2qm9xd3fhv_t8raqw5n0c4j6ezbp1hgy9kmvs".
//
//   - id: 12 characters of lowercase Crockford base32, 60 random bits. It is
//     public, the key under which the hash is stored and looked up;
//   - secret: 26 characters of the same alphabet, 130 random bits, stored
//     only as a slow hash.
//
// Lowercase Crockford base32 (no i, l, o, u) keeps the string easy to type on
// a TV remote; the underscore never occurs in the alphabet, so the three parts
// split unambiguously. An app password is copied, not read, so parsing is
// strict: no case folding and no look-alike mapping.
const (
	AppPasswordPrefix     = "jfg_"
	AppPasswordIDLen      = 12
	AppPasswordSecretLen  = 26
	AppPasswordIDBits     = AppPasswordIDLen * crockfordBits
	AppPasswordSecretBits = AppPasswordSecretLen * crockfordBits
	appPasswordLen        = len(AppPasswordPrefix) + AppPasswordIDLen + 1 + AppPasswordSecretLen
	appPasswordAlphabet   = "0123456789abcdefghjkmnpqrstvwxyz"
)

// NewAppPassword generates an app password from rand. plain is shown to the
// user once; id and hash are what the caller stores.
func NewAppPassword(rand io.Reader, params HashParams) (plain, id, hash string, err error) {
	if id, err = randomCrockford(rand, AppPasswordIDLen, appPasswordAlphabet); err != nil {
		return "", "", "", fmt.Errorf("app password: %w", err)
	}
	secret, err := randomCrockford(rand, AppPasswordSecretLen, appPasswordAlphabet)
	if err != nil {
		return "", "", "", fmt.Errorf("app password: %w", err)
	}
	if hash, err = HashSecret([]byte(secret), rand, params); err != nil {
		return "", "", "", fmt.Errorf("app password: %w", err)
	}
	return AppPasswordPrefix + id + "_" + secret, id, hash, nil
}

// ParseAppPassword splits an app password into its id and secret. It runs on
// every password typed into a sign-in, so it is strict, allocation-free and
// total: any string that is not exactly the app password layout gives ok ==
// false, and the password goes to Jellyfin as typed.
func ParseAppPassword(s string) (id, secret string, ok bool) {
	if len(s) != appPasswordLen || !strings.HasPrefix(s, AppPasswordPrefix) {
		return "", "", false
	}
	rest := s[len(AppPasswordPrefix):]
	if rest[AppPasswordIDLen] != '_' {
		return "", "", false
	}
	id, secret = rest[:AppPasswordIDLen], rest[AppPasswordIDLen+1:]
	if !inAppPasswordAlphabet(id) || !inAppPasswordAlphabet(secret) {
		return "", "", false
	}
	return id, secret, true
}

// LooksLikeAppPassword reports whether s starts like an app password, even if
// it is malformed. It is the loose test for redacting logs and for telling a
// user that a mistyped app password is not a valid one; deciding whether a
// sign-in uses an app password is ParseAppPassword's job.
func LooksLikeAppPassword(s string) bool {
	return len(s) >= len(AppPasswordPrefix) && strings.EqualFold(s[:len(AppPasswordPrefix)], AppPasswordPrefix)
}

// VerifyAppPassword reports whether secret matches the stored hash. A
// malformed hash never matches.
func VerifyAppPassword(hash, secret string) bool {
	ok, err := VerifySecret(hash, []byte(secret))
	return err == nil && ok
}

func inAppPasswordAlphabet(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' && c != 'i' && c != 'l' && c != 'o' && c != 'u') {
			return false
		}
	}
	return true
}
