package domain

import (
	"bytes"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"image/png"
	"io"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"
)

// Errors shared by every code check in this package: TOTP, recovery codes and
// email codes. Handlers branch on them to choose the message and to decide
// whether the attempt counts toward lockout.
var (
	// ErrCodeFormat means the input cannot be a code of the expected kind
	// (wrong length or characters). No secret was consulted.
	ErrCodeFormat = errors.New("code: wrong format")
	// ErrCodeInvalid means the code is well formed but does not match.
	ErrCodeInvalid = errors.New("code: invalid")
	// ErrCodeReused means the code matched but was already used once.
	ErrCodeReused = errors.New("code: already used")
)

// Errors specific to TOTP enrollment and verification.
var (
	// ErrTOTPSecret means a stored TOTP secret is not base32 or is shorter
	// than 128 bits; verification fails closed.
	ErrTOTPSecret = errors.New("totp: unusable secret")
	// ErrTOTPLabel means the issuer or account name cannot be put in an
	// otpauth URI unambiguously.
	ErrTOTPLabel = errors.New("totp: invalid issuer or account name")
	// ErrQRSize means the requested QR image size is out of range.
	ErrQRSize = errors.New("totp: QR image size out of range")
)

// TOTP parameters. They are the ones every authenticator app supports
// (Google Authenticator ignores anything else), so they are fixed.
const (
	// TOTPPeriod is the length of one time step.
	TOTPPeriod = 30 * time.Second
	// TOTPDigits is the number of digits in a code.
	TOTPDigits = 6
	// TOTPSecretBytes is the size of a new secret: 160 bits, the HMAC-SHA1
	// output size recommended by RFC 4226.
	TOTPSecretBytes = 20
	// totpMinSecretBytes is RFC 4226's minimum key length, 128 bits.
	totpMinSecretBytes = 16
	// totpSkew is how many steps before and after the current one are
	// accepted, to absorb clock drift and the time it takes to type.
	totpSkew = 1
	// QR image bounds in pixels: below the minimum the code does not fit,
	// above the maximum the image only wastes memory.
	qrMinSize = 64
	qrMaxSize = 1024
	// codeMaxInput bounds any typed code before normalization work.
	codeMaxInput = 64
)

// TOTPKey is a freshly generated TOTP secret and the otpauth URI an
// authenticator app scans to enroll it. Both are secret: the URI contains the
// seed.
type TOTPKey struct {
	// Secret is the seed in base32 without padding (32 characters).
	Secret string
	// URI is otpauth://totp/Issuer:account?...&secret=... with the algorithm,
	// digits and period spelled out.
	URI string
}

var totpOpts = hotp.ValidateOpts{Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// NewTOTPSecret generates a 160-bit TOTP seed from rand and the enrollment URI
// for it, labelled "issuer:account". The issuer may not contain a colon, since
// apps split the label on the first one.
func NewTOTPSecret(issuer, account string, rand io.Reader) (TOTPKey, error) {
	if issuer == "" || account == "" || strings.Contains(issuer, ":") {
		return TOTPKey{}, fmt.Errorf("%w: issuer %q, account %q", ErrTOTPLabel, issuer, account)
	}
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer:      issuer,
		AccountName: account,
		Period:      uint(TOTPPeriod / time.Second),
		SecretSize:  TOTPSecretBytes,
		Digits:      otp.DigitsSix,
		Algorithm:   otp.AlgorithmSHA1,
		Rand:        rand,
	})
	if err != nil {
		return TOTPKey{}, fmt.Errorf("totp: generate: %w", err)
	}
	return TOTPKey{Secret: key.Secret(), URI: key.String()}, nil
}

// TOTPQRCode renders an otpauth URI as a size×size PNG QR code for the
// enrollment page.
func TOTPQRCode(uri string, size int) ([]byte, error) {
	if size < qrMinSize || size > qrMaxSize {
		return nil, fmt.Errorf("%w: %d (want %d to %d)", ErrQRSize, size, qrMinSize, qrMaxSize)
	}
	key, err := otp.NewKeyFromURL(uri)
	if err != nil {
		return nil, fmt.Errorf("totp: parse uri: %w", err)
	}
	img, err := key.Image(size, size)
	if err != nil {
		return nil, fmt.Errorf("totp: render QR: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("totp: encode PNG: %w", err)
	}
	return buf.Bytes(), nil
}

// TOTPStep returns the time step that contains now.
func TOTPStep(now time.Time) int64 {
	period := int64(TOTPPeriod / time.Second)
	u := now.Unix()
	step := u / period
	if u%period < 0 {
		step--
	}
	return step
}

// VerifyTOTP checks a typed code against secret at time now. It accepts the
// codes of the current step and of one step either side, and returns the step
// that matched. A code is single use because the caller persists that step and
// passes it back as lastUsedStep: any code whose step is not after it is
// refused with ErrCodeReused. Pass 0 when the secret has never been used.
//
// Spaces and dashes in the code are ignored; anything other than 6 ASCII
// digits is ErrCodeFormat. Every candidate step is computed and compared in
// constant time, so the response time does not reveal which step matched.
func VerifyTOTP(secret, code string, now time.Time, lastUsedStep int64) (step int64, err error) {
	typed, ok := normalizeDigits(code, TOTPDigits)
	if !ok {
		return 0, ErrCodeFormat
	}
	if err := checkTOTPSecret(secret); err != nil {
		return 0, err
	}
	current := TOTPStep(now)
	var fresh, stale int64 = -1, -1
	for s := current - totpSkew; s <= current+totpSkew; s++ {
		if s < 0 {
			continue
		}
		want, err := hotp.GenerateCodeCustom(secret, uint64(s), totpOpts)
		if err != nil {
			return 0, fmt.Errorf("%w: %v", ErrTOTPSecret, err)
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(typed)) != 1 {
			continue
		}
		// When two steps share a code, keep the latest: it burns both.
		if s > lastUsedStep {
			fresh = s
		} else {
			stale = s
		}
	}
	switch {
	case fresh >= 0:
		return fresh, nil
	case stale >= 0:
		return 0, ErrCodeReused
	default:
		return 0, ErrCodeInvalid
	}
}

// checkTOTPSecret refuses a secret that is not base32 or too short. An empty
// secret would otherwise produce valid-looking codes from an empty HMAC key.
func checkTOTPSecret(secret string) error {
	s := strings.ToUpper(strings.TrimRight(secret, "="))
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(s)
	if err != nil || len(raw) < totpMinSecretBytes {
		return ErrTOTPSecret
	}
	return nil
}

// normalizeDigits removes spaces and dashes from a typed numeric code and
// returns it if exactly n ASCII digits remain.
func normalizeDigits(code string, n int) (string, bool) {
	if len(code) > codeMaxInput {
		return "", false
	}
	out := make([]byte, 0, n)
	for i := 0; i < len(code); i++ {
		c := code[i]
		switch {
		case c == ' ' || c == '-':
		case c >= '0' && c <= '9' && len(out) < n:
			out = append(out, c)
		default:
			return "", false
		}
	}
	if len(out) != n {
		return "", false
	}
	return string(out), true
}
