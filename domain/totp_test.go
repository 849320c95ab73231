package domain

import (
	"bytes"
	"encoding/base32"
	"errors"
	"image/png"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/hotp"
)

// rfc6238Secret is the RFC 6238 SHA1 test key "12345678901234567890" in base32.
var rfc6238Secret = base32.StdEncoding.EncodeToString([]byte("12345678901234567890"))

// totpCodeAt computes the expected code of a step independently of VerifyTOTP.
func totpCodeAt(t testing.TB, secret string, step int64) string {
	t.Helper()
	code, err := hotp.GenerateCodeCustom(secret, uint64(step), totpOpts)
	if err != nil {
		t.Fatal(err)
	}
	return code
}

func TestVerifyTOTPRFC6238Vectors(t *testing.T) {
	// RFC 6238 appendix B, SHA1 column. The RFC lists 8-digit codes; a 6-digit
	// code is the same value mod 10^6, i.e. the last six digits.
	for _, tc := range []struct {
		unix  int64
		code8 string
	}{
		{59, "94287082"},
		{1111111109, "07081804"},
		{1111111111, "14050471"},
		{1234567890, "89005924"},
		{2000000000, "69279037"},
		{20000000000, "65353130"},
	} {
		now := time.Unix(tc.unix, 0)
		code := tc.code8[2:]
		step, err := VerifyTOTP(rfc6238Secret, code, now, 0)
		if err != nil || step != tc.unix/30 {
			t.Errorf("VerifyTOTP(%s at %d) = %d, %v; want %d, nil", code, tc.unix, step, err, tc.unix/30)
		}
	}
}

func TestVerifyTOTPWindow(t *testing.T) {
	// The middle of step 37037036 (T = 1111111109 lies in it).
	now := time.Unix(37037036*30+15, 0)
	current := TOTPStep(now)
	for _, tc := range []struct {
		offset int64
		want   error
	}{
		{-3, ErrCodeInvalid},
		{-2, ErrCodeInvalid},
		{-1, nil},
		{0, nil},
		{1, nil},
		{2, ErrCodeInvalid},
		{3, ErrCodeInvalid},
	} {
		code := totpCodeAt(t, rfc6238Secret, current+tc.offset)
		step, err := VerifyTOTP(rfc6238Secret, code, now, 0)
		if !errors.Is(err, tc.want) {
			t.Errorf("offset %d: error %v; want %v", tc.offset, err, tc.want)
		}
		if err == nil && step != current+tc.offset {
			t.Errorf("offset %d: step %d; want %d", tc.offset, step, current+tc.offset)
		}
	}
}

func TestVerifyTOTPStepBoundaries(t *testing.T) {
	// The last and first second of a step belong to different steps.
	last := time.Unix(30*1000+29, 0)
	first := time.Unix(30*1000+30, 0)
	if TOTPStep(last) != 1000 || TOTPStep(first) != 1001 {
		t.Fatalf("TOTPStep = %d, %d; want 1000, 1001", TOTPStep(last), TOTPStep(first))
	}
	code := totpCodeAt(t, rfc6238Secret, 999)
	if _, err := VerifyTOTP(rfc6238Secret, code, last, 0); err != nil {
		t.Errorf("step -1 at the end of the step: %v", err)
	}
	if _, err := VerifyTOTP(rfc6238Secret, code, first, 0); !errors.Is(err, ErrCodeInvalid) {
		t.Errorf("step -2 at the start of the next step: %v; want ErrCodeInvalid", err)
	}
	if TOTPStep(time.Unix(-1, 0)) != -1 {
		t.Errorf("TOTPStep(-1s) = %d; want -1", TOTPStep(time.Unix(-1, 0)))
	}
}

