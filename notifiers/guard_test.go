package notifiers

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
)

// TestBlockedAddr: every address class inside a network is refused, in IPv4, IPv6 and
// IPv4-mapped or NAT64 forms; public addresses pass.
func TestBlockedAddr(t *testing.T) {
	t.Parallel()
	blocked := []string{
		"127.0.0.1", "127.8.9.10", "::1", "10.0.0.1", "172.16.5.4", "192.168.1.10",
		"169.254.169.254", "fe80::1", "fc00::1", "fd12:3456::1", "0.0.0.0", "::",
		"224.0.0.1", "ff02::1", "100.64.0.1", "100.127.255.254", "255.255.255.255", "0.1.2.3",
		"::ffff:127.0.0.1", "::ffff:10.1.2.3", "::ffff:169.254.169.254", "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe",
	}
	public := []string{"8.8.8.8", "1.1.1.1", "100.128.0.1", "172.32.0.1", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"}
	for _, s := range blocked {
		if !blockedAddr(netip.MustParseAddr(s)) {
			t.Errorf("%s is not blocked", s)
		}
	}
	for _, s := range public {
		if blockedAddr(netip.MustParseAddr(s)) {
			t.Errorf("%s is blocked", s)
		}
	}
}

// probe sends a test alert to url through a webhook sink with the given allow list.
func probe(t *testing.T, url string, allow ...string) error {
	t.Helper()
	n, err := New(Options{Webhooks: []WebhookConfig{{Name: "probe", URL: url}}, AllowPrivateHosts: allow})
	if err != nil {
		t.Fatal(err)
	}
	return n.SendTest(context.Background(), "probe")
}

// TestGuardRefusesInternalDestinations: HTTP sinks do not reach loopback, private,
// link-local (cloud metadata) or a host name resolving to loopback, checked on the
// address actually connected to; an allowed host, as written in the URL, is reached.
// Redirects are not followed.
func TestGuardRefusesInternalDestinations(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, nil)
	port := rc.Listener.Addr().(interface{ AddrPort() netip.AddrPort }).AddrPort().Port()
	p := func(host string) string { return "http://" + host + ":" + strconv.Itoa(int(port)) + "/hook" }

	for _, url := range []string{
		p("127.0.0.1"), p("[::1]"), p("localhost"), p("[::ffff:127.0.0.1]"),
		"http://10.0.0.1:9/hook", "http://169.254.169.254/latest/meta-data/", "https://192.168.1.1/",
	} {
		err := probe(t, url)
		if !errors.Is(err, ErrBlockedAddress) {
			t.Errorf("%s: err = %v, want ErrBlockedAddress", url, err)
		}
	}
	// The allow list matches the host as written: allowing the IP does not allow a
	// name that resolves to it.
	if err := probe(t, p("localhost"), "127.0.0.1"); !errors.Is(err, ErrBlockedAddress) {
		t.Errorf("localhost with 127.0.0.1 allowed: err = %v, want ErrBlockedAddress", err)
	}
	if got := len(rc.requests()); got != 0 {
		t.Fatalf("the receiver got %d requests through the guard", got)
	}

	if err := probe(t, p("localhost"), "LocalHost"); err != nil {
		t.Fatalf("allowed host: %v", err)
	}
	if err := probe(t, p("127.0.0.1"), "127.0.0.1"); err != nil {
		t.Fatalf("allowed IP: %v", err)
	}
	if got := len(rc.requests()); got != 2 {
		t.Fatalf("the receiver got %d requests from allowed hosts, want 2", got)
	}

	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, p("127.0.0.1"), http.StatusTemporaryRedirect)
	}))
	defer redirect.Close()
	err := probe(t, redirect.URL, "127.0.0.1")
	if err == nil || !strings.Contains(err.Error(), "307") {
		t.Fatalf("redirect: err = %v, want the 307 reported as a failure", err)
	}
	if got := len(rc.requests()); got != 2 {
		t.Fatalf("the redirect was followed (%d requests)", got)
	}
}
