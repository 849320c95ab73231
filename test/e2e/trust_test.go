package e2e

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jfguard/jfguard/notifiers"
)

// web marks a sign-in as coming through jfguard's script in the web app.
var web = []string{"X-Jfguard-Client", "web"}

// trustBrowser completes a challenge of alice on a device with "trust this
// browser" and returns the cookie value jfguard set.
func (g *testGateway) trustBrowser(t *testing.T, f factor, deviceID string) string {
	t.Helper()
	c := g.challenged(t, deviceID, web...)
	res := g.verify(t, c.id, map[string]any{"method": "totp", "code": g.code(t, f.secret), "trust_browser": true, "device_id": deviceID})
	cookie := trustCookie(res)
	if res.status != http.StatusOK || cookie == nil {
		t.Fatalf("trust this browser: status %d, no cookie: %s", res.status, res.body)
	}
	return cookie.Value
}

// signInWithCookie signs alice in from a device presenting a trust cookie value.
func (g *testGateway) signInWithCookie(t *testing.T, deviceID, value string) reply {
	t.Helper()
	return g.signIn(t, "alice", alicePassword, deviceID, append(web, "Cookie", "jfguard_trust="+value)...)
}

// passesWithCookie signs alice in with a cookie, fails unless the cookie let her
// through, and returns the value that replaces it.
func (g *testGateway) passesWithCookie(t *testing.T, deviceID, value string) string {
	t.Helper()
	res := g.signInWithCookie(t, deviceID, value)
	next := trustCookie(res)
	if res.status != http.StatusOK || next == nil {
		t.Fatalf("sign-in with the trust cookie: status %d, new cookie %v: %s", res.status, next, res.body)
	}
	return next.Value
}

// refusedWithCookie signs alice in with a cookie and fails unless she is
// challenged and given no cookie.
func (g *testGateway) refusedWithCookie(t *testing.T, deviceID, value string) {
	t.Helper()
	res := g.signInWithCookie(t, deviceID, value)
	if _, ok := g.challengeOf(t, res); !ok {
		t.Fatalf("the cookie was not refused: status %d", res.status)
	}
	if c := trustCookie(res); c != nil {
		t.Fatalf("a refused cookie was answered with a new one: %s", c.Value)
	}
}

// secretHash is the hash under which jfguard knows a cookie value's secret.
func secretHash(t *testing.T, value string) string {
	t.Helper()
	parts := strings.Split(value, ".")
	if len(parts) != 3 {
		t.Fatalf("cookie value %q is not <version>.<secret>.<mac>", value)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("cookie value %q: %v", value, err)
	}
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}

// trustChecks reads jfguard_trust_cookies_total by check from the metrics.
func (g *testGateway) trustChecks(t *testing.T) map[string]int {
	t.Helper()
	res := g.do(t, http.MethodGet, "/jfguard/metrics", nil)
	out := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(res.body))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), `jfguard_trust_cookies_total{check="`)
		if !ok {
			continue
		}
		check, n, _ := strings.Cut(rest, `"} `)
		v, err := strconv.Atoi(n)
		if err != nil {
			t.Fatalf("metric line %q", sc.Text())
		}
		out[check] = v
	}
	return out
}

// payloadOf decodes the data of an event.
func payloadOf[T any](t *testing.T, data json.RawMessage) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("event data %s: %v", data, err)
	}
	return v
}

