package domain

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Errors for trusted-browser cookies. Every verification error means "ask for
// the second factor"; the kinds differ only for logs and metrics. ErrTrustKey
// comes from signing and points at a bug or a bad setting.
var (
	// ErrCookieMalformed means the value is not a cookie this package writes
	// (today's format), including every cookie of the older, readable format.
	ErrCookieMalformed = errors.New("trust cookie: malformed")
	// ErrCookieSignature means no current or previous key signed the value.
	ErrCookieSignature = errors.New("trust cookie: bad signature")
	// ErrTrustKey means a signing key is too short to be an HMAC-SHA256 key.
	ErrTrustKey = errors.New("trust cookie: key shorter than 32 bytes")
)

const (
	// TrustKeyMinLen is the minimum key length, the HMAC-SHA256 output size.
	TrustKeyMinLen = sha256.Size
	// BrowserIDLen is the length of an id from NewBrowserID: 26 characters of
	// lowercase Crockford base32, 130 random bits.
	BrowserIDLen = 26
	// TrustSecretLen is the size of a cookie's secret: 256 random bits.
	TrustSecretLen = 32
)

const (
	trustCookieVersion = "v2"
	// trustCookieMaxLen bounds a cookie value before any decoding work; real
	// values are 90 bytes.
	trustCookieMaxLen = 256
)

var trustB64 = base64.RawURLEncoding.Strict()

// TrustSecret is what a trusted-browser cookie carries: 256 random bits and
// nothing else. The cookie says nothing about the user, the browser or the
// device, so copying it tells the thief nothing and changing it gains nothing.
// The server keeps only the secret's Hash, for the browser it was issued to, and
// replaces the secret each time the browser uses it (see DecideSignIn).
type TrustSecret [TrustSecretLen]byte

// NewTrustSecret returns a fresh random secret.
func NewTrustSecret(rand io.Reader) (TrustSecret, error) {
	var s TrustSecret
	if _, err := io.ReadFull(rand, s[:]); err != nil {
		return TrustSecret{}, fmt.Errorf("trust secret: %w", err)
	}
	return s, nil
}

// Hash is how the server knows a secret: hex SHA-256. A fast hash is enough
// because the secret has 256 random bits: there is nothing to guess, so there is
// nothing for a slow hash to slow down.
func (s TrustSecret) Hash() string {
	sum := sha256.Sum256(s[:])
	return hex.EncodeToString(sum[:])
}

// TrustKeys are the HMAC keys for trusted-browser cookies. New cookies are
// signed with Current; cookies signed with a Previous key still verify, so
// rotating the key does not sign every browser out at once. Drop a previous
// key once its grace is over, or at once to refuse every cookie it signed.
type TrustKeys struct {
	Current  []byte
	Previous [][]byte
}

// NewBrowserID returns a random id for a trust grant.
func NewBrowserID(rand io.Reader) (string, error) {
	id, err := randomCrockford(rand, BrowserIDLen, appPasswordAlphabet)
	if err != nil {
		return "", fmt.Errorf("browser id: %w", err)
	}
	return id, nil
}

// SignTrustCookie encodes a secret as a cookie value,
// "v2.<base64url secret>.<base64url HMAC-SHA256>". The MAC covers the version
// and the secret as sent; it lets the gateway refuse a made-up value before
// looking anything up, and ties the cookie to a key generation, so rotating
// the trust key retires every cookie that was not used during the grace.
func SignTrustCookie(key []byte, s TrustSecret) (string, error) {
	if len(key) < TrustKeyMinLen {
		return "", ErrTrustKey
	}
	signed := trustCookieVersion + "." + trustB64.EncodeToString(s[:])
	return signed + "." + trustB64.EncodeToString(trustMAC(key, signed)), nil
}

// VerifyTrustCookie checks a cookie value against the current and previous
// keys and returns the Hash of its secret, the key to look the browser up by.
// Nothing is decoded beyond the MAC check's needs, and a value no key signed
// never reaches a lookup. Whether the secret is current, replaced or unknown is
// for the caller to find out.
func VerifyTrustCookie(keys TrustKeys, value string) (string, error) {
	if len(value) > trustCookieMaxLen {
		return "", ErrCookieMalformed
	}
	version, rest, ok1 := strings.Cut(value, ".")
	secretB64, macB64, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || version != trustCookieVersion || strings.Contains(macB64, ".") {
		return "", ErrCookieMalformed
	}
	// The decoder skips line breaks even in strict mode: only the canonical
	// encoding of what was decoded is the value that was issued.
	mac, err := trustB64.DecodeString(macB64)
	if err != nil || len(mac) != sha256.Size || trustB64.EncodeToString(mac) != macB64 {
		return "", ErrCookieMalformed
	}
	raw, err := trustB64.DecodeString(secretB64)
	if err != nil || len(raw) != TrustSecretLen || trustB64.EncodeToString(raw) != secretB64 {
		return "", ErrCookieMalformed
	}
	if !trustSignedBy(keys, value[:len(version)+1+len(secretB64)], mac) {
		return "", ErrCookieSignature
	}
	return TrustSecret(raw).Hash(), nil
}

// trustSignedBy reports whether any usable key produced mac. Every key is
// tried, so the time taken does not reveal which one matched.
func trustSignedBy(keys TrustKeys, signed string, mac []byte) bool {
	ok := false
	for _, key := range append([][]byte{keys.Current}, keys.Previous...) {
		if len(key) >= TrustKeyMinLen && hmac.Equal(trustMAC(key, signed), mac) {
			ok = true
		}
	}
	return ok
}

func trustMAC(key []byte, signed string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(signed))
	return m.Sum(nil)
}