func TestVerifyTOTPSingleUse(t *testing.T) {
	now := time.Unix(1111111109, 0)
	current := TOTPStep(now)
	code := totpCodeAt(t, rfc6238Secret, current)
	step, err := VerifyTOTP(rfc6238Secret, code, now, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		code     string
		at       time.Time
		lastUsed int64
		want     error
	}{
		{"same code again", code, now, step, ErrCodeReused},
		{"same code, a step later", code, now.Add(TOTPPeriod), step, ErrCodeReused},
		{"earlier step after a later one", totpCodeAt(t, rfc6238Secret, current-1), now, step, ErrCodeReused},
		{"next step", totpCodeAt(t, rfc6238Secret, current+1), now, step, nil},
		{"wrong code is invalid, not reused", "000000", now, step, ErrCodeInvalid},
		{"used step was the previous one", code, now, step - 1, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := VerifyTOTP(rfc6238Secret, tc.code, tc.at, tc.lastUsed); !errors.Is(err, tc.want) {
				t.Errorf("error %v; want %v", err, tc.want)
			}
		})
	}
}

func TestVerifyTOTPCodeFormat(t *testing.T) {
	now := time.Unix(59, 0)
	for _, tc := range []struct {
		code string
		want error
	}{
		{"287082", nil},
		{"287 082", nil},
		{"287-082", nil},
		{" 2 8 7 0 8 2 ", nil},
		{"", ErrCodeFormat},
		{"   ", ErrCodeFormat},
		{"28708", ErrCodeFormat},
		{"2870820", ErrCodeFormat},
		{"94287082", ErrCodeFormat},
		{"28708a", ErrCodeFormat},
		{"287.082", ErrCodeFormat},
		{"287\t082", ErrCodeFormat},
		{"+87082", ErrCodeFormat},
		{"２８７０８２", ErrCodeFormat},
		{"٢٨٧٠٨٢", ErrCodeFormat},
		{"287082\x00", ErrCodeFormat},
		{strings.Repeat(" ", codeMaxInput) + "287082", ErrCodeFormat},
		{"123456", ErrCodeInvalid},
	} {
		if _, err := VerifyTOTP(rfc6238Secret, tc.code, now, 0); !errors.Is(err, tc.want) {
			t.Errorf("VerifyTOTP(%q) error %v; want %v", tc.code, err, tc.want)
		}
	}
}

func TestVerifyTOTPRefusesBadSecrets(t *testing.T) {
	now := time.Unix(59, 0)
	// An empty key yields real HMAC codes; it must never verify.
	emptyKeyCode := totpCodeAt(t, "", 1)
	for _, secret := range []string{"", "GEZDGNBV", "not base32!", "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJ1", rfc6238Secret + "===="} {
		if _, err := VerifyTOTP(secret, emptyKeyCode, now, 0); !errors.Is(err, ErrTOTPSecret) {
			t.Errorf("VerifyTOTP(secret %q) error %v; want ErrTOTPSecret", secret, err)
		}
	}
	// Authenticator apps may show the secret in lowercase; it is the same secret.
	if _, err := VerifyTOTP(strings.ToLower(rfc6238Secret), "287082", now, 0); err != nil {
		t.Errorf("VerifyTOTP(lowercase secret): %v", err)
	}
}

func TestNewTOTPSecret(t *testing.T) {
	key, err := NewTOTPSecret("Jellyfin Home", "alice@example.com", factorRand(10))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(key.Secret)
	if err != nil || len(raw) != TOTPSecretBytes || len(key.Secret) != 32 || strings.Contains(key.Secret, "=") {
		t.Fatalf("secret %q: %d bytes, %v; want 32 unpadded base32 characters for 20 bytes", key.Secret, len(raw), err)
	}
	again, _ := NewTOTPSecret("Jellyfin Home", "alice@example.com", factorRand(10))
	other, _ := NewTOTPSecret("Jellyfin Home", "alice@example.com", factorRand(11))
	if again != key || other.Secret == key.Secret {
		t.Errorf("secrets do not follow the random source: %q, %q, %q", key.Secret, again.Secret, other.Secret)
	}

	u, err := url.Parse(key.URI)
	if err != nil {
		t.Fatal(err)
	}
	if u.Scheme != "otpauth" || u.Host != "totp" || u.Path != "/Jellyfin Home:alice@example.com" {
		t.Errorf("URI %q: scheme %q host %q path %q", key.URI, u.Scheme, u.Host, u.Path)
	}
	if strings.Contains(key.URI, "+") {
		t.Errorf("URI %q encodes a space as +, which authenticator apps show literally", key.URI)
	}
	q := u.Query()
	for name, want := range map[string]string{
		"secret":    key.Secret,
		"issuer":    "Jellyfin Home",
		"algorithm": "SHA1",
		"digits":    "6",
		"period":    "30",
	} {
		if got := q.Get(name); got != want {
			t.Errorf("URI parameter %s = %q; want %q", name, got, want)
		}
	}

	now := time.Unix(1700000000, 0)
	if _, err := VerifyTOTP(key.Secret, totpCodeAt(t, key.Secret, TOTPStep(now)), now, 0); err != nil {
		t.Errorf("a code from the new secret does not verify: %v", err)
	}
}

