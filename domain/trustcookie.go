package domain

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Errors for trusted-browser cookies. Every verification error means "ask for
// the second factor"; the three kinds differ only for logs and metrics.
// ErrTrustKey and ErrTrustClaims come from signing and point at a bug or a
// bad setting.
var (
	// ErrCookieMalformed means the value is not a cookie this package wrote.
	ErrCookieMalformed = errors.New("trust cookie: malformed")
	// ErrCookieSignature means no current or previous key signed the value.
	ErrCookieSignature = errors.New("trust cookie: bad signature")
	// ErrCookieExpired means the cookie was genuine but its time is over.
	ErrCookieExpired = errors.New("trust cookie: expired")
	// ErrTrustKey means a signing key is too short to be an HMAC-SHA256 key.
	ErrTrustKey = errors.New("trust cookie: key shorter than 32 bytes")
	// ErrTrustClaims means the claims to sign are incomplete or inconsistent.
	ErrTrustClaims = errors.New("trust cookie: invalid claims")
)

const (
	// TrustKeyMinLen is the minimum key length, the HMAC-SHA256 output size.
	TrustKeyMinLen = sha256.Size
	// BrowserIDLen is the length of an id from NewBrowserID: 26 characters of
	// lowercase Crockford base32, 130 random bits.
	BrowserIDLen = 26
)

const (
	trustCookieVersion = "v1"
	// trustCookieMaxLen bounds a cookie value before any decoding work; real
	// values are a few hundred bytes.
	trustCookieMaxLen = 2048
)

var trustB64 = base64.RawURLEncoding.Strict()

// TrustClaims is what a trusted-browser cookie asserts: this browser, for this
// user on this Jellyfin device id, passed a second factor and is trusted until
// ExpiresAt. Times have one-second precision.
//
// A valid signature is necessary, not sufficient. The caller must also check
// that BrowserID has not been revoked server-side (the trusted browsers
// projection) and that DeviceID and UserID are those of the sign-in at hand;
// a cookie copied to another device or used for another account is not a
// bypass.
type TrustClaims struct {
	// BrowserID is a random id naming this trust grant, the handle for
	// revocation (see NewBrowserID).
	BrowserID string
	// UserID is the Jellyfin user id.
	UserID string
	// DeviceID is the Jellyfin device id of the web app that was trusted.
	DeviceID string
	// IssuedAt and ExpiresAt bound the grant; ExpiresAt must be at least one
	// second after IssuedAt.
	IssuedAt  time.Time
	ExpiresAt time.Time
}

// TrustKeys are the HMAC keys for trusted-browser cookies. New cookies are
// signed with Current; cookies signed with a Previous key still verify, so
// rotating the key does not sign every browser out at once. Drop a previous
// key once every cookie it signed has expired, or at once to revoke them all.
type TrustKeys struct {
	Current  []byte
	Previous [][]byte
}

// trustPayload is the signed JSON. Short names keep the cookie small.
type trustPayload struct {
	BrowserID string `json:"b"`
	UserID    string `json:"u"`
	DeviceID  string `json:"d"`
	IssuedAt  int64  `json:"iat"`
	ExpiresAt int64  `json:"exp"`
}

// NewBrowserID returns a random id for a trust grant.
func NewBrowserID(rand io.Reader) (string, error) {
	id, err := randomCrockford(rand, BrowserIDLen, appPasswordAlphabet)
	if err != nil {
		return "", fmt.Errorf("browser id: %w", err)
	}
	return id, nil
}

// SignTrustCookie encodes claims as a cookie value,
// "v1.<base64url payload>.<base64url HMAC-SHA256>". The MAC covers the
// version and the payload as sent.
func SignTrustCookie(key []byte, c TrustClaims) (string, error) {
	if len(key) < TrustKeyMinLen {
		return "", ErrTrustKey
	}
	if !validTrustClaims(c.BrowserID, c.UserID, c.DeviceID, c.IssuedAt.Unix(), c.ExpiresAt.Unix()) {
		return "", ErrTrustClaims
	}
	payload, err := json.Marshal(trustPayload{
		BrowserID: c.BrowserID,
		UserID:    c.UserID,
		DeviceID:  c.DeviceID,
		IssuedAt:  c.IssuedAt.Unix(),
		ExpiresAt: c.ExpiresAt.Unix(),
	})
	if err != nil {
		return "", fmt.Errorf("trust cookie: encode: %w", err)
	}
	signed := trustCookieVersion + "." + trustB64.EncodeToString(payload)
	return signed + "." + trustB64.EncodeToString(trustMAC(key, signed)), nil
}

// VerifyTrustCookie checks a cookie value against the current and previous
// keys and returns its claims if it is genuine and not expired at now. The
// signature is checked before the payload is decoded, so untrusted bytes are
// never parsed. See TrustClaims for the checks left to the caller.
func VerifyTrustCookie(keys TrustKeys, value string, now time.Time) (TrustClaims, error) {
	if len(value) > trustCookieMaxLen {
		return TrustClaims{}, ErrCookieMalformed
	}
	version, rest, ok1 := strings.Cut(value, ".")
	payloadB64, sigB64, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || version != trustCookieVersion || strings.Contains(sigB64, ".") {
		return TrustClaims{}, ErrCookieMalformed
	}
	sig, err := trustB64.DecodeString(sigB64)
	if err != nil || len(sig) != sha256.Size {
		return TrustClaims{}, ErrCookieMalformed
	}
	signed := value[:len(version)+1+len(payloadB64)]
	if !trustSignedBy(keys, signed, sig) {
		return TrustClaims{}, ErrCookieSignature
	}
	raw, err := trustB64.DecodeString(payloadB64)
	if err != nil {
		return TrustClaims{}, ErrCookieMalformed
	}
	var p trustPayload
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil || dec.More() {
		return TrustClaims{}, ErrCookieMalformed
	}
	if !validTrustClaims(p.BrowserID, p.UserID, p.DeviceID, p.IssuedAt, p.ExpiresAt) {
		return TrustClaims{}, ErrCookieMalformed
	}
	c := TrustClaims{
		BrowserID: p.BrowserID,
		UserID:    p.UserID,
		DeviceID:  p.DeviceID,
		IssuedAt:  time.Unix(p.IssuedAt, 0).UTC(),
		ExpiresAt: time.Unix(p.ExpiresAt, 0).UTC(),
	}
	if !now.Before(c.ExpiresAt) {
		return TrustClaims{}, ErrCookieExpired
	}
	return c, nil
}

// validTrustClaims reports whether claims name a grant that can be checked:
// every id present and a lifetime of at least one second, since times travel
// as whole seconds.
func validTrustClaims(browserID, userID, deviceID string, issuedAt, expiresAt int64) bool {
	return browserID != "" && userID != "" && deviceID != "" && expiresAt > issuedAt
}

// trustSignedBy reports whether any usable key produced sig. Every key is
// tried, so the time taken does not reveal which one matched.
func trustSignedBy(keys TrustKeys, signed string, sig []byte) bool {
	ok := false
	for _, key := range append([][]byte{keys.Current}, keys.Previous...) {
		if len(key) >= TrustKeyMinLen && hmac.Equal(trustMAC(key, signed), sig) {
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
