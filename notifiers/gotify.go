package notifiers

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
)

// GotifyConfig mirrors the notify.gotify settings. Token is the application token,
// already read from token_file by the caller.
type GotifyConfig struct {
	URL    string
	Token  string
	Events []string
}

// gotify posts alerts to a Gotify server's message API.
type gotify struct {
	endpoint *url.URL
	token    string
	client   *http.Client
}

func (g *gotify) Name() string { return "gotify" }

// gotifyPriority maps ntfy's 1-5 scale onto Gotify's 0-10, where the Android app
// stays silent below 4 and pops up from 8.
var gotifyPriority = [6]int{0, 1, 3, 5, 7, 9}

// Send posts the alert as Markdown, with a click-through to the link when there is one.
func (g *gotify) Send(ctx context.Context, a Alert) error {
	extras := map[string]any{
		"client::display": map[string]string{"contentType": "text/markdown"},
	}
	if a.Link != "" {
		extras["client::notification"] = map[string]any{"click": map[string]string{"url": a.Link}}
	}
	body, err := json.Marshal(map[string]any{
		"title":    a.Title,
		"message":  a.Markdown(),
		"priority": gotifyPriority[clampPriority(a.Priority)],
		"extras":   extras,
	})
	if err != nil {
		return err
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("X-Gotify-Key", g.token)
	return post(ctx, g.client, g.Name(), g.endpoint, h, body)
}

// clampPriority keeps a priority on the 1-5 scale.
func clampPriority(p int) int {
	return min(max(p, 1), 5)
}
