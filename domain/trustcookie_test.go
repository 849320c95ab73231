package domain

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

var (
	trustKeyA = []byte("0123456789abcdef0123456789abcdef")
	trustKeyB = []byte("fedcba9876543210fedcba9876543210")
	trustNow  = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
)

func testTrustClaims() TrustClaims {
	return TrustClaims{
		BrowserID: "7k2qm9xd3fhvt8raqw5n0c4j6e",
		UserID:    "f3b9c2a1d4e5f60718293a4b5c6d7e8f",
		DeviceID:  "TW96aWxsYS81LjAgKFgxMTsgTGludXggeDg2XzY0KQ11",
		IssuedAt:  trustNow,
		ExpiresAt: trustNow.Add(30 * 24 * time.Hour),
	}
}

func mustSignTrust(t testing.TB, key []byte, c TrustClaims) string {
	t.Helper()
	v, err := SignTrustCookie(key, c)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// signRawTrust signs an arbitrary payload, to test what happens after the
// signature check.
func signRawTrust(key []byte, payload string) string {
	signed := "v1." + base64.RawURLEncoding.EncodeToString([]byte(payload))
	return signed + "." + base64.RawURLEncoding.EncodeToString(trustMAC(key, signed))
}

func TestTrustCookieRoundTrip(t *testing.T) {
	c := testTrustClaims()
	c.IssuedAt = c.IssuedAt.Add(400 * time.Millisecond).In(time.FixedZone("CET", 3600))
	value := mustSignTrust(t, trustKeyA, c)
	if !strings.HasPrefix(value, "v1.") || strings.Count(value, ".") != 2 || strings.ContainsAny(value, "=+/ ;,") {
		t.Fatalf("value %q is not v1.<payload>.<mac> in cookie-safe base64url", value)
	}
	got, err := VerifyTrustCookie(TrustKeys{Current: trustKeyA}, value, trustNow.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	want := testTrustClaims()
	if got != want {
		t.Errorf("claims %+v; want %+v (second precision, UTC)", got, want)
	}
	if again := mustSignTrust(t, trustKeyA, c); again != value {
		t.Errorf("signing is not deterministic: %q then %q", value, again)
	}
}

func TestVerifyTrustCookie(t *testing.T) {
	c := testTrustClaims()
	value := mustSignTrust(t, trustKeyA, c)
	version, rest, _ := strings.Cut(value, ".")
	payload, sig, _ := strings.Cut(rest, ".")

	forged := c
	forged.UserID = "admin"
	forgedValue := mustSignTrust(t, trustKeyB, forged)
	forgedPayload := strings.Split(forgedValue, ".")[1]

	flipped := []byte(sig)
	flipped[0] ^= 'A' ^ 'B'
	if flipped[0] == sig[0] {
		flipped[0] = 'Q'
	}

	current := TrustKeys{Current: trustKeyA}
	for _, tc := range []struct {
		name  string
		keys  TrustKeys
		value string
		now   time.Time
		want  error
	}{
		{"genuine", current, value, trustNow, nil},
		{"last second", current, value, c.ExpiresAt.Add(-time.Second), nil},
		{"at expiry", current, value, c.ExpiresAt, ErrCookieExpired},
		{"after expiry", current, value, c.ExpiresAt.Add(time.Hour), ErrCookieExpired},
		{"tampered payload", current, version + "." + forgedPayload + "." + sig, trustNow, ErrCookieSignature},
		{"tampered signature", current, version + "." + payload + "." + string(flipped), trustNow, ErrCookieSignature},
		{"signature of another payload", current, version + "." + payload + "." + strings.Split(forgedValue, ".")[2], trustNow, ErrCookieSignature},
		{"unknown key", current, forgedValue, trustNow, ErrCookieSignature},
		{"signed with the previous key", TrustKeys{Current: trustKeyB, Previous: [][]byte{trustKeyA}}, value, trustNow, nil},
		{"previous key retired", TrustKeys{Current: trustKeyB}, value, trustNow, ErrCookieSignature},
		{"short keys are ignored", TrustKeys{Current: trustKeyA[:16], Previous: [][]byte{trustKeyA[:31]}}, value, trustNow, ErrCookieSignature},
		{"no keys", TrustKeys{}, value, trustNow, ErrCookieSignature},
		{"other version", current, "v2" + value[2:], trustNow, ErrCookieMalformed},
		{"no version", current, rest, trustNow, ErrCookieMalformed},
		{"extra part", current, value + ".x", trustNow, ErrCookieMalformed},
		{"truncated signature", current, value[:len(value)-2], trustNow, ErrCookieMalformed},
		{"padded signature", current, value + "=", trustNow, ErrCookieMalformed},
		{"empty", current, "", trustNow, ErrCookieMalformed},
		{"too long", current, value + strings.Repeat("A", trustCookieMaxLen), trustNow, ErrCookieMalformed},
		{"signed junk", current, signRawTrust(trustKeyA, "not json"), trustNow, ErrCookieMalformed},
		{"signed unknown field", current, signRawTrust(trustKeyA, `{"b":"x","u":"y","d":"z","iat":1,"exp":9999999999,"admin":true}`), trustNow, ErrCookieMalformed},
		{"signed trailing data", current, signRawTrust(trustKeyA, `{"b":"x","u":"y","d":"z","iat":1,"exp":9999999999}{}`), trustNow, ErrCookieMalformed},
		{"signed without user", current, signRawTrust(trustKeyA, `{"b":"x","u":"","d":"z","iat":1,"exp":9999999999}`), trustNow, ErrCookieMalformed},
		{"signed inverted times", current, signRawTrust(trustKeyA, `{"b":"x","u":"y","d":"z","iat":9999999999,"exp":1}`), trustNow, ErrCookieMalformed},
		{"signed without device", current, signRawTrust(trustKeyA, `{"b":"x","u":"y","d":"","iat":1,"exp":9999999999}`), trustNow, ErrCookieMalformed},
		{"signed minimal", current, signRawTrust(trustKeyA, `{"b":"x","u":"y","d":"z","iat":1,"exp":9999999999}`), trustNow, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := VerifyTrustCookie(tc.keys, tc.value, tc.now)
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v; want %v", err, tc.want)
			}
			if err != nil && got != (TrustClaims{}) {
				t.Errorf("refused cookie returned claims %+v", got)
			}
		})
	}
}

func TestSignTrustCookieErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		key  []byte
		edit func(*TrustClaims)
		want error
	}{
		{"short key", trustKeyA[:31], func(*TrustClaims) {}, ErrTrustKey},
		{"no key", nil, func(*TrustClaims) {}, ErrTrustKey},
		{"no browser id", trustKeyA, func(c *TrustClaims) { c.BrowserID = "" }, ErrTrustClaims},
		{"no user id", trustKeyA, func(c *TrustClaims) { c.UserID = "" }, ErrTrustClaims},
		{"no device id", trustKeyA, func(c *TrustClaims) { c.DeviceID = "" }, ErrTrustClaims},
		{"expires when issued", trustKeyA, func(c *TrustClaims) { c.ExpiresAt = c.IssuedAt }, ErrTrustClaims},
		{"expires within the issuing second", trustKeyA, func(c *TrustClaims) { c.ExpiresAt = c.IssuedAt.Add(time.Millisecond) }, ErrTrustClaims},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testTrustClaims()
			tc.edit(&c)
			if _, err := SignTrustCookie(tc.key, c); !errors.Is(err, tc.want) {
				t.Errorf("error %v; want %v", err, tc.want)
			}
		})
	}
}

func TestNewBrowserID(t *testing.T) {
	a, err := NewBrowserID(factorRand(40))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewBrowserID(factorRand(41))
	if len(a) != BrowserIDLen || !inAppPasswordAlphabet(a) || a == b {
		t.Errorf("browser ids %q, %q: want distinct %d-character lowercase Crockford ids", a, b, BrowserIDLen)
	}
	if BrowserIDLen*crockfordBits < 128 {
		t.Errorf("browser id has %d bits; want at least 128", BrowserIDLen*crockfordBits)
	}
	if _, err := NewBrowserID(failingReader{}); err == nil {
		t.Error("NewBrowserID succeeded without randomness")
	}
}

func FuzzVerifyTrustCookie(f *testing.F) {
	value := mustSignTrust(f, trustKeyA, testTrustClaims())
	for _, seed := range []string{value, value[:len(value)-1], "v1..", "v1.e30.", "", "v1." + strings.Repeat("A", 300) + ".x", strings.ReplaceAll(value, ".", "..")} {
		f.Add(seed)
	}
	keys := TrustKeys{Current: trustKeyA, Previous: [][]byte{trustKeyB}}
	f.Fuzz(func(t *testing.T, value string) {
		c, err := VerifyTrustCookie(keys, value, trustNow)
		if err != nil {
			if !errors.Is(err, ErrCookieMalformed) && !errors.Is(err, ErrCookieSignature) && !errors.Is(err, ErrCookieExpired) {
				t.Fatalf("VerifyTrustCookie(%q) unexpected error %v", value, err)
			}
			return
		}
		// Only genuine cookies are accepted, and they are in canonical form.
		if again := mustSignTrust(t, trustKeyA, c); again != value {
			t.Fatalf("accepted %q, which re-signs as %q", value, again)
		}
	})
}

func BenchmarkVerifyTrustCookie(b *testing.B) {
	value := mustSignTrust(b, trustKeyB, testTrustClaims())
	keys := TrustKeys{Current: trustKeyA, Previous: [][]byte{trustKeyB}}
	for b.Loop() {
		if _, err := VerifyTrustCookie(keys, value, trustNow); err != nil {
			b.Fatal(err)
		}
	}
}
