package e2e

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jfguard/jfguard/events"
)

// sendLimit reads a 429 answer to a code request: the wait in seconds, and when the
// next code may be sent; it fails unless the body and Retry-After agree.
func sendLimit(t *testing.T, res reply) (int, time.Time) {
	t.Helper()
	var body struct {
		Error      string    `json:"error"`
		RetryAfter int       `json:"retry_after"`
		NextSendAt time.Time `json:"next_send_at"`
	}
	res.json(t, &body)
	if res.status != http.StatusTooManyRequests || body.Error != "send_limited" || body.RetryAfter < 1 || body.NextSendAt.IsZero() {
		t.Fatalf("want a send limit; status %d: %s", res.status, res.body)
	}
	if got := res.header.Get("Retry-After"); got != strconv.Itoa(body.RetryAfter) {
		t.Errorf("Retry-After %q, body retry_after %d", got, body.RetryAfter)
	}
	return body.RetryAfter, body.NextSendAt
}

// emailChallenge signs a user in on a browser and fails unless the sign-in was held.
func (g *testGateway) emailChallenge(t *testing.T, user, password, deviceID string) challenge {
	t.Helper()
	c, ok := g.challengeOf(t, g.signIn(t, user, password, deviceID, "X-Jfguard-Client", "web"))
	if !ok {
		t.Fatalf("the sign-in of %s was not held", user)
	}
	return c
}

// sendCode asks for a sign-in code for a challenge ("email me a code").
func (g *testGateway) sendCode(t *testing.T, c challenge) reply {
	t.Helper()
	return g.do(t, http.MethodPost, "/jfguard/api/challenge/"+c.id+"/email", nil)
}

// TestEmailCode: alice adds an address on the setup page and confirms it with the code
// emailed to it (a real SMTP server in process); only then is "email" a sign-in
// method. At sign-in, "email me a code" sends a code that signs her in once. A code
// lives 5 minutes. Three codes per 10 minutes per user: the fourth request says when
// the next may be sent. Codes are stored only as hashes, never in the event log.
func TestEmailCode(t *testing.T) {
	t.Parallel()
	mb := startMailbox(t)
	g := startGateway(t, options{settings: mb.settings()})
	f := g.enrollAlice(t)
	const address = "alice@example.com"
	self := []string{"Authorization", tokenHeader(f.token)}
	// The session she enrolled from predates her factor: changes need it again.
	g.stepUp(t, f.token, f.secret)
	sent := g.clock.Now()
	if res := g.do(t, http.MethodPost, "/jfguard/api/me/email", map[string]string{"address": address}, self...); res.status != http.StatusOK {
		t.Fatalf("add the address: status %d: %s", res.status, res.body)
	}
	confirm := mb.lastCode(t, address)

	// Unconfirmed, the address is no sign-in method and gets no sign-in code.
	c := g.emailChallenge(t, "alice", alicePassword, "alice-web-1")
	if slices.Contains(c.methods, "email") {
		t.Errorf("methods %v offer an unconfirmed address", c.methods)
	}
	if res := g.sendCode(t, c); res.status == http.StatusOK || len(mb.codes(address)) != 1 {
		t.Errorf("a sign-in code for an unconfirmed address: status %d: %s", res.status, res.body)
	}
	wrong := "000000"
	if confirm == wrong {
		wrong = "111111"
	}
	if res := g.do(t, http.MethodPost, "/jfguard/api/me/email/confirm", map[string]string{"code": wrong}, self...); res.status != http.StatusUnauthorized {
		t.Errorf("confirm with a wrong code: status %d: %s", res.status, res.body)
	}
	if res := g.do(t, http.MethodPost, "/jfguard/api/me/email/confirm", map[string]string{"code": confirm}, self...); res.status != http.StatusOK {
		t.Fatalf("confirm: status %d: %s", res.status, res.body)
	}

	c = g.emailChallenge(t, "alice", alicePassword, "alice-web-2")
	if !slices.Equal(c.methods, []string{"totp", "email", "recovery"}) {
		t.Errorf("methods %v, want [totp email recovery]", c.methods)
	}
	if res := g.sendCode(t, c); res.status != http.StatusOK {
		t.Fatalf("email me a code: status %d: %s", res.status, res.body)
	}
	code := mb.lastCode(t, address)
	token := g.verified(t, c, "email", code)
	if res := g.do(t, http.MethodGet, "/Users/Me", nil, "Authorization", tokenHeader(token)); res.status != http.StatusOK {
		t.Errorf("the session the email code released: status %d", res.status)
	}
	if res := g.verify(t, c.id, map[string]any{"method": "email", "code": code}); res.status == http.StatusOK {
		t.Error("the same code completed its challenge twice")
	}
	c = g.emailChallenge(t, "alice", alicePassword, "alice-web-3")
	if res := g.verify(t, c.id, map[string]any{"method": "email", "code": code}); res.status != http.StatusUnauthorized {
		t.Errorf("a used code on another sign-in: status %d: %s", res.status, res.body)
	}

	// The third code of the window is sent; the fourth is refused until the first
	// send is 10 minutes old.
	if res := g.sendCode(t, c); res.status != http.StatusOK {
		t.Fatalf("third code: status %d: %s", res.status, res.body)
	}
	wait, next := sendLimit(t, g.sendCode(t, c))
	if d := next.Sub(sent.Add(10 * time.Minute)); d < -time.Second || d > time.Second {
		t.Errorf("next send at %s, want 10 minutes after the first (%s)", next, sent.Add(10*time.Minute))
	}
	if want := sent.Add(10 * time.Minute).Sub(g.clock.Now()); time.Duration(wait)*time.Second < want || time.Duration(wait-1)*time.Second > want {
		t.Errorf("retry after %ds, want %s", wait, want)
	}
	if n := len(mb.codes(address)); n != 3 {
		t.Errorf("%d codes emailed, want 3", n)
	}

	// A code lives 5 minutes. At sign-in the challenge ends with it; a code that
	// proves the factor for a change to the security settings ends on its own.
	g.clock.Advance(10 * time.Minute)
	c = g.emailChallenge(t, "alice", alicePassword, "alice-web-4")
	if res := g.sendCode(t, c); res.status != http.StatusOK {
		t.Fatalf("email me a code: status %d: %s", res.status, res.body)
	}
	g.clock.Advance(5 * time.Minute)
	if res := g.verify(t, c.id, map[string]any{"method": "email", "code": mb.lastCode(t, address)}); res.status == http.StatusOK {
		t.Error("a sign-in code 5 minutes old was accepted")
	}
	for _, tc := range []struct {
		age  time.Duration
		want int
	}{
		{5 * time.Minute, http.StatusUnauthorized},
		{5*time.Minute - time.Second, http.StatusOK},
	} {
		if res := g.do(t, http.MethodPost, "/jfguard/api/me/email/code", nil, self...); res.status != http.StatusOK {
			t.Fatalf("email a code for a change: status %d: %s", res.status, res.body)
		}
		g.clock.Advance(tc.age)
		// Removing the address needs the factor; the code that works removes it.
		res := g.do(t, http.MethodPost, "/jfguard/api/me/email/remove", map[string]string{"method": "email", "code": mb.lastCode(t, address)}, self...)
		if res.status != tc.want {
			t.Errorf("a code %s old: status %d, want %d: %s", tc.age, res.status, tc.want, res.body)
		}
	}
	var expired bool
	for _, p := range payloads[*events.FactorFailed](t, g, "factor_failed") {
		expired = expired || p.Reason == "expired"
	}
	if !expired {
		t.Error("no factor_failed event for the expired code")
	}

	// Only slow hashes of the codes are stored; the codes are nowhere in the stream.
	for _, p := range payloads[*events.EmailCodeSent](t, g, "email_code_sent") {
		if !strings.HasPrefix(p.CodeHash, "$argon2id$") {
			t.Errorf("email_code_sent stores %q, not a slow hash", p.CodeHash)
		}
	}
	stream := g.streamBytes(t)
	codes := mb.codes(address)
	if len(codes) != 6 {
		t.Errorf("%d codes emailed in all, want 6", len(codes))
	}
	for _, code := range codes {
		if inStream(stream, code) {
			t.Errorf("the emailed code %s is in the event stream", code)
		}
	}
	if strings.Contains(string(stream), address) {
		t.Error("the email address is in the event stream in clear")
	}
}

