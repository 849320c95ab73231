package domain

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

var (
	trustKeyA = []byte("0123456789abcdef0123456789abcdef")
	trustKeyB = []byte("fedcba9876543210fedcba9876543210")
)

func testTrustSecret(t testing.TB, seed byte) TrustSecret {
	t.Helper()
	s, err := NewTrustSecret(factorRand(seed))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustSignTrust(t testing.TB, key []byte, s TrustSecret) string {
	t.Helper()
	v, err := SignTrustCookie(key, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// signRawTrust MACs an arbitrary secret part, to test what happens after the
// MAC check.
func signRawTrust(key []byte, secretPart string) string {
	signed := "v2." + secretPart
	return signed + "." + base64.RawURLEncoding.EncodeToString(trustMAC(key, signed))
}

func TestTrustCookieRoundTrip(t *testing.T) {
	s := testTrustSecret(t, 50)
	value := mustSignTrust(t, trustKeyA, s)
	if !strings.HasPrefix(value, "v2.") || strings.Count(value, ".") != 2 || strings.ContainsAny(value, "=+/ ;,") {
		t.Fatalf("value %q is not v2.<secret>.<mac> in cookie-safe base64url", value)
	}
	if len(value) != 90 {
		t.Errorf("value is %d bytes; want 90", len(value))
	}
	hash, err := VerifyTrustCookie(TrustKeys{Current: trustKeyA}, value)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(s[:])
	if hash != s.Hash() || hash != hex.EncodeToString(sum[:]) {
		t.Errorf("hash %q; want the hex SHA-256 of the secret", hash)
	}
	if again := mustSignTrust(t, trustKeyA, s); again != value {
		t.Errorf("signing is not deterministic: %q then %q", value, again)
	}
	if other := testTrustSecret(t, 51); other == s || other.Hash() == s.Hash() {
		t.Error("two random sources gave the same secret")
	}
}

// TestTrustCookieIsOpaque: the value carries the secret and its MAC, nothing a
// reader could learn anything from, in particular no user, browser or device id.
func TestTrustCookieIsOpaque(t *testing.T) {
	s := testTrustSecret(t, 52)
	value := mustSignTrust(t, trustKeyA, s)
	_, rest, _ := strings.Cut(value, ".")
	secretPart, _, _ := strings.Cut(rest, ".")
	raw, err := base64.RawURLEncoding.DecodeString(secretPart)
	if err != nil || string(raw) != string(s[:]) {
		t.Fatalf("the value's middle part is not exactly the secret: %q", secretPart)
	}
}

func TestVerifyTrustCookie(t *testing.T) {
	s := testTrustSecret(t, 53)
	value := mustSignTrust(t, trustKeyA, s)
	version, rest, _ := strings.Cut(value, ".")
	secretPart, mac, _ := strings.Cut(rest, ".")

	otherValue := mustSignTrust(t, trustKeyA, testTrustSecret(t, 54))
	otherSecret := strings.Split(otherValue, ".")[1]

	flipped := []byte(mac)
	flipped[0] ^= 'A' ^ 'B'
	if flipped[0] == mac[0] {
		flipped[0] = 'Q'
	}
	// A v1 cookie as jfguard wrote them before: readable claims, then a MAC.
	v1 := "v1.eyJiIjoiN2sycW05eGQzZmh2dDhyYXF3NW4wYzRqNmUiLCJ1IjoiZjNiOWMyYTEiLCJkIjoiVFc5NiIsImlhdCI6MSwiZXhwIjo5OTk5OTk5OTk5fQ." + mac

	current := TrustKeys{Current: trustKeyA}
	for _, tc := range []struct {
		name  string
		keys  TrustKeys
		value string
		want  error
	}{
		{"genuine", current, value, nil},
		{"another secret with this MAC", current, version + "." + otherSecret + "." + mac, ErrCookieSignature},
		{"tampered MAC", current, version + "." + secretPart + "." + string(flipped), ErrCookieSignature},
		{"MAC of another secret", current, version + "." + secretPart + "." + strings.Split(otherValue, ".")[2], ErrCookieSignature},
		{"unknown key", current, mustSignTrust(t, trustKeyB, s), ErrCookieSignature},
		{"signed with the previous key", TrustKeys{Current: trustKeyB, Previous: [][]byte{trustKeyA}}, value, nil},
		{"previous key retired", TrustKeys{Current: trustKeyB}, value, ErrCookieSignature},
		{"short keys are ignored", TrustKeys{Current: trustKeyA[:16], Previous: [][]byte{trustKeyA[:31]}}, value, ErrCookieSignature},
		{"no keys", TrustKeys{}, value, ErrCookieSignature},
		{"v1 cookie of before the upgrade", current, v1, ErrCookieMalformed},
		{"other version", current, "v3" + value[2:], ErrCookieMalformed},
		{"no version", current, rest, ErrCookieMalformed},
		{"extra part", current, value + ".x", ErrCookieMalformed},
		{"truncated MAC", current, value[:len(value)-2], ErrCookieMalformed},
		{"padded MAC", current, value + "=", ErrCookieMalformed},
		{"empty", current, "", ErrCookieMalformed},
		{"dots only", current, "..", ErrCookieMalformed},
		{"too long", current, value + strings.Repeat("A", trustCookieMaxLen), ErrCookieMalformed},
		{"MACed short secret", current, signRawTrust(trustKeyA, secretPart[:40]), ErrCookieMalformed},
		{"MACed long secret", current, signRawTrust(trustKeyA, secretPart+"AAAA"), ErrCookieMalformed},
		{"MACed secret in standard base64", current, signRawTrust(trustKeyA, base64.StdEncoding.EncodeToString(s[:])), ErrCookieMalformed},
		{"MACed secret with non-canonical last character", current, signRawTrust(trustKeyA, secretPart[:42]+"B"), ErrCookieMalformed},
		{"line break in the MAC", current, version + "." + secretPart + "." + mac[:20] + "\n" + mac[20:], ErrCookieMalformed},
		{"line break in the secret", current, signRawTrust(trustKeyA, secretPart[:20]+"\r\n"+secretPart[20:]), ErrCookieMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := VerifyTrustCookie(tc.keys, tc.value)
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v; want %v", err, tc.want)
			}
			if err != nil && got != "" {
				t.Errorf("refused cookie returned hash %q", got)
			}
			if err == nil && got != s.Hash() {
				t.Errorf("hash %q; want %q", got, s.Hash())
			}
		})
	}
}

func TestSignTrustCookieKeys(t *testing.T) {
	for _, key := range [][]byte{nil, trustKeyA[:31]} {
		if _, err := SignTrustCookie(key, testTrustSecret(t, 55)); !errors.Is(err, ErrTrustKey) {
			t.Errorf("key of %d bytes: %v; want ErrTrustKey", len(key), err)
		}
	}
}

func TestNewTrustSecretNeedsRandomness(t *testing.T) {
	if _, err := NewTrustSecret(failingReader{}); err == nil {
		t.Error("NewTrustSecret succeeded without randomness")
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

// FuzzVerifyTrustCookie feeds the parser untrusted bytes; its seed corpus is in
// testdata/fuzz/FuzzVerifyTrustCookie. Only genuine cookies may be accepted, and
// an accepted value is exactly what signing its secret produces.
func FuzzVerifyTrustCookie(f *testing.F) {
	value := mustSignTrust(f, trustKeyA, testTrustSecret(f, 56))
	for _, seed := range []string{value, value[:len(value)-1], "v2..", "v2.AAAA.", "", "v2." + strings.Repeat("A", 300) + ".x", strings.ReplaceAll(value, ".", "..")} {
		f.Add(seed)
	}
	keys := TrustKeys{Current: trustKeyA, Previous: [][]byte{trustKeyB}}
	f.Fuzz(func(t *testing.T, value string) {
		hash, err := VerifyTrustCookie(keys, value)
		if err != nil {
			if !errors.Is(err, ErrCookieMalformed) && !errors.Is(err, ErrCookieSignature) {
				t.Fatalf("VerifyTrustCookie(%q) unexpected error %v", value, err)
			}
			return
		}
		raw, decErr := base64.RawURLEncoding.DecodeString(strings.Split(value, ".")[1])
		if decErr != nil || len(raw) != TrustSecretLen {
			t.Fatalf("accepted %q, whose secret part does not decode", value)
		}
		secret := TrustSecret(raw)
		if secret.Hash() != hash {
			t.Fatalf("accepted %q with hash %q, not its secret's", value, hash)
		}
		a, _ := SignTrustCookie(trustKeyA, secret)
		b, _ := SignTrustCookie(trustKeyB, secret)
		if value != a && value != b {
			t.Fatalf("accepted %q, which no key signs that way", value)
		}
	})
}

func BenchmarkVerifyTrustCookie(b *testing.B) {
	value := mustSignTrust(b, trustKeyB, testTrustSecret(b, 57))
	keys := TrustKeys{Current: trustKeyA, Previous: [][]byte{trustKeyB}}
	for b.Loop() {
		if _, err := VerifyTrustCookie(keys, value); err != nil {
			b.Fatal(err)
		}
	}
}
