package e2e

import (
	"net/http"
	"testing"
	"time"
)

// TestRestart: everything jfguard decided survives a restart on the same data
// directory: verified sessions still pass, the enrolled authenticator (and the step
// it last accepted) is still there, held tokens are still refused.
func TestRestart(t *testing.T) {
	t.Parallel()
	g := startGateway(t, options{})
	f := g.enrollAlice(t)
	usedCode := g.code(t, f.secret)
	verified := g.verified(t, g.challenged(t, "alice-phone"), "totp", usedCode)
	held := g.challenged(t, "alice-held")

	g.restartAfter(t, 0)

	if res := g.do(t, http.MethodGet, "/Users/Me", nil, "Authorization", tokenHeader(verified)); res.status != http.StatusOK {
		t.Errorf("verified session after restart: status %d: %s", res.status, res.body)
	}
	var me struct {
		TOTP struct {
			Enrolled bool `json:"enrolled"`
		} `json:"totp"`
		Left int `json:"recovery_codes_left"`
	}
	g.do(t, http.MethodGet, "/jfguard/api/me", nil, "Authorization", tokenHeader(f.token)).json(t, &me)
	if !me.TOTP.Enrolled || me.Left != 10 {
		t.Errorf("after restart: TOTP enrolled %v, %d recovery codes", me.TOTP.Enrolled, me.Left)
	}
	if res := g.do(t, http.MethodGet, "/Users/Me", nil, "Authorization", tokenHeader(held.held)); res.status != http.StatusUnauthorized || !res.fromGate() {
		t.Errorf("held token after restart: status %d: %s", res.status, res.body)
	}
	if g.reachedJellyfin(held.held) {
		t.Error("the held token reached Jellyfin")
	}
	// The code used before the restart stays used; a fresh one completes the
	// challenge that was waiting.
	if res := g.verify(t, held.id, map[string]any{"method": "totp", "code": usedCode}); res.status != http.StatusUnauthorized {
		t.Errorf("a code used before the restart: status %d: %s", res.status, res.body)
	}
	g.verified(t, held, "totp", g.code(t, f.secret))

	// A challenge whose lifetime ends while jfguard is down is ended on start.
	abandoned := g.challenged(t, "alice-abandoned")
	g.restartAfter(t, 6*time.Minute)
	eventually(t, "the challenge that expired during the restart is logged out at Jellyfin", func() bool { return !g.jf.TokenActive(abandoned.held) })
}