// TestEmailSendLimitPerAddress: one address gets five codes per five minutes, across
// users: alice's three and bob's two use them up, and bob, within his own limit, is
// refused until a minute has passed.
func TestEmailSendLimitPerAddress(t *testing.T) {
	t.Parallel()
	mb := startMailbox(t)
	g := startGateway(t, options{settings: mb.settings()})
	for _, u := range []struct{ name, password string }{{"alice", alicePassword}, {"bob", bobPassword}} {
		token := g.signedIn(t, u.name, u.password, u.name+"-setup")
		self := []string{"Authorization", tokenHeader(token)}
		addr := u.name + "@example.com"
		if res := g.do(t, http.MethodPost, "/jfguard/api/me/email", map[string]string{"address": addr}, self...); res.status != http.StatusOK {
			t.Fatalf("add %s: status %d: %s", addr, res.status, res.body)
		}
		if res := g.do(t, http.MethodPost, "/jfguard/api/me/email/confirm", map[string]string{"code": mb.lastCode(t, addr)}, self...); res.status != http.StatusOK {
			t.Fatalf("confirm %s: status %d: %s", addr, res.status, res.body)
		}
	}
	// A new window for both limits.
	g.clock.Advance(10 * time.Minute)
	alice := g.emailChallenge(t, "alice", alicePassword, "alice-web")
	bob := g.emailChallenge(t, "bob", bobPassword, "bob-web")
	for i, c := range []challenge{alice, alice, alice, bob, bob} {
		if res := g.sendCode(t, c); res.status != http.StatusOK {
			t.Fatalf("code %d: status %d: %s", i+1, res.status, res.body)
		}
	}
	if wait, _ := sendLimit(t, g.sendCode(t, bob)); wait > 60 {
		t.Errorf("bob waits %ds for the address's next code, want at most a minute", wait)
	}
	g.clock.Advance(time.Minute)
	if res := g.sendCode(t, bob); res.status != http.StatusOK {
		t.Errorf("bob's code a minute later: status %d: %s", res.status, res.body)
	}
	if n := len(mb.codes("bob@example.com")); n != 4 {
		t.Errorf("%d codes emailed to bob, want 4 (1 to confirm, 3 to sign in)", n)
	}
}
