package notifiers

import (
	"context"
	"encoding/base64"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// DefaultNtfyURL is the public ntfy server, used when notify.ntfy.url is empty.
const DefaultNtfyURL = "https://ntfy.sh"

// NtfyConfig mirrors the notify.ntfy settings. Token (an access token) or Username
// and Password authenticate to a protected topic; Priority, when set (1-5), replaces
// every alert's own priority.
type NtfyConfig struct {
	URL      string
	Topic    string
	Token    string
	Username string
	Password string
	Priority int
	Events   []string
}

// ntfy publishes alerts to one ntfy topic.
type ntfy struct {
	endpoint *url.URL
	cfg      NtfyConfig
	client   *http.Client
}

func (n *ntfy) Name() string { return "ntfy" }

// Send publishes the alert text with its title, priority, tags and click link as
// headers, the way ntfy's publish API reads them.
func (n *ntfy) Send(ctx context.Context, a Alert) error {
	h := http.Header{}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	// ntfy decodes RFC 2047 encoded words, so titles in any script survive the header.
	h.Set("Title", mime.QEncoding.Encode("utf-8", a.Title))
	p := a.Priority
	if n.cfg.Priority != 0 {
		p = n.cfg.Priority
	}
	h.Set("Priority", strconv.Itoa(clampPriority(p)))
	if len(a.Tags) > 0 {
		h.Set("Tags", strings.Join(a.Tags, ","))
	}
	if a.Link != "" {
		h.Set("Click", a.Link)
	}
	switch {
	case n.cfg.Token != "":
		h.Set("Authorization", "Bearer "+n.cfg.Token)
	case n.cfg.Username != "":
		h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(n.cfg.Username+":"+n.cfg.Password)))
	}
	return post(ctx, n.client, n.Name(), n.endpoint, h, []byte(a.Text()))
}
