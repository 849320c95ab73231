package domain_test

import (
	"crypto/rand"
	"errors"
	"fmt"
	mathrand "math/rand/v2"
	"time"

	"github.com/jfguard/jfguard/domain"
)

// The examples use a seeded generator so their output is fixed. Production
// code passes crypto/rand.Reader wherever an io.Reader supplies randomness.
func seeded() *mathrand.ChaCha8 {
	return mathrand.NewChaCha8([32]byte{'j', 'f', 'g'})
}

func ExampleVerifyTOTP() {
	// The RFC 6238 test key at Unix time 1111111109, where the code is 081804.
	secret := "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
	now := time.Unix(1111111109, 0)

	var lastUsed int64 // the secret has never been used
	step, err := domain.VerifyTOTP(secret, "081 804", now, lastUsed)
	fmt.Println(step, err)
	lastUsed = step // persisted with the factor_verified event

	_, err = domain.VerifyTOTP(secret, "081804", now.Add(10*time.Second), lastUsed)
	fmt.Println(errors.Is(err, domain.ErrCodeReused))
	_, err = domain.VerifyTOTP(secret, "81804", now, lastUsed)
	fmt.Println(errors.Is(err, domain.ErrCodeFormat))
	// Output:
	// 37037036 <nil>
	// true
	// true
}

func ExampleNewTOTPSecret() {
	key, err := domain.NewTOTPSecret("Jellyfin", "alice", seeded())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(key.Secret))
	png, err := domain.TOTPQRCode(key.URI, 256)
	fmt.Println(string(png[1:4]), err)
	// Output:
	// 32
	// PNG <nil>
}

func ExampleMatchRecoveryCode() {
	plain, stored, err := domain.NewRecoveryCodes(seeded(), domain.DefaultHashParams)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(plain), plain[0])

	used := make([]bool, len(stored))
	i, err := domain.MatchRecoveryCode(stored, used, plain[4])
	fmt.Println(plain[4], i, err)
	used[i] = true

	// Case, grouping and the look-alikes O, I, L do not matter: this is the
	// same code, now used.
	_, err = domain.MatchRecoveryCode(stored, used, "irqt oc4c ma6o kxah mfoq")
	fmt.Println(errors.Is(err, domain.ErrCodeReused))
	// Output:
	// 10 5VSG-9X9A-0770-908T-R15Z
	// 1RQT-0C4C-MA60-KXAH-MF0Q 4 <nil>
	// true
}

func ExampleParseAppPassword() {
	plain, id, hash, err := domain.NewAppPassword(seeded(), domain.DefaultHashParams)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(plain)

	// At sign-in: look the hash up by id, then verify the secret.
	gotID, secret, ok := domain.ParseAppPassword(plain)
	fmt.Println(ok, gotID == id, domain.VerifyAppPassword(hash, secret))

	// An ordinary password is not an app password and goes to Jellyfin.
	_, _, ok = domain.ParseAppPassword("correct horse battery staple")
	fmt.Println(ok)
	// Output:
	// jfg_5vsg9x9a0770_908tr15zk7e8c1hvw1c7nfedy7
	// true true true
	// false
}

func ExampleVerifyTrustCookie() {
	oldKey := make([]byte, 32)
	newKey := make([]byte, 32)
	if _, err := rand.Read(oldKey); err != nil {
		fmt.Println(err)
		return
	}
	if _, err := rand.Read(newKey); err != nil {
		fmt.Println(err)
		return
	}
	secret, err := domain.NewTrustSecret(seeded())
	if err != nil {
		fmt.Println(err)
		return
	}
	value, err := domain.SignTrustCookie(oldKey, secret)
	if err != nil {
		fmt.Println(err)
		return
	}

	// During a key rotation's grace the old key still verifies the cookies it
	// signed; what comes out is the hash the server looks the browser up by.
	hash, err := domain.VerifyTrustCookie(domain.TrustKeys{Current: newKey, Previous: [][]byte{oldKey}}, value)
	fmt.Println(hash == secret.Hash(), err)

	// After the grace they are refused before any lookup.
	_, err = domain.VerifyTrustCookie(domain.TrustKeys{Current: newKey}, value)
	fmt.Println(err)
	// Output:
	// true <nil>
	// trust cookie: bad signature
}

func ExampleNewEmailCode() {
	code, err := domain.NewEmailCode(seeded())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(code)
	hash, _ := domain.HashEmailCode(code, seeded(), domain.DefaultHashParams)
	fmt.Println(domain.VerifyEmailCode(hash, code[:3]+" "+code[3:]))
	fmt.Println(domain.VerifyEmailCode(hash, "12345"))
	// Output:
	// 679312
	// <nil>
	// code: wrong format
}

func ExampleHashSecret() {
	hash, err := domain.HashSecret([]byte("a secret"), seeded(), domain.DefaultHashParams)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(hash)
	ok, err := domain.VerifySecret(hash, []byte("a secret"))
	fmt.Println(ok, err)
	// Output:
	// $argon2id$v=19$m=19456,t=2,p=1$JTvZkOkdaWpg5wcgiUComg$Wxr4VV9MZ6IMOQ7xD4ryKBfUqgWWy4uMEf32/tcJ8qQ
	// true <nil>
}
