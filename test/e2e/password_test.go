package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/test/jellyfin"
)

// wrongPassword tries a wrong password for a user name through jfguard, from an
// address, marking the request so the test sees whether it reached Jellyfin.
func (g *testGateway) wrongPassword(t *testing.T, name, from, probe string) reply {
	t.Helper()
	return g.signIn(t, name, "not-the-password", "guesser-"+from, "X-Forwarded-For", from, probeHeader, probe)
}

// direct signs in at the stand-in itself, around jfguard.
func (g *testGateway) direct(t *testing.T, name, password string) reply {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, g.jfURL+"/Users/AuthenticateByName", jsonBody(t, map[string]string{"Username": name, "Pw": password}))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", clientHeader("around-jfguard", ""))
	return send(t, req)
}

// retryAfter reads a refusal's Retry-After in seconds.
func retryAfter(t *testing.T, res reply) time.Duration {
	t.Helper()
	secs, err := strconv.Atoi(res.header.Get("Retry-After"))
	if err != nil || secs < 1 {
		t.Fatalf("Retry-After %q", res.header.Get("Retry-After"))
	}
	return time.Duration(secs) * time.Second
}

// TestPasswordGuessingCannotDisableTheAccount: alice's account at Jellyfin locks
// after three wrong passwords. An attacker who knows her name sends wrong passwords
// through jfguard from several addresses, round after round. jfguard resets
// Jellyfin's count before a password that could be the third, holds alice's password
// step after five wrong ones in a quarter of an hour (without asking Jellyfin), keeps
// the hold across a restart, and alice is never disabled: when the hold ends she
// signs in with her password.
func TestPasswordGuessingCannotDisableTheAccount(t *testing.T) {
	t.Parallel()
	g := startGateway(t, options{settings: proxySettings})
	g.jf.SetLoginAttemptsBeforeLockout(g.alice.ID, 3)
	// A policy field jfguard must carry through its resets untouched.
	setMaxSessions(t, g, g.alice.ID, 4)

	attempt := 0
	for round := range 3 {
		forwarded := 0
		for i := range 7 {
			attempt++
			probe := fmt.Sprintf("guess-%d", attempt)
			res := g.wrongPassword(t, "alice", fmt.Sprintf("203.0.113.%d", 10+i), probe)
			switch {
			case res.status == http.StatusUnauthorized && g.reachedWith(probe):
				forwarded++
			case res.status == http.StatusTooManyRequests && res.fromGate() && !g.reachedWith(probe):
				if wait := retryAfter(t, res); wait > 15*time.Minute {
					t.Errorf("held for %s, want at most 15m", wait)
				}
			default:
				t.Fatalf("round %d, guess %d: status %d, reached Jellyfin %v: %s", round, i+1, res.status, g.reachedWith(probe), res.body)
			}
			if l := g.jf.Lockout(g.alice.ID); l.Disabled || l.Failures >= 3 {
				t.Fatalf("round %d, guess %d: alice at Jellyfin %+v", round, i+1, l)
			}
		}
		if forwarded != 5 {
			t.Errorf("round %d: %d wrong passwords reached Jellyfin, want 5 before the hold", round, forwarded)
		}
		if round == 0 {
			// The hold is a fact in the stream, not a memory of this node.
			g.restartAfter(t, time.Minute)
			if res := g.wrongPassword(t, "alice", "203.0.113.99", "after-restart"); res.status != http.StatusTooManyRequests || g.reachedWith("after-restart") {
				t.Fatalf("after a restart: status %d: %s", res.status, res.body)
			}
		}
		g.clock.Advance(15*time.Minute + time.Second)
	}

	if got := g.signIn(t, "alice", alicePassword, "alice-home", "X-Forwarded-For", "198.51.100.7"); got.status != http.StatusOK {
		t.Fatalf("alice after the attack: status %d: %s", got.status, got.body)
	}
	if l := g.jf.Lockout(g.alice.ID); l != (jellyfin.Lockout{Failures: 0, After: 3}) {
		t.Errorf("alice at Jellyfin after her sign-in: %+v", l)
	}
	if got := maxSessions(t, g, g.alice.ID); got != 4 {
		t.Errorf("MaxActiveSessions %d after jfguard's resets, want 4: the policy was not carried through", got)
	}
	n := g.eventTypes(t)
	if n["password_step_held"] != 3 || n["password_rejected"] != 15 || n["jellyfin_login_failures_reset"] < 6 || n["password_accepted"] != 1 {
		t.Errorf("events %v: want 3 holds, 15 wrong passwords, at least 6 resets and 1 accepted", n)
	}
	for _, r := range payloads[*events.JellyfinLoginFailuresReset](t, g, "jellyfin_login_failures_reset") {
		if r.Failures != 2 || r.Limit != 3 {
			t.Errorf("jellyfin_login_failures_reset %+v, want from 2 at a limit of 3", r)
		}
	}
}

