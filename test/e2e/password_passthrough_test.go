package e2e

import (
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestPasswordReachesJellyfinUnchanged: Jellyfin owns the password, and jfguard
// must not weaken it on the way. A 128-character password of spaces, accents,
// CJK, emoji and combining marks signs in through jfguard, through the sign-in
// route and the script login; the same password cut short (at 64 characters, at
// 72 bytes as bcrypt would) or trimmed of its outer spaces is refused. The password
// is nowhere in jfguard's event stream, so no recovery path can reveal it.
func TestPasswordReachesJellyfinUnchanged(t *testing.T) {
	t.Parallel()
	g := startGateway(t, options{})
	const marker = "correcthorsebatterystaple"
	password := " " + marker + " café 密码 🔑 e\u0301 "
	for utf8.RuneCountInString(password) < 127 {
		password += "ß文🙂 "
	}
	password += "!"
	password = string([]rune(password)[:128])
	if n := utf8.RuneCountInString(password); n != 128 {
		t.Fatalf("the password has %d characters", n)
	}
	g.jf.AddUser("carol", password, false)

	if res := g.signIn(t, "carol", password, "carol-browser"); res.status != http.StatusOK {
		t.Fatalf("the whole password through jfguard: status %d: %s", res.status, res.body)
	}
	if res := g.do(t, http.MethodPost, "/jfguard/api/login", map[string]string{"username": "carol", "password": password}); res.status != http.StatusOK {
		t.Errorf("the whole password through the script login: status %d: %s", res.status, res.body)
	}
	for name, wrong := range map[string]string{
		"cut at 64 characters": string([]rune(password)[:64]),
		"cut at 72 bytes":      strings.ToValidUTF8(password[:72], ""),
		"trimmed":              strings.TrimSpace(password),
	} {
		if res := g.signIn(t, "carol", wrong, "carol-browser"); res.status != http.StatusUnauthorized {
			t.Errorf("the password %s: status %d: %s", name, res.status, res.body)
		}
	}
	stream := string(g.streamBytes(t))
	if strings.Contains(stream, marker) || strings.Contains(stream, "密码") {
		t.Error("the password is in the event stream")
	}
}

// TestSignInAgainIssuesANewToken: every sign-in through jfguard gets a token of its
// own from Jellyfin. When a device signs in again, its earlier token stops working,
// refused by jfguard's gate itself, and the new one works; another device's sign-in
// is a third token, and both live ones work side by side.
func TestSignInAgainIssuesANewToken(t *testing.T) {
	t.Parallel()
	g := startGateway(t, options{})
	first := g.signedIn(t, "bob", bobPassword, "bob-phone")
	second := g.signedIn(t, "bob", bobPassword, "bob-phone")
	other := g.signedIn(t, "bob", bobPassword, "bob-laptop")
	if first == second || second == other || first == other {
		t.Fatalf("tokens repeat: %q %q %q", first, second, other)
	}
	res := g.do(t, http.MethodGet, "/Users/Me", nil, "Authorization", tokenHeader(first))
	if res.status != http.StatusUnauthorized || !res.fromGate() {
		t.Errorf("the phone's first token after it signed in again: status %d, refused by jfguard %v: %s", res.status, res.fromGate(), res.body)
	}
	for name, tok := range map[string]string{"the phone's new token": second, "the laptop's token": other} {
		if res := g.do(t, http.MethodGet, "/Users/Me", nil, "Authorization", tokenHeader(tok)); res.status != http.StatusOK {
			t.Errorf("%s: status %d", name, res.status)
		}
	}
}