// TestTrustedBrowserAcrossSignIns: a trusted browser skips the challenge at every
// sign-in, and each sign-in gives it a new cookie value; the value is opaque (no
// user, browser or device id inside) and only the hash of its secret is recorded.
func TestTrustedBrowserAcrossSignIns(t *testing.T) {
	t.Parallel()
	g := startGateway(t, options{})
	f := g.enrollAlice(t)
	value := g.trustBrowser(t, f, "browser-1")

	seen := []string{value}
	for range 4 {
		g.clock.Advance(time.Hour)
		value = g.passesWithCookie(t, "browser-1", value)
		if slices.Contains(seen, value) {
			t.Fatalf("the cookie came back unchanged: %s", value)
		}
		seen = append(seen, value)
	}
	if got := g.sessionReasons(t); len(got) < 4 || !slices.Equal(got[len(got)-4:], []string{"trusted_browser", "trusted_browser", "trusted_browser", "trusted_browser"}) {
		t.Errorf("session reasons %v; want four trusted_browser at the end", got)
	}

	// The stream knows each value by the hash of its secret, in order.
	var recorded []string
	for _, ev := range g.eventsOf(t, "browser_trusted") {
		recorded = append(recorded, payloadOf[struct {
			SecretHash string `json:"secret_hash"`
		}](t, ev.Data).SecretHash)
	}
	for _, ev := range g.eventsOf(t, "trusted_browser_used") {
		recorded = append(recorded, payloadOf[struct {
			SecretHash string `json:"secret_hash"`
		}](t, ev.Data).SecretHash)
	}
	var want []string
	for _, v := range seen {
		want = append(want, secretHash(t, v))
	}
	if !slices.Equal(recorded, want) {
		t.Errorf("recorded secret hashes %v; want %v", recorded, want)
	}

	// Nothing in the value says whose it is or which browser or device.
	var browserID string
	for _, ev := range g.eventsOf(t, "browser_trusted") {
		browserID = payloadOf[struct {
			BrowserID string `json:"browser_id"`
		}](t, ev.Data).BrowserID
	}
	for _, v := range seen {
		parts := strings.Split(v, ".")
		secret, _ := base64.RawURLEncoding.DecodeString(parts[1])
		for _, id := range []string{g.alice.ID, browserID, "browser-1", "alice"} {
			if strings.Contains(v, id) || bytes.Contains(secret, []byte(id)) {
				t.Errorf("cookie value %q reveals %q", v, id)
			}
		}
		for _, ev := range g.eventsOf(t, "trusted_browser_used") {
			if bytes.Contains(ev.Data, []byte(parts[1])) {
				t.Errorf("the secret of %q is in the stream: %s", v, ev.Data)
			}
		}
	}
}

// TestCopiedTrustCookieRefusedOnceUsed: a thief copies alice's cookie (and her
// device id, which the client sends itself); once alice's browser has used the
// cookie, the copy is worth nothing: another client presenting it from the same
// device id is challenged and given no cookie.
func TestCopiedTrustCookieRefusedOnceUsed(t *testing.T) {
	t.Parallel()
	g := startGateway(t, options{})
	f := g.enrollAlice(t)
	copied := g.trustBrowser(t, f, "browser-1")

	g.clock.Advance(time.Hour)
	g.passesWithCookie(t, "browser-1", copied)

	g.clock.Advance(time.Hour)
	g.refusedWithCookie(t, "browser-1", copied)
	if n := len(g.eventsOf(t, "trusted_browser_used")); n != 1 {
		t.Errorf("%d sign-ins skipped the challenge with the cookie; want alice's one", n)
	}
}

// TestReplayedTrustCookieIsRecorded: presenting a value that was valid before its
// browser's last sign-in is refused and recorded as trusted_browser_replayed, an
// event that alerts by default. A replay revokes the browser (a thief who used a copy
// first holds the current value, and the owner's next sign-in is what replays), so
// the current value stops working too, except for a value replaced moments before,
// which is what two tabs signing in at once send.
func TestReplayedTrustCookieIsRecorded(t *testing.T) {
	t.Parallel()
	if !slices.Contains(notifiers.DefaultEvents, "trusted_browser_replayed") {
		t.Error("trusted_browser_replayed does not alert by default")
	}
	g := startGateway(t, options{})
	f := g.enrollAlice(t)
	before := g.trustBrowser(t, f, "browser-1")
	g.clock.Advance(time.Hour)
	after := g.passesWithCookie(t, "browser-1", before)

	// Two tabs: the second sends the value the first one just replaced.
	g.refusedWithCookie(t, "browser-1", before)
	replays := g.eventsOf(t, "trusted_browser_replayed")
	if len(replays) != 1 {
		t.Fatalf("%d trusted_browser_replayed events; want 1", len(replays))
	}
	first := payloadOf[struct {
		SecretHash string `json:"secret_hash"`
		Concurrent bool   `json:"concurrent"`
	}](t, replays[0].Data)
	if first.SecretHash != secretHash(t, before) || !first.Concurrent {
		t.Errorf("replay moments after the use recorded as %+v; want the old value's hash, concurrent", first)
	}
	after = g.passesWithCookie(t, "browser-1", after)

	// Later, the value from before: a copy. Refused, recorded, trust revoked.
	g.clock.Advance(time.Hour)
	g.refusedWithCookie(t, "browser-1", before)
	replays = g.eventsOf(t, "trusted_browser_replayed")
	if len(replays) != 2 {
		t.Fatalf("%d trusted_browser_replayed events; want 2", len(replays))
	}
	second := payloadOf[struct {
		SecretHash string `json:"secret_hash"`
		Concurrent bool   `json:"concurrent"`
	}](t, replays[1].Data)
	if second.SecretHash != secretHash(t, before) || second.Concurrent {
		t.Errorf("replay recorded as %+v; want the old value's hash, not concurrent", second)
	}
	revoked := g.eventsOf(t, "browser_trust_revoked")
	if len(revoked) != 1 || payloadOf[struct {
		Reason string `json:"reason"`
	}](t, revoked[0].Data).Reason != "cookie_replayed" {
		t.Fatalf("browser_trust_revoked after the replay: %d events", len(revoked))
	}
	if replays[1].Seq > revoked[0].Seq {
		t.Error("the revocation was recorded before the replay it follows")
	}
	g.refusedWithCookie(t, "browser-1", after)
}