// TestDirectGuessingDisablesTheAccount: the same guesses straight at the stand-in,
// around jfguard, disable the account on the third, and then even the right password
// is refused: the stand-in has Jellyfin's lockout, so the test above would catch a
// guard that let a third wrong password through.
func TestDirectGuessingDisablesTheAccount(t *testing.T) {
	t.Parallel()
	g := startGateway(t, options{})
	g.jf.SetLoginAttemptsBeforeLockout(g.bob.ID, 3)
	for i := range 3 {
		if res := g.direct(t, "bob", "not-the-password"); res.status != http.StatusUnauthorized {
			t.Fatalf("wrong password %d at the stand-in: status %d", i+1, res.status)
		}
	}
	if l := g.jf.Lockout(g.bob.ID); !l.Disabled {
		t.Fatalf("three wrong passwords around jfguard left bob enabled: %+v", l)
	}
	if res := g.direct(t, "bob", bobPassword); res.status != http.StatusForbidden {
		t.Errorf("bob's right password at the stand-in once disabled: status %d", res.status)
	}
	if res := g.signIn(t, "bob", bobPassword, "bob-tv"); res.status != http.StatusForbidden {
		t.Errorf("bob's right password through jfguard once disabled: status %d", res.status)
	}
}

// TestConcurrentGuessesCannotOvershoot: eight wrong passwords for alice sent at once
// from eight addresses reach Jellyfin one at a time, each after jfguard read the
// count, so none is the third in a row.
func TestConcurrentGuessesCannotOvershoot(t *testing.T) {
	t.Parallel()
	g := startGateway(t, options{settings: proxySettings})
	g.jf.SetLoginAttemptsBeforeLockout(g.alice.ID, 3)
	var wg sync.WaitGroup
	statuses := make([]int, 8)
	for i := range statuses {
		wg.Go(func() {
			statuses[i] = g.wrongPassword(t, "alice", fmt.Sprintf("203.0.113.%d", 50+i), fmt.Sprintf("at-once-%d", i)).status
		})
	}
	wg.Wait()
	for i, s := range statuses {
		if s != http.StatusUnauthorized && s != http.StatusTooManyRequests {
			t.Errorf("guess %d: status %d", i+1, s)
		}
	}
	if l := g.jf.Lockout(g.alice.ID); l.Disabled || l.Failures >= 3 {
		t.Fatalf("alice at Jellyfin after guesses at once: %+v", l)
	}
	g.clock.Advance(15*time.Minute + time.Second)
	if res := g.signIn(t, "alice", alicePassword, "alice-home"); res.status != http.StatusOK {
		t.Errorf("alice after the guesses: status %d: %s", res.status, res.body)
	}
}

// TestPasswordPausedWithoutAdminKey: without the admin API key jfguard cannot read or
// reset Jellyfin's count, so it forwards at most two wrong passwords in a row for a
// name (the third could lock the account) and then pauses the name's password step,
// however long anyone waits, until an administrator releases it. It finds users it
// never saw in Jellyfin's public user list.
func TestPasswordPausedWithoutAdminKey(t *testing.T) {
	t.Parallel()
	g := startGateway(t, options{settings: map[string]string{
		"jellyfin.api_key": "", "security.trust_forwarded_for": "true", "security.trusted_proxies": "127.0.0.1",
	}})
	g.jf.SetLoginAttemptsBeforeLockout(g.alice.ID, 3)
	for i := range 2 {
		probe := fmt.Sprintf("paused-%d", i)
		if res := g.wrongPassword(t, "alice", fmt.Sprintf("203.0.113.%d", 20+i), probe); res.status != http.StatusUnauthorized || !g.reachedWith(probe) {
			t.Fatalf("wrong password %d: status %d: %s", i+1, res.status, res.body)
		}
	}
	g.clock.Advance(24 * time.Hour)
	for _, tc := range []struct{ name, password, probe string }{
		{"a third wrong password", "not-the-password", "paused-wrong"},
		{"the right password", alicePassword, "paused-right"},
	} {
		res := g.signIn(t, "alice", tc.password, "alice-phone", "X-Forwarded-For", "198.51.100.7", probeHeader, tc.probe)
		if res.status != http.StatusTooManyRequests || !res.fromGate() || g.reachedWith(tc.probe) {
			t.Errorf("%s while paused: status %d, reached Jellyfin %v: %s", tc.name, res.status, g.reachedWith(tc.probe), res.body)
		}
	}
	if l := g.jf.Lockout(g.alice.ID); l != (jellyfin.Lockout{Failures: 2, After: 3}) {
		t.Fatalf("alice at Jellyfin while paused: %+v", l)
	}

	raw, rerr := g.rpc(t, "passwords.release", map[string]any{"user": "alice", "reason": "checked at Jellyfin"})
	var out struct{ Released bool }
	if rerr != nil || json.Unmarshal(raw, &out) != nil || !out.Released {
		t.Fatalf("passwords.release: %s %+v", raw, rerr)
	}
	if res := g.signIn(t, "alice", alicePassword, "alice-phone", "X-Forwarded-For", "198.51.100.7"); res.status != http.StatusOK {
		t.Fatalf("alice after the release: status %d: %s", res.status, res.body)
	}
	if l := g.jf.Lockout(g.alice.ID); l.Failures != 0 || l.Disabled {
		t.Errorf("alice at Jellyfin after her sign-in: %+v", l)
	}
	g.expectEvents(t, "user_discovered", "password_rejected", "password_hold_released")
}

