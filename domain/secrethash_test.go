package domain

import (
	"errors"
	"io"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// factorTestParams keeps unit tests fast. Production code uses
// DefaultHashParams; TestHashSecretDefaultParams covers it.
var factorTestParams = HashParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// factorRand returns a deterministic random source so tests repeat exactly.
func factorRand(seed byte) io.Reader {
	return rand.NewChaCha8([32]byte{seed})
}

// failingReader is a random source that always fails.
type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("entropy exhausted") }

var phcPattern = regexp.MustCompile(`^\$argon2id\$v=19\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$`)

func TestHashSecretRoundTrip(t *testing.T) {
	hash, err := HashSecret([]byte("correct horse"), factorRand(1), factorTestParams)
	if err != nil {
		t.Fatal(err)
	}
	if !phcPattern.MatchString(hash) || !strings.HasPrefix(hash, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("hash %q is not the expected PHC string", hash)
	}
	for _, tc := range []struct {
		secret string
		want   bool
	}{
		{"correct horse", true},
		{"correct horsE", false},
		{"correct horse ", false},
		{"", false},
	} {
		got, err := VerifySecret(hash, []byte(tc.secret))
		if err != nil || got != tc.want {
			t.Errorf("VerifySecret(%q) = %v, %v; want %v, nil", tc.secret, got, err, tc.want)
		}
	}
}

func TestHashSecretDefaultParams(t *testing.T) {
	hash, err := HashSecret([]byte("secret"), factorRand(2), DefaultHashParams)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q does not carry the default parameters", hash)
	}
	parts := strings.Split(hash, "$")
	if len(parts[4]) != 22 || len(parts[5]) != 43 {
		t.Errorf("salt %q and hash %q are not 16 and 32 bytes", parts[4], parts[5])
	}
	if ok, err := VerifySecret(hash, []byte("secret")); !ok || err != nil {
		t.Errorf("VerifySecret = %v, %v; want true, nil", ok, err)
	}
}

func TestHashSecretIsSaltedAndDeterministicPerSource(t *testing.T) {
	a, _ := HashSecret([]byte("x"), factorRand(3), factorTestParams)
	b, _ := HashSecret([]byte("x"), factorRand(3), factorTestParams)
	c, _ := HashSecret([]byte("x"), factorRand(4), factorTestParams)
	if a != b {
		t.Errorf("same random source gave %q and %q", a, b)
	}
	if a == c {
		t.Errorf("different salts gave the same hash %q", a)
	}
}

func TestHashSecretRejectsParams(t *testing.T) {
	for _, p := range []HashParams{
		{},
		{Memory: 64, Time: 0, Threads: 1, SaltLen: 16, KeyLen: 32},
		{Memory: 64, Time: 1, Threads: 0, SaltLen: 16, KeyLen: 32},
		{Memory: 7, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		{Memory: 64, Time: 1, Threads: 9, SaltLen: 16, KeyLen: 32},
		{Memory: 1 << 20, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		{Memory: 64, Time: 100, Threads: 1, SaltLen: 16, KeyLen: 32},
		{Memory: 64, Time: 1, Threads: 1, SaltLen: 4, KeyLen: 32},
		{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 8},
		{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 1024},
	} {
		if _, err := HashSecret([]byte("x"), factorRand(5), p); !errors.Is(err, ErrHashParams) {
			t.Errorf("HashSecret(%+v) error = %v; want ErrHashParams", p, err)
		}
	}
}

func TestHashSecretRandomFailure(t *testing.T) {
	if _, err := HashSecret([]byte("x"), failingReader{}, factorTestParams); err == nil {
		t.Fatal("HashSecret succeeded without randomness")
	}
}

func TestVerifySecretFailsClosed(t *testing.T) {
	good, err := HashSecret([]byte("x"), factorRand(6), factorTestParams)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, "$")
	salt, key := parts[4], parts[5]
	with := func(alg, ver, params, salt, key string) string {
		return strings.Join([]string{"", alg, ver, params, salt, key}, "$")
	}
	for _, tc := range []struct {
		name    string
		encoded string
		want    error
	}{
		{"empty", "", ErrHashMalformed},
		{"no leading dollar", strings.TrimPrefix(good, "$"), ErrHashMalformed},
		{"extra field", good + "$", ErrHashMalformed},
		{"argon2i", with("argon2i", "v=19", "m=64,t=1,p=1", salt, key), ErrHashMalformed},
		{"old version", with("argon2id", "v=16", "m=64,t=1,p=1", salt, key), ErrHashMalformed},
		{"missing version", strings.Join([]string{"", "argon2id", "m=64,t=1,p=1", salt, key}, "$"), ErrHashMalformed},
		{"reordered params", with("argon2id", "v=19", "t=1,m=64,p=1", salt, key), ErrHashMalformed},
		{"leading zero", with("argon2id", "v=19", "m=064,t=1,p=1", salt, key), ErrHashMalformed},
		{"signed param", with("argon2id", "v=19", "m=+64,t=1,p=1", salt, key), ErrHashMalformed},
		{"extra param", with("argon2id", "v=19", "m=64,t=1,p=1,k=1", salt, key), ErrHashMalformed},
		{"threads overflow", with("argon2id", "v=19", "m=64,t=1,p=257", salt, key), ErrHashMalformed},
		{"memory overflow", with("argon2id", "v=19", "m=99999999999,t=1,p=1", salt, key), ErrHashMalformed},
		{"absurd memory", with("argon2id", "v=19", "m=4194304,t=1,p=1", salt, key), ErrHashParams},
		{"absurd time", with("argon2id", "v=19", "m=64,t=4000000,p=1", salt, key), ErrHashParams},
		{"zero time", with("argon2id", "v=19", "m=64,t=0,p=1", salt, key), ErrHashParams},
		{"zero threads", with("argon2id", "v=19", "m=64,t=1,p=0", salt, key), ErrHashParams},
		{"padded salt", with("argon2id", "v=19", "m=64,t=1,p=1", salt+"==", key), ErrHashMalformed},
		{"url base64", with("argon2id", "v=19", "m=64,t=1,p=1", "-_"+salt[2:], key), ErrHashMalformed},
		{"short salt", with("argon2id", "v=19", "m=64,t=1,p=1", "AAAA", key), ErrHashParams},
		{"short hash", with("argon2id", "v=19", "m=64,t=1,p=1", salt, "AAAA"), ErrHashParams},
		{"too long", good + strings.Repeat("A", hashMaxEncoded), ErrHashMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, err := VerifySecret(tc.encoded, []byte("x"))
			if ok || !errors.Is(err, tc.want) {
				t.Errorf("VerifySecret(%q) = %v, %v; want false, %v", tc.encoded, ok, err, tc.want)
			}
		})
	}
}

func BenchmarkHashSecret(b *testing.B) {
	for _, bc := range []struct {
		name   string
		params HashParams
	}{
		{"default", DefaultHashParams},
		{"test", factorTestParams},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := factorRand(7)
			for b.Loop() {
				if _, err := HashSecret([]byte("7K2Q-M9XD-3FHV-T8RA"), r, bc.params); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/hash")
		})
	}
}
