package e2e

import (
	"net/http"
	"testing"
	"time"
)

// TestLockout: five wrong codes, even spread over several sign-ins, lock the user's
// second-factor step for the lockout duration; while locked, even the right code is
// refused; once the lock ends, the right code works again.
func TestLockout(t *testing.T) {
	t.Parallel()
	g := startGateway(t, options{})
	f := g.enrollAlice(t)
	wrong := func(c challenge) reply {
		return g.verify(t, c.id, map[string]any{"method": "totp", "code": g.wrongCode(t, f.secret)})
	}

	first := g.challenged(t, "alice-1")
	for i := range 3 {
		if res := wrong(first); res.status != http.StatusUnauthorized || res.errorCode() != "invalid_code" {
			t.Fatalf("wrong code %d: status %d: %s", i+1, res.status, res.body)
		}
	}
	second := g.challenged(t, "alice-2")
	if res := wrong(second); res.status != http.StatusUnauthorized {
		t.Fatalf("wrong code 4: status %d: %s", res.status, res.body)
	}
	until := lockedUntil(t, wrong(second))
	if d := until.Sub(g.clock.Now()); d < 14*time.Minute || d > 15*time.Minute {
		t.Errorf("locked for %s, want 15m", d)
	}
	lockedUntil(t, g.verify(t, second.id, map[string]any{"method": "totp", "code": g.code(t, f.secret)}))
	lockedUntil(t, g.verify(t, first.id, map[string]any{"method": "recovery", "code": f.recovery[0]}))

	g.clock.Advance(until.Sub(g.clock.Now()) + time.Second)
	g.verified(t, g.challenged(t, "alice-3"), "totp", g.code(t, f.secret))
	got := g.eventTypes(t)
	if got["factor_failed"] != 5 || got["lockout_started"] != 1 {
		t.Errorf("factor_failed %d (want 5), lockout_started %d (want 1)", got["factor_failed"], got["lockout_started"])
	}
}

// TestChallengeBurns: five wrong codes on one challenge burn it: its held token is
// logged out at Jellyfin and not even the right code completes it.
func TestChallengeBurns(t *testing.T) {
	t.Parallel()
	// A lockout threshold above the burn threshold, so the burn shows on its own.
	g := startGateway(t, options{settings: map[string]string{"security.lockout_threshold": "50"}})
	f := g.enrollAlice(t)
	c := g.challenged(t, "alice-burn")
	for i := range 4 {
		if res := g.verify(t, c.id, map[string]any{"method": "totp", "code": g.wrongCode(t, f.secret)}); res.status != http.StatusUnauthorized {
			t.Fatalf("wrong code %d: status %d: %s", i+1, res.status, res.body)
		}
	}
	res := g.verify(t, c.id, map[string]any{"method": "totp", "code": g.wrongCode(t, f.secret)})
	if res.status != http.StatusGone || res.errorCode() != "challenge_burned" {
		t.Fatalf("fifth wrong code: status %d: %s", res.status, res.body)
	}
	eventually(t, "the burned challenge's token is logged out at Jellyfin", func() bool { return !g.jf.TokenActive(c.held) })
	if res := g.verify(t, c.id, map[string]any{"method": "totp", "code": g.code(t, f.secret)}); res.status != http.StatusGone {
		t.Errorf("the right code on a burned challenge: status %d: %s", res.status, res.body)
	}
	if res := g.do(t, http.MethodGet, "/Users/Me", nil, "Authorization", tokenHeader(c.held)); res.status != http.StatusUnauthorized || !res.fromGate() {
		t.Errorf("the burned challenge's token: status %d: %s", res.status, res.body)
	}
	g.expectEvents(t, "factor_failed", "challenge_burned")
}

// TestVerifyRateLimit: one address gets ten verification attempts a minute; the
// eleventh is refused before any code is checked, the right one included.
func TestVerifyRateLimit(t *testing.T) {
	t.Parallel()
	// Lockout and burn thresholds out of the way, so only the rate limit refuses.
	g := startGateway(t, options{settings: map[string]string{"security.lockout_threshold": "100", "security.challenge_max_failures": "100"}})
	f := g.enrollAlice(t)
	c := g.challenged(t, "alice-rate")
	// The right code is taken before the attempts: taking it moves the clock on a
	// step, which would refill the bucket.
	right := g.code(t, f.secret)
	for i := range 10 {
		if res := g.verify(t, c.id, map[string]any{"method": "totp", "code": g.wrongCode(t, f.secret)}); res.status != http.StatusUnauthorized {
			t.Fatalf("attempt %d: status %d: %s", i+1, res.status, res.body)
		}
	}
	res := g.verify(t, c.id, map[string]any{"method": "totp", "code": right})
	if res.status != http.StatusTooManyRequests || res.errorCode() != "rate_limited" || res.header.Get("Retry-After") == "" {
		t.Fatalf("attempt 11: status %d, Retry-After %q: %s", res.status, res.header.Get("Retry-After"), res.body)
	}
	if got := g.eventTypes(t)["factor_failed"]; got != 10 {
		t.Errorf("%d factor_failed events, want 10 (the refused attempt is not checked)", got)
	}
}