// TestThiefWhoUsedACopyFirstIsCutOff: a thief who copied the cookie and signed in
// with it before alice did got in (the copy was the current value) and holds the
// next value. Alice's browser then presents the value the thief's sign-in
// replaced: a replay, which revokes the browser, so the thief's value stops
// working too.
func TestThiefWhoUsedACopyFirstIsCutOff(t *testing.T) {
	t.Parallel()
	g := startGateway(t, options{})
	f := g.enrollAlice(t)
	alices := g.trustBrowser(t, f, "browser-1")

	g.clock.Advance(time.Hour)
	thiefs := g.passesWithCookie(t, "browser-1", alices)
	g.clock.Advance(time.Hour)
	g.refusedWithCookie(t, "browser-1", alices)
	g.clock.Advance(time.Hour)
	g.refusedWithCookie(t, "browser-1", thiefs)
	g.expectEvents(t, "trusted_browser_replayed", "browser_trust_revoked")
}

// TestForgedTrustCookieRefusedBeforeLookup: a value whose MAC no trust key made is
// refused without consulting the projection (the metrics count it as bad_mac and
// count no lookup), even when its secret is alice's current one; nothing is
// recorded, and her real cookie keeps working. A cookie of the old, readable v1
// format is refused the same way: after the upgrade the browser is asked for a
// code once.
func TestForgedTrustCookieRefusedBeforeLookup(t *testing.T) {
	t.Parallel()
	g := startGateway(t, options{})
	f := g.enrollAlice(t)
	value := g.trustBrowser(t, f, "browser-1")
	parts := strings.Split(value, ".")
	signed := parts[0] + "." + parts[1]
	m := hmac.New(sha256.New, []byte("not the trust key, 32 bytes long"))
	m.Write([]byte(signed))
	forged := signed + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	v1 := "v1.eyJiIjoiN2sycW05eGQzZmh2dDhyYXF3NW4wYzRqNmUiLCJ1IjoiIiwiZCI6ImJyb3dzZXItMSIsImlhdCI6MSwiZXhwIjo5OTk5OTk5OTk5fQ." + parts[2]

	checks := g.trustChecks(t)
	g.refusedWithCookie(t, "browser-1", forged)
	after := g.trustChecks(t)
	if after["bad_mac"] != checks["bad_mac"]+1 || after["known"] != checks["known"] || after["unknown"] != checks["unknown"] {
		t.Errorf("trust cookie checks went from %v to %v; want one more bad_mac and no lookup", checks, after)
	}
	g.refusedWithCookie(t, "browser-1", v1)
	if again := g.trustChecks(t); again["malformed"] != after["malformed"]+1 || again["known"] != checks["known"] || again["unknown"] != checks["unknown"] {
		t.Errorf("trust cookie checks went from %v to %v; want one more malformed and no lookup", after, again)
	}
	if n := len(g.eventsOf(t, "trusted_browser_replayed")); n != 0 {
		t.Errorf("%d replays recorded for values no key signed", n)
	}
	g.passesWithCookie(t, "browser-1", value)
	if got := g.trustChecks(t); got["known"] != checks["known"]+1 {
		t.Errorf("the genuine cookie was not looked up once: %v", got)
	}
}
