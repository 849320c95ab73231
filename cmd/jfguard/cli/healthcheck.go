package cli

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// HealthcheckCmd asks a running jfguard whether it is up, for container health
// checks: a minimal image has no curl, so the binary checks itself. It reads only
// the listen address from the settings (no secrets), so it works wherever the
// service's settings are.
type HealthcheckCmd struct {
	URL     string        `help:"URL to check (default: /jfguard/healthz at the settings' listen address)." placeholder:"URL"`
	Timeout time.Duration `default:"5s" help:"Give up after this long."`
}

// Run exits 0 when the URL answers 200, 1 otherwise.
func (c *HealthcheckCmd) Run(ctx context.Context, g *Globals) error {
	target := c.URL
	if target == "" {
		over := map[string]string{}
		if g.Listen != "" {
			over["listen"] = g.Listen
		}
		s, err := LoadSettings(g.Config, g.configSet, g.environ, over)
		if err != nil {
			return exitError{code: 1, msg: "unhealthy: " + err.Error()}
		}
		if target, err = healthzURL(s.Listen); err != nil {
			return exitError{code: 1, msg: "unhealthy: " + err.Error()}
		}
	}
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return exitError{code: 1, msg: fmt.Sprintf("unhealthy: %s: %v", target, err)}
	}
	client := &http.Client{
		// A redirect is not health: the check asks jfguard itself, nothing else.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	if err != nil {
		return exitError{code: 1, msg: fmt.Sprintf("unhealthy: %s: %v", target, err)}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return exitError{code: 1, msg: fmt.Sprintf("unhealthy: %s answered %s", target, resp.Status)}
	}
	fmt.Fprintf(g.stdout, "healthy: %s\n", target)
	return nil
}

// healthzURL is the health URL of a listen address: an address that listens on
// every interface is asked on loopback.
func healthzURL(listen string) (string, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("setting listen = %q: %v", listen, err)
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/jfguard/healthz", nil
}
