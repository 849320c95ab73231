package domain

import (
	"crypto/subtle"
	"fmt"
	"io"
	"strings"

	"github.com/jfguard/jfguard/events"
)

// Recovery code layout. A code is 20 Crockford base32 characters shown in
// five groups of four, for example "7K2Q-M9XD-3FHV-T8RA-QW5N":
//
//   - the first group is the tag (4 characters, 20 bits). It is stored in
//     clear so a typed code finds its one candidate hash without trying all
//     ten; it is not secret and does not count toward the code's strength;
//   - the other 16 characters are the secret: 16 × 5 = 80 bits, stored only
//     as a slow hash.
const (
	// RecoveryCodeCount is how many codes one enrollment produces.
	RecoveryCodeCount = 10
	// RecoveryTagLen is the length of the public lookup tag.
	RecoveryTagLen = 4
	// RecoverySecretLen is the length of the secret part.
	RecoverySecretLen = 16
	// RecoverySecretBits is the entropy of one code, tag excluded.
	RecoverySecretBits = RecoverySecretLen * crockfordBits
	recoveryCodeLen    = RecoveryTagLen + RecoverySecretLen
	recoveryGroupLen   = 4
	// recoveryMaxInput bounds a typed code before normalization work.
	recoveryMaxInput = 128
)

// crockfordAlphabet is Crockford's base32: digits and letters without I, L,
// O and U, so a code read aloud or copied by hand has no look-alikes.
const (
	crockfordAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	crockfordBits     = 5
)

// RecoveryCode is one stored recovery code: its public tag and the slow hash
// of its secret part. The plain code is shown to the user once and never kept.
// It is the type the recovery_codes_generated event carries, so a user's
// folded codes pass to MatchRecoveryCode as they are.
type RecoveryCode = events.RecoveryCode

// NewRecoveryCodes generates RecoveryCodeCount recovery codes from rand. It
// returns the codes to show the user (formatted in groups) and the values to
// store. Tags are distinct within a set, so a typed code matches at most one
// stored entry.
func NewRecoveryCodes(rand io.Reader, params HashParams) (plain []string, stored []RecoveryCode, err error) {
	if err := params.validate(); err != nil {
		return nil, nil, err
	}
	plain = make([]string, 0, RecoveryCodeCount)
	stored = make([]RecoveryCode, 0, RecoveryCodeCount)
	tags := make(map[string]bool, RecoveryCodeCount)
	for len(plain) < RecoveryCodeCount {
		code, err := randomCrockford(rand, recoveryCodeLen, crockfordAlphabet)
		if err != nil {
			return nil, nil, fmt.Errorf("recovery codes: %w", err)
		}
		tag, secret := code[:RecoveryTagLen], code[RecoveryTagLen:]
		if tags[tag] {
			continue
		}
		tags[tag] = true
		hash, err := HashSecret([]byte(secret), rand, params)
		if err != nil {
			return nil, nil, fmt.Errorf("recovery codes: %w", err)
		}
		plain = append(plain, formatRecoveryCode(code))
		stored = append(stored, RecoveryCode{Tag: tag, Hash: hash})
	}
	return plain, stored, nil
}

// MatchRecoveryCode finds which stored code a typed input is and returns its
// index, which the caller marks used. used[i] tells whether stored[i] was used
// already (a shorter slice means the rest are unused).
//
// The input is forgiving: case, spaces and dashes are ignored and the
// look-alikes O, I and L read as 0, 1 and 1. Anything that still is not 20
// Crockford characters is ErrCodeFormat. Every well-formed attempt costs
// exactly one slow hash: the tag is looked up in constant time over all
// tags, and when no tag matches a hash is still computed and discarded. A
// correct code that was used before is ErrCodeReused; anything else is
// ErrCodeInvalid.
func MatchRecoveryCode(stored []RecoveryCode, used []bool, input string) (index int, err error) {
	code, ok := normalizeRecoveryCode(input)
	if !ok {
		return -1, ErrCodeFormat
	}
	if len(stored) == 0 {
		return -1, ErrCodeInvalid
	}
	tag, secret := []byte(code[:RecoveryTagLen]), []byte(code[RecoveryTagLen:])
	found := 0
	index = 0
	for i, sc := range stored {
		eq := subtle.ConstantTimeCompare([]byte(sc.Tag), tag)
		index = subtle.ConstantTimeSelect(eq&(1-found), i, index)
		found |= eq
	}
	match, err := VerifySecret(stored[index].Hash, secret)
	switch {
	case err != nil:
		return -1, fmt.Errorf("recovery code %d: %w", index, err)
	case found == 0 || !match:
		return -1, ErrCodeInvalid
	case index < len(used) && used[index]:
		return -1, ErrCodeReused
	}
	return index, nil
}

// normalizeRecoveryCode turns a typed recovery code into its canonical 20
// characters, or reports false if it cannot be one.
func normalizeRecoveryCode(input string) (string, bool) {
	if len(input) > recoveryMaxInput {
		return "", false
	}
	out := make([]byte, 0, recoveryCodeLen)
	for i := 0; i < len(input); i++ {
		c := input[i]
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		switch c {
		case ' ', '\t', '-':
			continue
		case 'O':
			c = '0'
		case 'I', 'L':
			c = '1'
		}
		if len(out) == recoveryCodeLen || strings.IndexByte(crockfordAlphabet, c) < 0 {
			return "", false
		}
		out = append(out, c)
	}
	if len(out) != recoveryCodeLen {
		return "", false
	}
	return string(out), true
}

// formatRecoveryCode splits a canonical code into dash-separated groups.
func formatRecoveryCode(code string) string {
	var b strings.Builder
	for i := 0; i < len(code); i += recoveryGroupLen {
		if i > 0 {
			b.WriteByte('-')
		}
		b.WriteString(code[i:min(i+recoveryGroupLen, len(code))])
	}
	return b.String()
}

// randomCrockford returns n characters drawn uniformly from a 32-character
// alphabet. Each character uses the low 5 bits of one random byte; 256 is a
// multiple of 32, so there is no bias.
func randomCrockford(rand io.Reader, n int, alphabet string) (string, error) {
	buf := make([]byte, n)
	if _, err := io.ReadFull(rand, buf); err != nil {
		return "", fmt.Errorf("read random: %w", err)
	}
	for i, b := range buf {
		buf[i] = alphabet[b&(1<<crockfordBits-1)]
	}
	return string(buf), nil
}
