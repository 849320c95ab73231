package domain

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// Email code rules. A code is 6 decimal digits (about 20 bits), so its safety
// rests on a short life and few tries: with 5 tries an attacker's chance per
// code is 5 in a million. The challenge that sent the code enforces both
// limits; they live here so every caller uses the same numbers.
const (
	EmailCodeDigits      = 6
	EmailCodeTTL         = 5 * time.Minute
	EmailCodeMaxAttempts = 5
	emailCodeSpace       = 1_000_000
	// emailCodeMaxDraws bounds rejection sampling. A working random source
	// needs a second draw with probability 2.25e-4, so reaching the bound
	// means the source is broken.
	emailCodeMaxDraws = 16
)

// ErrRandomSource means the random source produced values that a working
// source would essentially never produce.
var ErrRandomSource = errors.New("random source is not random")

// NewEmailCode draws a 6-digit code uniformly from rand; leading zeros are
// kept ("004211"). It rejects draws above the largest multiple of a million
// that fits in 32 bits instead of reducing them, which would favour low codes.
func NewEmailCode(rand io.Reader) (string, error) {
	const limit = (1 << 32) / emailCodeSpace * emailCodeSpace
	var buf [4]byte
	for range emailCodeMaxDraws {
		if _, err := io.ReadFull(rand, buf[:]); err != nil {
			return "", fmt.Errorf("email code: read random: %w", err)
		}
		if v := binary.BigEndian.Uint32(buf[:]); v < limit {
			return fmt.Sprintf("%06d", v%emailCodeSpace), nil
		}
	}
	return "", fmt.Errorf("email code: %w", ErrRandomSource)
}

// NormalizeEmailCode returns the 6 digits of a typed email code, ignoring
// spaces and dashes, or ErrCodeFormat.
func NormalizeEmailCode(input string) (string, error) {
	code, ok := normalizeDigits(input, EmailCodeDigits)
	if !ok {
		return "", ErrCodeFormat
	}
	return code, nil
}

// HashEmailCode hashes a code for storage in the challenge; the code itself
// is only ever in the email. See DefaultHashParams for why email codes use the
// same slow hash as long-lived secrets.
func HashEmailCode(code string, rand io.Reader, params HashParams) (string, error) {
	code, err := NormalizeEmailCode(code)
	if err != nil {
		return "", err
	}
	return HashSecret([]byte(code), rand, params)
}

// VerifyEmailCode checks a typed code against the stored hash: ErrCodeFormat
// for input that is not 6 digits (no hash is computed), ErrCodeInvalid for a
// wrong code, nil for a match. Expiry, the attempt limit and single use are
// the challenge's to enforce with EmailCodeTTL and EmailCodeMaxAttempts.
func VerifyEmailCode(hash, input string) error {
	code, err := NormalizeEmailCode(input)
	if err != nil {
		return err
	}
	ok, err := VerifySecret(hash, []byte(code))
	if err != nil {
		return fmt.Errorf("email code: %w", err)
	}
	if !ok {
		return ErrCodeInvalid
	}
	return nil
}