// TestPasswordThrottlePerAddress: ten failed sign-ins a minute from one address
// block (here an IPv6 /64, whatever address in it) and the next password waits,
// unforwarded, with Retry-After, on the gate's route and on jfguard's own sign-in;
// another address is not affected, and a minute later the block may try again.
// Wrong passwords for names that are no user count as much as any.
func TestPasswordThrottlePerAddress(t *testing.T) {
	t.Parallel()
	g := startGateway(t, options{settings: proxySettings})
	for i := range 10 {
		from := fmt.Sprintf("2001:db8:5:6::%x", i+1)
		if res := g.wrongPassword(t, fmt.Sprintf("nobody-%d", i), from, "spray-"+strconv.Itoa(i)); res.status != http.StatusUnauthorized {
			t.Fatalf("failure %d: status %d: %s", i+1, res.status, res.body)
		}
	}
	res := g.signIn(t, "alice", alicePassword, "sprayer", "X-Forwarded-For", "2001:db8:5:6::ff", probeHeader, "spray-11")
	if res.status != http.StatusTooManyRequests || !res.fromGate() || g.reachedWith("spray-11") {
		t.Fatalf("the eleventh password from the /64: status %d, reached Jellyfin %v: %s", res.status, g.reachedWith("spray-11"), res.body)
	}
	wait := retryAfter(t, res)
	if wait > time.Minute {
		t.Errorf("Retry-After %s, want at most a minute", wait)
	}
	script := g.do(t, http.MethodPost, "/jfguard/api/login", map[string]string{"username": "alice", "password": alicePassword}, "X-Forwarded-For", "2001:db8:5:6::fe")
	if script.status != http.StatusTooManyRequests || script.errorCode() != "rate_limited" || script.header.Get("Retry-After") == "" {
		t.Errorf("jfguard's own sign-in from the /64: status %d: %s", script.status, script.body)
	}
	if res := g.signIn(t, "alice", alicePassword, "elsewhere", "X-Forwarded-For", "2001:db8:5:7::1"); res.status != http.StatusOK {
		t.Errorf("another /64: status %d: %s", res.status, res.body)
	}
	g.clock.Advance(wait)
	if res := g.signIn(t, "alice", alicePassword, "sprayer", "X-Forwarded-For", "2001:db8:5:6::ff"); res.status != http.StatusOK {
		t.Errorf("the /64 after Retry-After: status %d: %s", res.status, res.body)
	}
}

// setMaxSessions sets a user's MaxActiveSessions at the stand-in with the admin key,
// as an administrator would in the dashboard.
func setMaxSessions(t *testing.T, g *testGateway, id string, n int) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, g.jfURL+"/Users/"+id, nil)
	req.Header.Set("Authorization", tokenHeader(g.apiKey))
	var u struct{ Policy map[string]any }
	send(t, req).json(t, &u)
	u.Policy["MaxActiveSessions"] = n
	req, _ = http.NewRequest(http.MethodPost, g.jfURL+"/Users/"+id+"/Policy", jsonBody(t, u.Policy))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", tokenHeader(g.apiKey))
	if res := send(t, req); res.status != http.StatusNoContent {
		t.Fatalf("set MaxActiveSessions: status %d: %s", res.status, res.body)
	}
}

func maxSessions(t *testing.T, g *testGateway, id string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, g.jfURL+"/Users/"+id, nil)
	req.Header.Set("Authorization", tokenHeader(g.apiKey))
	var u struct {
		Policy struct{ MaxActiveSessions int }
	}
	send(t, req).json(t, &u)
	return u.Policy.MaxActiveSessions
}