func TestNewTOTPSecretErrors(t *testing.T) {
	for _, tc := range []struct{ issuer, account string }{
		{"", "alice"},
		{"Jellyfin", ""},
		{"Jelly:fin", "alice"},
	} {
		if _, err := NewTOTPSecret(tc.issuer, tc.account, factorRand(12)); !errors.Is(err, ErrTOTPLabel) {
			t.Errorf("NewTOTPSecret(%q, %q) error %v; want ErrTOTPLabel", tc.issuer, tc.account, err)
		}
	}
	if _, err := NewTOTPSecret("Jellyfin", "alice", failingReader{}); err == nil {
		t.Error("NewTOTPSecret succeeded without randomness")
	}
}

func TestTOTPQRCode(t *testing.T) {
	key, err := NewTOTPSecret("Jellyfin", "alice", factorRand(13))
	if err != nil {
		t.Fatal(err)
	}
	img, err := TOTPQRCode(key.URI, 256)
	if err != nil {
		t.Fatal(err)
	}
	decoded, err := png.Decode(bytes.NewReader(img))
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	if b := decoded.Bounds(); b.Dx() != 256 || b.Dy() != 256 {
		t.Errorf("image is %dx%d; want 256x256", b.Dx(), b.Dy())
	}
	for _, size := range []int{-1, 0, qrMinSize - 1, qrMaxSize + 1} {
		if _, err := TOTPQRCode(key.URI, size); !errors.Is(err, ErrQRSize) {
			t.Errorf("TOTPQRCode(size %d) error %v; want ErrQRSize", size, err)
		}
	}
	if _, err := TOTPQRCode("%zz", 256); err == nil {
		t.Error("TOTPQRCode accepted an unparsable URI")
	}
}

func FuzzVerifyTOTPCodeFormat(f *testing.F) {
	now := time.Unix(59, 0)
	for _, seed := range []string{"287082", "287 082", "287-082", "", "28708a", "２８７０８２", "123456", "1-2-3-4-5-6"} {
		f.Add(seed)
	}
	stripper := strings.NewReplacer(" ", "", "-", "")
	f.Fuzz(func(t *testing.T, code string) {
		step, err := VerifyTOTP(rfc6238Secret, code, now, 0)
		digits := stripper.Replace(code)
		wellFormed := len(code) <= codeMaxInput && len(digits) == 6 && strings.Trim(digits, "0123456789") == ""
		switch {
		case !wellFormed:
			if !errors.Is(err, ErrCodeFormat) {
				t.Fatalf("VerifyTOTP(%q) error %v; want ErrCodeFormat", code, err)
			}
		case err == nil:
			if step < 0 || step > 2 || totpCodeAt(t, rfc6238Secret, step) != digits {
				t.Fatalf("VerifyTOTP(%q) accepted step %d", code, step)
			}
		case !errors.Is(err, ErrCodeInvalid):
			t.Fatalf("VerifyTOTP(%q) error %v; want nil or ErrCodeInvalid", code, err)
		}
	})
}

func BenchmarkVerifyTOTP(b *testing.B) {
	now := time.Unix(1111111109, 0)
	for b.Loop() {
		if _, err := VerifyTOTP(rfc6238Secret, "081804", now, 0); err != nil {
			b.Fatal(err)
		}
	}
}
