package notifiers

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jfguard/jfguard/events"
)

// Webhook headers. The event id is the idempotency id: a receiver that sees an id
// twice has seen the same alert twice.
const (
	HeaderEventID   = "X-Jfguard-Event-Id"
	HeaderEventType = "X-Jfguard-Event-Type"
	HeaderTimestamp = "X-Jfguard-Timestamp"
	HeaderSignature = "X-Jfguard-Signature"
)

// WebhookConfig mirrors one entry of notify.webhooks. Secret (read from secret_file by
// the caller) signs every request; Name, when empty, is derived from the URL so the
// sink keeps its place in the stream when the list is reordered.
type WebhookConfig struct {
	Name   string
	URL    string
	Secret string
	Events []string
}

// WebhookBody is what a webhook receives: the event envelope (payload reduced to its
// safe fields) and the alert in words.
type WebhookBody struct {
	Event    events.Event `json:"event"`
	Title    string       `json:"title"`
	Message  string       `json:"message"`
	Severity Severity     `json:"severity"`
	Priority int          `json:"priority"`
	Tags     []string     `json:"tags,omitempty"`
	Link     string       `json:"link,omitempty"`
}

// webhook posts signed JSON alerts to a URL.
type webhook struct {
	name     string
	endpoint *url.URL
	secret   string
	client   *http.Client
	now      func() time.Time
}

func (w *webhook) Name() string { return w.name }

// Send posts the alert. With a secret, the receiver can check that jfguard sent it and
// that it is recent: the signature covers the timestamp and the exact body.
func (w *webhook) Send(ctx context.Context, a Alert) error {
	body, err := webhookBody(a)
	if err != nil {
		return fmt.Errorf("%s: encode: %w", w.name, err)
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set(HeaderEventID, a.ID)
	h.Set(HeaderEventType, string(a.Type))
	if w.secret != "" {
		ts := strconv.FormatInt(w.now().Unix(), 10)
		h.Set(HeaderTimestamp, ts)
		h.Set(HeaderSignature, SignWebhook(w.secret, ts, body))
	}
	return post(ctx, w.client, w.name, w.endpoint, h, body)
}

func webhookBody(a Alert) ([]byte, error) {
	return json.Marshal(WebhookBody{
		Event:    a.Event,
		Title:    a.Title,
		Message:  a.Text(),
		Severity: a.Severity,
		Priority: a.Priority,
		Tags:     a.Tags,
		Link:     a.Link,
	})
}

// SignWebhook returns the signature header value for a body sent at timestamp (unix
// seconds as a decimal string): "sha256=" and the hex HMAC-SHA256 of "<timestamp>.<body>".
func SignWebhook(secret, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Errors of VerifyWebhookSignature, for receivers that answer them differently.
var (
	// ErrSignatureInvalid: the signature is missing, malformed or does not match.
	ErrSignatureInvalid = errors.New("webhook signature is invalid")
	// ErrSignatureExpired: the signature matches but the timestamp is too far from now,
	// so the request may be a replay.
	ErrSignatureExpired = errors.New("webhook timestamp is outside the tolerance")
)

// VerifyWebhookSignature checks a request from jfguard: header is the
// X-Jfguard-Signature value, timestamp the X-Jfguard-Timestamp value and body the raw
// request body. The comparison is constant-time; a tolerance of zero skips the check
// of the timestamp's age (receivers should set one, e.g. five minutes).
func VerifyWebhookSignature(secret, timestamp, body, header string, now time.Time, tolerance time.Duration) error {
	if secret == "" {
		return fmt.Errorf("%w: no secret to check against", ErrSignatureInvalid)
	}
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil || len(timestamp) > 20 {
		return fmt.Errorf("%w: timestamp %q is not unix seconds", ErrSignatureInvalid, clean(timestamp))
	}
	hexSig, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return fmt.Errorf("%w: expected \"sha256=<hex>\"", ErrSignatureInvalid)
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil || len(got) != sha256.Size {
		return fmt.Errorf("%w: signature is not %d hex bytes", ErrSignatureInvalid, sha256.Size)
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write([]byte(body))
	if !hmac.Equal(got, m.Sum(nil)) {
		return ErrSignatureInvalid
	}
	if tolerance > 0 {
		age := now.Sub(time.Unix(ts, 0))
		if age > tolerance || age < -tolerance {
			return fmt.Errorf("%w: sent %s from now", ErrSignatureExpired, age.Round(time.Second))
		}
	}
	return nil
}
