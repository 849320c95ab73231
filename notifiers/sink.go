package notifiers

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Sink delivers alerts to one receiver. Send must be safe to call again with the same
// alert after an error: the event id in the alert is the receiver's idempotency id.
type Sink interface {
	Name() string
	Send(ctx context.Context, a Alert) error
}

// userAgent names jfguard to receivers, so their logs show who is calling.
const userAgent = "jfguard-notifier"

// post sends one HTTP request of an HTTP sink and turns anything but a 2xx answer
// into an error that names the host, never the full URL (it may hold a secret).
func post(ctx context.Context, client *http.Client, sink string, u *url.URL, header http.Header, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s: build request: %w", sink, err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	req.Header.Set("User-Agent", userAgent)
	resp, err := client.Do(req)
	if err != nil {
		return requestError(sink, u, err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		msg := clean(strings.ToValidUTF8(string(snippet), ""))
		if len(msg) > 120 {
			msg = msg[:120]
		}
		if msg != "" {
			msg = ": " + msg
		}
		return fmt.Errorf("%s: %s answered %s%s", sink, u.Host, resp.Status, msg)
	}
	return nil
}

// joinPath appends a path segment to a base URL, keeping the base's own path (a
// receiver behind a reverse proxy often lives under a prefix).
func joinPath(base *url.URL, elem string) *url.URL {
	u := *base
	u.Path = strings.TrimRight(u.Path, "/") + "/" + elem
	u.RawPath = ""
	return &u
}
