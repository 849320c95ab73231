package gateway

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
)

// newPageServer is a gateway on an embedded event store, enough to render pages.
// Jellyfin is never called: the upstream address refuses connections.
func newPageServer(t *testing.T) *Server {
	t.Helper()
	store, proj, sealer, key := newStoreDeps(t, nil)
	up, _ := url.Parse("http://127.0.0.1:1")
	return New(Options{
		Upstream: up, PublicURL: up, Store: store, Projector: proj, Sealer: sealer, Shared: sharedFor(t, store), Turns: turnsFor(t, store),
		BasePolicy: domain.DefaultPolicy(), TrustKeys: domain.TrustKeys{Current: key},
	})
}

// issueChallenge records a user with the given factors and a challenge for them,
// and returns the challenge id.
func issueChallenge(t *testing.T, s *Server, uid string, factors ...events.Payload) string {
	t.Helper()
	id := strings.Repeat("c", 24) + uid[:8]
	_, err := s.opts.Projector.ExecUser(context.Background(), uid, events.Context{Actor: uid}, func(u *domain.User, now time.Time) ([]events.Payload, error) {
		evs := append([]events.Payload{&events.UserDiscovered{Name: "alice"}}, factors...)
		return append(evs, &events.ChallengeIssued{
			ChallengeID: id, TokenHash: strings.Repeat("a", 64), Token: "v1.sealed", Methods: []string{"totp"},
			Web: true, ExpiresAt: now.Add(5 * time.Minute),
		}), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func get(t *testing.T, s *Server, path string) (*http.Response, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	res := rec.Result()
	body, _ := io.ReadAll(res.Body)
	return res, string(body)
}

var (
	scriptTag   = regexp.MustCompile(`(?is)<script\b([^>]*)>(.*?)</script>`)
	inlineEvent = regexp.MustCompile(`(?i)\son[a-z]+\s*=`)
	styleAttr   = regexp.MustCompile(`(?i)\sstyle\s*=`)
	assetRef    = regexp.MustCompile(`(?:src|href)="(/jfguard/assets/[^"]+)"`)
	wordsBlock  = regexp.MustCompile(`(?s)<script type="application/json" id="jfguard-words">.*?</script>`)
)

// TestPagesFollowTheCSP checks that every page answers, carries the security
// headers, and has nothing the Content-Security-Policy would block: no inline
// script, no inline event handler, no style attribute, and only assets that exist.
func TestPagesFollowTheCSP(t *testing.T) {
	s := newPageServer(t)
	totp := []events.Payload{&events.TOTPEnrollmentStarted{Secret: "v1.sealed"}, &events.TOTPEnrolled{Step: 1}}
	live := issueChallenge(t, s, strings.Repeat("1", 32), totp...)
	for _, tc := range []struct {
		path   string
		status int
	}{
		{"/jfguard/challenge?c=" + live, http.StatusOK},
		{"/jfguard/challenge?c=unknown", http.StatusNotFound},
		{"/jfguard/setup", http.StatusOK},
		{"/jfguard/login", http.StatusOK},
		{"/jfguard/admin", http.StatusOK},
	} {
		t.Run(tc.path, func(t *testing.T) {
			res, body := get(t, s, tc.path)
			if res.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", res.StatusCode, tc.status)
			}
			if got := res.Header.Get("Content-Security-Policy"); got != contentSecurityPolicy {
				t.Errorf("CSP = %q", got)
			}
			if got := res.Header.Get("Content-Type"); got != "text/html; charset=utf-8" {
				t.Errorf("Content-Type = %q", got)
			}
			if got := res.Header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", got)
			}
			scripts := scriptTag.FindAllStringSubmatch(body, -1)
			if len(scripts) == 0 {
				t.Error("the page loads no script")
			}
			for _, m := range scripts {
				if strings.Contains(m[1], `type="application/json"`) {
					// Data the page's script reads (its words), which the
					// browser never runs; it must be JSON.
					if !json.Valid([]byte(m[2])) {
						t.Errorf("data block is not JSON: %s", m[0])
					}
					continue
				}
				if !strings.Contains(m[1], "src=") || strings.TrimSpace(m[2]) != "" {
					t.Errorf("inline script: %s", m[0])
				}
			}
			if m := inlineEvent.FindString(body); m != "" {
				t.Errorf("inline event handler %q", m)
			}
			if m := styleAttr.FindString(body); m != "" {
				t.Errorf("style attribute %q", m)
			}
			for _, ref := range assetRef.FindAllStringSubmatch(body, -1) {
				if res, _ := get(t, s, ref[1]); res.StatusCode != http.StatusOK {
					t.Errorf("%s: status %d", ref[1], res.StatusCode)
				}
			}
		})
	}
}

// TestChallengePageShowsTheUsersFactors renders each factor only when the user has
// it: no passkey button or email form for someone with an authenticator app only.
func TestChallengePageShowsTheUsersFactors(t *testing.T) {
	s := newPageServer(t)
	totpOnly := issueChallenge(t, s, strings.Repeat("2", 32),
		&events.TOTPEnrollmentStarted{Secret: "v1.sealed"}, &events.TOTPEnrolled{Step: 1},
		&events.RecoveryCodesGenerated{Codes: []events.RecoveryCode{{Tag: "ABCD", Hash: "h"}}})
	everything := issueChallenge(t, s, strings.Repeat("3", 32),
		&events.TOTPEnrollmentStarted{Secret: "v1.sealed"}, &events.TOTPEnrolled{Step: 1},
		&events.PasskeyRegistered{CredentialID: "cred", Label: "Phone"},
		&events.EmailAddressAdded{Address: "v1.sealed"}, &events.EmailAddressConfirmed{},
		&events.RecoveryCodesGenerated{Codes: []events.RecoveryCode{{Tag: "ABCD", Hash: "h"}}})

	_, body := get(t, s, "/jfguard/challenge?c="+totpOnly)
	for _, want := range []string{`id="method-totp"`, `id="method-recovery"`, `autocomplete="one-time-code"`, `inputmode="numeric"`, "Trust this browser for 30 days", `data-methods="totp recovery"`, "alice"} {
		if !strings.Contains(body, want) {
			t.Errorf("authenticator-only page lacks %s", want)
		}
	}
	// The words the page's script may show are data, not the page: only the markup
	// must not mention the factors alice lacks.
	shown := wordsBlock.ReplaceAllString(body, "")
	for _, absent := range []string{"method-passkey", "method-email", "passkey", "email"} {
		if strings.Contains(strings.ToLower(shown), absent) {
			t.Errorf("authenticator-only page mentions %s", absent)
		}
	}

	_, body = get(t, s, "/jfguard/challenge?c="+everything)
	for _, want := range []string{`id="method-totp"`, `id="method-passkey"`, `id="method-email"`, `id="method-recovery"`, `data-methods="totp passkey email recovery"`} {
		if !strings.Contains(body, want) {
			t.Errorf("page of a user with every factor lacks %s", want)
		}
	}
}

// TestChallengePageRendersTheLockout puts the lockout in the page itself, so a reload
// keeps counting down.
func TestChallengePageRendersTheLockout(t *testing.T) {
	s := newPageServer(t)
	uid := strings.Repeat("4", 32)
	id := issueChallenge(t, s, uid, &events.TOTPEnrollmentStarted{Secret: "v1.sealed"}, &events.TOTPEnrolled{Step: 1})
	_, body := get(t, s, "/jfguard/challenge?c="+id)
	if !strings.Contains(body, `data-locked-for="0"`) || !strings.Contains(body, `data-expires-in="300"`) {
		t.Errorf("fresh challenge: want no lockout and 300 seconds left")
	}
	_, err := s.opts.Projector.ExecUser(context.Background(), uid, events.Context{Actor: uid}, func(u *domain.User, now time.Time) ([]events.Payload, error) {
		return []events.Payload{&events.LockoutStarted{Until: now.Add(2 * time.Minute), Failures: 5}}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	_, body = get(t, s, "/jfguard/challenge?c="+id)
	if !regexp.MustCompile(`data-locked-for="1[12][0-9]"`).MatchString(body) {
		t.Errorf("locked challenge does not carry about 120 seconds of lockout")
	}
}

// TestExpiredChallengePage shows the way back when the challenge is unknown, used or
// expired, without naming anyone.
func TestExpiredChallengePage(t *testing.T) {
	s := newPageServer(t)
	for _, q := range []string{"", "?c=", "?c=0123456789abcdef0123456789abcdef", "?c=%3Cscript%3E"} {
		res, body := get(t, s, "/jfguard/challenge"+q)
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("%q: status %d, want 404", q, res.StatusCode)
		}
		if !strings.Contains(body, "This sign-in has expired") || !strings.Contains(body, `href="/web/"`) {
			t.Errorf("%q: the page lacks the expired message or the link back", q)
		}
		if strings.Contains(body, "<script>") || strings.Contains(body, "data-challenge") {
			t.Errorf("%q: the expired page carries challenge data", q)
		}
	}
}

// TestInjectScript serves the script added to Jellyfin's web app as JavaScript that
// is never cached, since its URL cannot change between releases.
func TestInjectScript(t *testing.T) {
	s := newPageServer(t)
	res, body := get(t, s, "/jfguard/inject.js")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d", res.StatusCode)
	}
	if got := res.Header.Get("Content-Type"); got != "application/javascript; charset=utf-8" {
		t.Errorf("Content-Type = %q", got)
	}
	if got := res.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q", got)
	}
	for _, want := range []string{"X-Jfguard-Client", "X-Jfguard-Challenge", "XMLHttpRequest", "/jfguard/setup"} {
		if !strings.Contains(body, want) {
			t.Errorf("inject.js lacks %s", want)
		}
	}
	if strings.Contains(body, "eval(") || strings.Contains(body, "new Function") {
		t.Error("inject.js evaluates strings")
	}
}

