package domain

import (
	"bytes"
	"errors"
	"io"
	"math/bits"
	"regexp"
	"strings"
	"testing"
)

var recoveryCodePattern = regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){4}$`)

func TestRecoveryCodeFormatMath(t *testing.T) {
	if len(crockfordAlphabet) != 1<<crockfordBits {
		t.Fatalf("alphabet has %d symbols; want %d", len(crockfordAlphabet), 1<<crockfordBits)
	}
	seen := map[rune]bool{}
	for _, c := range crockfordAlphabet {
		if seen[c] || strings.ContainsRune("ILOU", c) {
			t.Fatalf("alphabet repeats %q or holds a look-alike", c)
		}
		seen[c] = true
	}
	if RecoverySecretBits < 80 {
		t.Errorf("secret part has %d bits; want at least 80", RecoverySecretBits)
	}
	if recoveryCodeLen-RecoveryTagLen != RecoverySecretLen || RecoverySecretBits != RecoverySecretLen*bits.Len(uint(len(crockfordAlphabet)-1)) {
		t.Errorf("layout: %d characters, tag %d, secret %d (%d bits)", recoveryCodeLen, RecoveryTagLen, RecoverySecretLen, RecoverySecretBits)
	}
}

func TestRandomCrockfordIsUnbiased(t *testing.T) {
	// Every byte value once: each symbol must come out exactly 256/32 times.
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	s, err := randomCrockford(bytes.NewReader(all), 256, crockfordAlphabet)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range crockfordAlphabet {
		if n := strings.Count(s, string(c)); n != 8 {
			t.Errorf("symbol %q drawn %d times; want 8", c, n)
		}
	}
	if _, err := randomCrockford(bytes.NewReader(all[:3]), 4, crockfordAlphabet); err == nil {
		t.Error("randomCrockford succeeded on a short read")
	}
}

func TestNewRecoveryCodes(t *testing.T) {
	plain, stored, err := NewRecoveryCodes(factorRand(20), factorTestParams)
	if err != nil {
		t.Fatal(err)
	}
	if len(plain) != RecoveryCodeCount || len(stored) != RecoveryCodeCount {
		t.Fatalf("got %d codes and %d stored; want %d", len(plain), len(stored), RecoveryCodeCount)
	}
	codes, tags := map[string]bool{}, map[string]bool{}
	for i, code := range plain {
		if !recoveryCodePattern.MatchString(code) {
			t.Errorf("code %q is not five groups of four Crockford characters", code)
		}
		if codes[code] || tags[stored[i].Tag] {
			t.Errorf("code %q or tag %q repeated", code, stored[i].Tag)
		}
		codes[code], tags[stored[i].Tag] = true, true
		if stored[i].Tag != code[:RecoveryTagLen] {
			t.Errorf("stored tag %q; want the first group of %q", stored[i].Tag, code)
		}
		if strings.Contains(stored[i].Hash, code[RecoveryTagLen+1:]) {
			t.Errorf("stored hash %q contains the code", stored[i].Hash)
		}
	}

	used := make([]bool, len(stored))
	for i, code := range plain {
		got, err := MatchRecoveryCode(stored, used, code)
		if err != nil || got != i {
			t.Fatalf("MatchRecoveryCode(%q) = %d, %v; want %d, nil", code, got, err, i)
		}
		used[got] = true
		if _, err := MatchRecoveryCode(stored, used, code); !errors.Is(err, ErrCodeReused) {
			t.Errorf("second use of %q: %v; want ErrCodeReused", code, err)
		}
	}
}

func TestNewRecoveryCodesRedrawsTagCollisions(t *testing.T) {
	// The first two draws share their first four bytes, hence their tag.
	first := bytes.Repeat([]byte{1}, recoveryCodeLen)
	salt := make([]byte, factorTestParams.SaltLen)
	second := append(bytes.Repeat([]byte{1}, RecoveryTagLen), bytes.Repeat([]byte{2}, RecoverySecretLen)...)
	r := io.MultiReader(bytes.NewReader(first), bytes.NewReader(salt), bytes.NewReader(second), factorRand(21))
	plain, stored, err := NewRecoveryCodes(r, factorTestParams)
	if err != nil {
		t.Fatal(err)
	}
	tags := map[string]bool{}
	for _, sc := range stored {
		if tags[sc.Tag] {
			t.Fatalf("tag %q repeated in %v", sc.Tag, plain)
		}
		tags[sc.Tag] = true
	}
	if plain[0] != "1111-1111-1111-1111-1111" || strings.HasPrefix(plain[1], "1111") {
		t.Errorf("codes %q, %q: the colliding draw was not skipped", plain[0], plain[1])
	}
}

func TestNewRecoveryCodesErrors(t *testing.T) {
	if _, _, err := NewRecoveryCodes(failingReader{}, factorTestParams); err == nil {
		t.Error("NewRecoveryCodes succeeded without randomness")
	}
	if _, _, err := NewRecoveryCodes(factorRand(22), HashParams{}); !errors.Is(err, ErrHashParams) {
		t.Errorf("NewRecoveryCodes with zero params: %v; want ErrHashParams", err)
	}
}

func TestMatchRecoveryCodeNormalization(t *testing.T) {
	plain, stored, err := NewRecoveryCodes(factorRand(23), factorTestParams)
	if err != nil {
		t.Fatal(err)
	}
	// Find a code with a 0 and a 1 so the look-alike cases test something.
	idx := -1
	for i, code := range plain {
		if strings.Contains(code, "0") && strings.Contains(code, "1") {
			idx = i
			break
		}
	}
	if idx < 0 {
		t.Fatalf("no code holds both 0 and 1: %v", plain)
	}
	code := plain[idx]
	bare := strings.ReplaceAll(code, "-", "")
	for _, tc := range []struct {
		name  string
		input string
		want  error
	}{
		{"as shown", code, nil},
		{"lowercase", strings.ToLower(code), nil},
		{"no dashes", bare, nil},
		{"spaces", strings.ReplaceAll(code, "-", " "), nil},
		{"surrounding space and tab", "\t " + code + " ", nil},
		{"odd grouping", bare[:3] + "-" + bare[3:11] + " " + bare[11:], nil},
		{"O for 0", strings.ReplaceAll(code, "0", "O"), nil},
		{"o for 0", strings.ReplaceAll(code, "0", "o"), nil},
		{"I for 1", strings.ReplaceAll(code, "1", "I"), nil},
		{"l for 1", strings.ReplaceAll(code, "1", "l"), nil},
		{"one character short", code[:len(code)-1], ErrCodeFormat},
		{"one character long", code + "0", ErrCodeFormat},
		{"U is not Crockford", "U" + code[1:], ErrCodeFormat},
		{"punctuation", strings.ReplaceAll(code, "-", "."), ErrCodeFormat},
		{"non-ASCII", strings.Replace(code, code[:1], "Ａ", 1), ErrCodeFormat},
		{"empty", "", ErrCodeFormat},
		{"too long", strings.Repeat(" ", recoveryMaxInput) + code, ErrCodeFormat},
		{"wrong secret", code[:len(code)-1] + flipCrockford(code[len(code)-1]), ErrCodeInvalid},
		{"unknown tag", flipCrockford(code[0]) + code[1:], ErrCodeInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := MatchRecoveryCode(stored, nil, tc.input)
			if !errors.Is(err, tc.want) {
				t.Fatalf("MatchRecoveryCode(%q) error %v; want %v", tc.input, err, tc.want)
			}
			if err == nil && got != idx {
				t.Errorf("matched index %d; want %d", got, idx)
			}
		})
	}
}

// flipCrockford returns a Crockford character different from c.
func flipCrockford(c byte) string {
	i := strings.IndexByte(crockfordAlphabet, c)
	return string(crockfordAlphabet[(i+1)%len(crockfordAlphabet)])
}

func TestMatchRecoveryCodeEdgeCases(t *testing.T) {
	plain, stored, err := NewRecoveryCodes(factorRand(24), factorTestParams)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := MatchRecoveryCode(nil, nil, plain[0]); !errors.Is(err, ErrCodeInvalid) {
		t.Errorf("no stored codes: %v; want ErrCodeInvalid", err)
	}
	// A used slice shorter than stored leaves the rest unused.
	if got, err := MatchRecoveryCode(stored, []bool{true}, plain[5]); err != nil || got != 5 {
		t.Errorf("short used slice: %d, %v; want 5, nil", got, err)
	}
	// A code from another set has an unknown tag or a wrong secret.
	other, _, err := NewRecoveryCodes(factorRand(25), factorTestParams)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := MatchRecoveryCode(stored, nil, other[0]); !errors.Is(err, ErrCodeInvalid) {
		t.Errorf("code from another set: %v; want ErrCodeInvalid", err)
	}
	// A corrupted stored hash fails closed.
	broken := append([]RecoveryCode(nil), stored...)
	broken[3].Hash = "$argon2id$v=19$m=999999999,t=1,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	if _, err := MatchRecoveryCode(broken, nil, plain[3]); err == nil || errors.Is(err, ErrCodeInvalid) {
		t.Errorf("corrupted hash: %v; want a hash error", err)
	}
}

func FuzzMatchRecoveryCodeNormalize(f *testing.F) {
	plain, stored, err := NewRecoveryCodes(factorRand(26), factorTestParams)
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{plain[0], strings.ToLower(plain[1]), "OIL0-1111-2222-3333-4444", "", "----", "uuuu-uuuu-uuuu-uuuu-uuuu", "ａ"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, input string) {
		code, ok := normalizeRecoveryCode(input)
		if ok {
			if len(code) != recoveryCodeLen || strings.Trim(code, crockfordAlphabet) != "" {
				t.Fatalf("normalize(%q) = %q, not %d Crockford characters", input, code, recoveryCodeLen)
			}
			again, ok := normalizeRecoveryCode(formatRecoveryCode(code))
			if !ok || again != code {
				t.Fatalf("normalize is not stable on %q: %q, %v", code, again, ok)
			}
			if lower, ok := normalizeRecoveryCode(strings.ToLower(input)); !ok || lower != code {
				t.Fatalf("normalize(%q) depends on case", input)
			}
		}
		index, err := MatchRecoveryCode(stored, nil, input)
		switch {
		case !ok:
			if !errors.Is(err, ErrCodeFormat) {
				t.Fatalf("MatchRecoveryCode(%q) error %v; want ErrCodeFormat", input, err)
			}
		case err == nil:
			if formatRecoveryCode(code) != plain[index] {
				t.Fatalf("MatchRecoveryCode(%q) matched %q", input, plain[index])
			}
		case !errors.Is(err, ErrCodeInvalid):
			t.Fatalf("MatchRecoveryCode(%q) error %v; want ErrCodeInvalid", input, err)
		}
	})
}

func BenchmarkMatchRecoveryCode(b *testing.B) {
	plain, stored, err := NewRecoveryCodes(factorRand(27), DefaultHashParams)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := MatchRecoveryCode(stored, nil, plain[9]); err != nil {
			b.Fatal(err)
		}
	}
}
