package domain

import (
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Errors returned by the slow secret hash. Callers branch on them to tell a
// stored hash that cannot be trusted (fail closed) from a secret that is
// simply wrong (VerifySecret returns false without an error).
var (
	// ErrHashParams means the hash parameters are outside the range this
	// package accepts: too weak to be valid or so large that verifying one
	// secret would exhaust the server.
	ErrHashParams = errors.New("secret hash: parameters out of range")
	// ErrHashMalformed means a stored hash string is not one this package
	// wrote. It is never treated as a match.
	ErrHashMalformed = errors.New("secret hash: malformed encoding")
)

// HashParams are the argon2id cost parameters of a secret hash. They travel
// inside every encoded hash, so raising them later only affects new hashes
// while old ones keep verifying.
type HashParams struct {
	// Memory is the memory cost in KiB.
	Memory uint32
	// Time is the number of passes over the memory.
	Time uint32
	// Threads is the degree of parallelism.
	Threads uint8
	// SaltLen is the length of the random salt in bytes.
	SaltLen uint32
	// KeyLen is the length of the derived hash in bytes.
	KeyLen uint32
}

// DefaultHashParams are the parameters for every stored secret: recovery
// codes, app passwords and email codes. They follow the OWASP password
// storage recommendation for argon2id (19 MiB, 2 passes, 1 lane).
//
// Email codes use them too, on purpose. A 6-digit code has only about 20 bits,
// so no hash makes offline guessing of a leaked hash infeasible; what protects
// an email code is its 5-minute life and its 5 tries (EmailCodeTTL,
// EmailCodeMaxAttempts). The slow hash still matters inside that window: it
// turns "read the code from a leaked event" into "compute half a million
// argon2id hashes on average, each taking tens of milliseconds and 19 MiB,
// within 5 minutes", which takes dozens of cores for a single code. A cheaper
// hash would save nothing worth having, since a code is hashed once and
// checked at most 5 times.
var DefaultHashParams = HashParams{
	Memory:  19456,
	Time:    2,
	Threads: 1,
	SaltLen: 16,
	KeyLen:  32,
}

// Bounds on the parameters accepted when hashing and when reading a stored
// hash. The upper bounds keep a corrupted or hostile hash string from making a
// single verification allocate gigabytes or run for minutes.
const (
	hashMaxMemory  = 256 * 1024 // KiB, 256 MiB
	hashMaxTime    = 16
	hashMaxThreads = 16
	hashMinSaltLen = 8
	hashMaxSaltLen = 64
	hashMinKeyLen  = 16
	hashMaxKeyLen  = 64
	// hashMaxEncoded bounds the encoded string before any parsing work.
	hashMaxEncoded = 256
)

const hashAlgorithm = "argon2id"

// hashB64 is the PHC string format's base64: standard alphabet, no padding.
var hashB64 = base64.RawStdEncoding.Strict()

// validate reports ErrHashParams unless p is within the accepted bounds.
func (p HashParams) validate() error {
	switch {
	case p.Threads < 1 || p.Threads > hashMaxThreads,
		p.Time < 1 || p.Time > hashMaxTime,
		p.Memory < 8*uint32(p.Threads) || p.Memory > hashMaxMemory,
		p.SaltLen < hashMinSaltLen || p.SaltLen > hashMaxSaltLen,
		p.KeyLen < hashMinKeyLen || p.KeyLen > hashMaxKeyLen:
		return fmt.Errorf("%w: m=%d t=%d p=%d salt=%d key=%d",
			ErrHashParams, p.Memory, p.Time, p.Threads, p.SaltLen, p.KeyLen)
	}
	return nil
}

// HashSecret derives a salted argon2id hash of secret and encodes it as a
// self-describing PHC string, `$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`.
// The salt comes from rand so tests can be deterministic; in production rand
// is crypto/rand.Reader.
func HashSecret(secret []byte, rand io.Reader, params HashParams) (string, error) {
	if err := params.validate(); err != nil {
		return "", err
	}
	salt := make([]byte, params.SaltLen)
	if _, err := io.ReadFull(rand, salt); err != nil {
		return "", fmt.Errorf("secret hash: read salt: %w", err)
	}
	key := argon2.IDKey(secret, salt, params.Time, params.Memory, params.Threads, params.KeyLen)
	return fmt.Sprintf("$%s$v=%d$%s$%s$%s", hashAlgorithm, argon2.Version,
		formatHashParams(params), hashB64.EncodeToString(salt), hashB64.EncodeToString(key)), nil
}

// VerifySecret reports whether secret matches an encoded hash written by
// HashSecret. It reads the parameters from the string, refuses any string it
// did not write or whose parameters are out of range (ErrHashMalformed or
// ErrHashParams, never a match), and compares in constant time.
func VerifySecret(encoded string, secret []byte) (bool, error) {
	params, salt, want, err := parseSecretHash(encoded)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey(secret, salt, params.Time, params.Memory, params.Threads, params.KeyLen)
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

func formatHashParams(p HashParams) string {
	return fmt.Sprintf("m=%d,t=%d,p=%d", p.Memory, p.Time, p.Threads)
}

// parseSecretHash splits and checks an encoded hash. It accepts only the
// canonical form HashSecret writes, so two spellings of one hash cannot exist.
func parseSecretHash(encoded string) (HashParams, []byte, []byte, error) {
	var p HashParams
	if len(encoded) > hashMaxEncoded {
		return p, nil, nil, fmt.Errorf("%w: too long", ErrHashMalformed)
	}
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" {
		return p, nil, nil, fmt.Errorf("%w: want 5 fields", ErrHashMalformed)
	}
	if parts[1] != hashAlgorithm {
		return p, nil, nil, fmt.Errorf("%w: algorithm %q", ErrHashMalformed, parts[1])
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, fmt.Errorf("%w: version %q", ErrHashMalformed, parts[2])
	}
	var ok bool
	if p, ok = parseHashParams(parts[3]); !ok {
		return p, nil, nil, fmt.Errorf("%w: parameters %q", ErrHashMalformed, parts[3])
	}
	salt, err := hashB64.DecodeString(parts[4])
	if err != nil {
		return p, nil, nil, fmt.Errorf("%w: salt", ErrHashMalformed)
	}
	key, err := hashB64.DecodeString(parts[5])
	if err != nil {
		return p, nil, nil, fmt.Errorf("%w: hash", ErrHashMalformed)
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key))
	if err := p.validate(); err != nil {
		return p, nil, nil, err
	}
	return p, salt, key, nil
}

// parseHashParams reads "m=<n>,t=<n>,p=<n>" and insists the text is exactly
// what formatHashParams would write for the values read.
func parseHashParams(s string) (HashParams, bool) {
	var p HashParams
	fields := strings.Split(s, ",")
	if len(fields) != 3 {
		return p, false
	}
	var vals [3]uint64
	for i, name := range []string{"m=", "t=", "p="} {
		digits, found := strings.CutPrefix(fields[i], name)
		if !found {
			return p, false
		}
		v, err := strconv.ParseUint(digits, 10, 32)
		if err != nil {
			return p, false
		}
		vals[i] = v
	}
	if vals[2] > 255 {
		return p, false
	}
	p.Memory, p.Time, p.Threads = uint32(vals[0]), uint32(vals[1]), uint8(vals[2])
	return p, formatHashParams(p) == s
}