// TestAssets serves the hashed names as immutable and the plain names revalidated.
func TestAssets(t *testing.T) {
	s := newPageServer(t)
	for plain, wantType := range map[string]string{
		"app.css": "text/css; charset=utf-8", "common.js": "application/javascript; charset=utf-8",
		"challenge.js": "application/javascript; charset=utf-8", "setup.js": "application/javascript; charset=utf-8",
		"login.js": "application/javascript; charset=utf-8", "admin.js": "application/javascript; charset=utf-8",
		"logo.svg": "image/svg+xml",
	} {
		hashed := theSite.hashed[plain]
		if hashed == "" || hashed == assetsPath+plain {
			t.Errorf("%s has no hashed name", plain)
			continue
		}
		res, _ := get(t, s, hashed)
		if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != wantType || res.Header.Get("Cache-Control") != immutableCache {
			t.Errorf("%s: %d %q %q", hashed, res.StatusCode, res.Header.Get("Content-Type"), res.Header.Get("Cache-Control"))
		}
		if res.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: no nosniff", hashed)
		}
		res, _ = get(t, s, assetsPath+plain)
		if res.StatusCode != http.StatusOK || res.Header.Get("Cache-Control") != "no-cache" {
			t.Errorf("%s: %d %q", plain, res.StatusCode, res.Header.Get("Cache-Control"))
		}
	}
	for _, path := range []string{assetsPath + "nope.js", assetsPath + "layout.html", assetsPath + "../pages.go", assetsPath} {
		if res, _ := get(t, s, path); res.StatusCode != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404", path, res.StatusCode)
		}
	}
}

// TestSiteLoads fails the build's tests when an embedded template does not parse.
func TestSiteLoads(t *testing.T) {
	if theSite.loadErr != nil {
		t.Fatal(theSite.loadErr)
	}
	if len(theSite.inject) == 0 {
		t.Fatal("inject.js is not embedded")
	}
}
