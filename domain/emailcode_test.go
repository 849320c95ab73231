package domain

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
)

// uint32Reader yields the given values big-endian, as NewEmailCode reads them.
func uint32Reader(vals ...uint32) io.Reader {
	var b []byte
	for _, v := range vals {
		b = binary.BigEndian.AppendUint32(b, v)
	}
	return bytes.NewReader(b)
}

func TestNewEmailCodeDistribution(t *testing.T) {
	const n = 20000
	r := factorRand(50)
	var firstDigit [10]int
	leadingZero := false
	seen := map[string]bool{}
	for range n {
		code, err := NewEmailCode(r)
		if err != nil {
			t.Fatal(err)
		}
		if len(code) != EmailCodeDigits || strings.Trim(code, "0123456789") != "" {
			t.Fatalf("code %q is not 6 digits", code)
		}
		leadingZero = leadingZero || code[0] == '0'
		firstDigit[code[0]-'0']++
		seen[code] = true
	}
	if !leadingZero {
		t.Error("no code starts with 0: leading zeros are dropped")
	}
	// Each first digit expects n/10 = 2000 draws, standard deviation about 42;
	// the seed is fixed, so this bound never flakes and catches gross bias.
	for d, c := range firstDigit {
		if c < 1800 || c > 2200 {
			t.Errorf("first digit %d drawn %d times of %d", d, c, n)
		}
	}
	if len(seen) < n*99/100 {
		t.Errorf("only %d distinct codes in %d draws", len(seen), n)
	}
}

func TestNewEmailCodeRejectionSampling(t *testing.T) {
	const limit = 4_294_000_000 // the largest multiple of a million below 2^32
	for _, tc := range []struct {
		name  string
		draws []uint32
		want  string
	}{
		{"zero keeps its zeros", []uint32{0}, "000000"},
		{"small value", []uint32{4211}, "004211"},
		{"reduced mod a million", []uint32{1_234_567_890}, "567890"},
		{"last accepted value", []uint32{limit - 1}, "999999"},
		{"limit is redrawn", []uint32{limit, 7}, "000007"},
		{"maximum is redrawn", []uint32{1<<32 - 1, 1<<32 - 1, 42}, "000042"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := NewEmailCode(uint32Reader(tc.draws...))
			if err != nil || got != tc.want {
				t.Errorf("NewEmailCode = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	stuck := make([]uint32, emailCodeMaxDraws)
	for i := range stuck {
		stuck[i] = 1<<32 - 1
	}
	if _, err := NewEmailCode(uint32Reader(stuck...)); !errors.Is(err, ErrRandomSource) {
		t.Errorf("stuck source: %v; want ErrRandomSource", err)
	}
	if _, err := NewEmailCode(failingReader{}); err == nil {
		t.Error("NewEmailCode succeeded without randomness")
	}
}

func TestNormalizeEmailCode(t *testing.T) {
	for _, tc := range []struct {
		input, want string
		err         error
	}{
		{"004211", "004211", nil},
		{"004 211", "004211", nil},
		{"004-211", "004211", nil},
		{" 004211 ", "004211", nil},
		{"4211", "", ErrCodeFormat},
		{"0042110", "", ErrCodeFormat},
		{"00421O", "", ErrCodeFormat},
		{"", "", ErrCodeFormat},
	} {
		got, err := NormalizeEmailCode(tc.input)
		if got != tc.want || !errors.Is(err, tc.err) {
			t.Errorf("NormalizeEmailCode(%q) = %q, %v; want %q, %v", tc.input, got, err, tc.want, tc.err)
		}
	}
}

func TestVerifyEmailCode(t *testing.T) {
	r := factorRand(51)
	code, err := NewEmailCode(r)
	if err != nil {
		t.Fatal(err)
	}
	hash, err := HashEmailCode(code, r, factorTestParams)
	if err != nil {
		t.Fatal(err)
	}
	wrong := []byte(code)
	wrong[5] = '0' + (wrong[5]-'0'+1)%10
	for _, tc := range []struct {
		name  string
		input string
		want  error
	}{
		{"exact", code, nil},
		{"grouped", code[:3] + " " + code[3:], nil},
		{"wrong digit", string(wrong), ErrCodeInvalid},
		{"too short", code[:5], ErrCodeFormat},
		{"letters", "abcdef", ErrCodeFormat},
	} {
		if err := VerifyEmailCode(hash, tc.input); !errors.Is(err, tc.want) {
			t.Errorf("%s: VerifyEmailCode(%q) = %v; want %v", tc.name, tc.input, err, tc.want)
		}
	}
	if err := VerifyEmailCode("corrupt", code); !errors.Is(err, ErrHashMalformed) {
		t.Errorf("corrupt hash: %v; want ErrHashMalformed", err)
	}
	if _, err := HashEmailCode("12345", r, factorTestParams); !errors.Is(err, ErrCodeFormat) {
		t.Errorf("HashEmailCode of a 5-digit code: %v; want ErrCodeFormat", err)
	}
}
