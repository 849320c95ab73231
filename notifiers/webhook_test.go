package notifiers

import (
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"
)

// TestVerifyWebhookSignature: a signature made by jfguard verifies; a changed body, a
// wrong secret, a malformed header or an old timestamp does not.
func TestVerifyWebhookSignature(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	ts := strconv.FormatInt(now.Unix(), 10)
	body := `{"event":{"id":"e1"}}`
	sig := SignWebhook("s3cret", ts, []byte(body))
	cases := []struct {
		name                  string
		secret, ts, body, sig string
		at                    time.Time
		want                  error
	}{
		{"valid", "s3cret", ts, body, sig, now, nil},
		{"valid within tolerance", "s3cret", ts, body, sig, now.Add(4 * time.Minute), nil},
		{"body changed", "s3cret", ts, body + " ", sig, now, ErrSignatureInvalid},
		{"wrong secret", "other", ts, body, sig, now, ErrSignatureInvalid},
		{"timestamp changed", "s3cret", strconv.FormatInt(now.Unix()+1, 10), body, sig, now, ErrSignatureInvalid},
		{"no scheme", "s3cret", ts, body, sig[len("sha256="):], now, ErrSignatureInvalid},
		{"not hex", "s3cret", ts, body, "sha256=zz", now, ErrSignatureInvalid},
		{"empty", "s3cret", ts, body, "", now, ErrSignatureInvalid},
		{"bad timestamp", "s3cret", "yesterday", body, sig, now, ErrSignatureInvalid},
		{"no secret", "", ts, body, sig, now, ErrSignatureInvalid},
		{"replayed later", "s3cret", ts, body, sig, now.Add(10 * time.Minute), ErrSignatureExpired},
		{"from the future", "s3cret", ts, body, sig, now.Add(-10 * time.Minute), ErrSignatureExpired},
	}
	for _, c := range cases {
		err := VerifyWebhookSignature(c.secret, c.ts, c.body, c.sig, c.at, 5*time.Minute)
		if !errors.Is(err, c.want) || (c.want == nil && err != nil) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}
}

// FuzzVerifyWebhookSignature: headers come from the network; no input panics, and
// nothing but the real signature verifies.
func FuzzVerifyWebhookSignature(f *testing.F) {
	f.Add("1800000000", "sha256=00", "{}")
	f.Add("", "", "")
	f.Add("-1", "sha256="+string(make([]byte, 64)), "x")
	f.Fuzz(func(t *testing.T, ts, header, body string) {
		err := VerifyWebhookSignature("k", ts, body, header, time.Unix(1_800_000_000, 0), time.Minute)
		if err == nil && header != SignWebhook("k", ts, []byte(body)) {
			t.Fatalf("forged signature %q accepted", header)
		}
	})
}

// A receiver checks each request before trusting it.
func ExampleVerifyWebhookSignature() {
	secret := "from secret_file"
	body := `{"event":{"id":"0abc","type":"lockout_started"},"title":"Locked out: alice"}`
	ts := "1800000000"
	header := SignWebhook(secret, ts, []byte(body)) // what jfguard sent in X-Jfguard-Signature

	err := VerifyWebhookSignature(secret, ts, body, header, time.Unix(1_800_000_030, 0), 5*time.Minute)
	fmt.Println(err)
	// Output: <nil>
}
