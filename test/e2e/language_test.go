package e2e

import (
	"html"
	"net/http"
	"strings"
	"testing"

	"github.com/jfguard/jfguard/http/locale"
	"golang.org/x/text/language"
)

// TestPagesSpeakTheVisitorsLanguage: alice's challenge page, asked for in German,
// is German (lang="de", Content-Language, German title, no English title); the
// language the web app set (the jfguard_lang cookie) wins over the browser's; a
// language jfguard does not speak gets English. The sign-in page, the setup page
// and the admin page follow the same rule.
func TestPagesSpeakTheVisitorsLanguage(t *testing.T) {
	t.Parallel()
	g := startGateway(t, options{})
	g.enrollAlice(t)
	c := g.challenged(t, "lang-device")
	page := "/jfguard/challenge?c=" + c.id

	for _, tc := range []struct {
		name   string
		header []string
		want   language.Tag
	}{
		{"browser German", []string{"Accept-Language", "de-DE,de;q=0.9,en;q=0.5"}, language.German},
		{"web app French over browser German", []string{"Accept-Language", "de-DE,de", "Cookie", locale.CookieName + "=fr"}, language.French},
		{"web app Chinese", []string{"Cookie", locale.CookieName + "=zh-CN"}, language.SimplifiedChinese},
		{"browser Japanese", []string{"Accept-Language", "ja-JP,ja"}, language.English},
		{"web app language jfguard lacks", []string{"Accept-Language", "es", "Cookie", locale.CookieName + "=ja"}, language.Spanish},
		{"nothing", nil, language.English},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, p := range []struct{ path, title string }{
				{page, "challenge.title"},
				{"/jfguard/login", "login.title"},
				{"/jfguard/setup", "setup.title"},
				{"/jfguard/admin", "admin.title"},
			} {
				res := g.do(t, http.MethodGet, p.path, nil, tc.header...)
				if res.status != http.StatusOK {
					t.Fatalf("%s: status %d", p.path, res.status)
				}
				body := string(res.body)
				if want := `<html lang="` + tc.want.String() + `">`; !strings.Contains(body, want) {
					t.Errorf("%s: no %s", p.path, want)
				}
				if got := res.header.Get("Content-Language"); got != tc.want.String() {
					t.Errorf("%s: Content-Language %q, want %s", p.path, got, tc.want)
				}
				title := "<title>" + html.EscapeString(locale.Default.T(tc.want, p.title)) + " · Jellyfin</title>"
				if !strings.Contains(body, title) {
					t.Errorf("%s: no %s", p.path, title)
				}
				if tc.want != language.English && strings.Contains(body, ">"+html.EscapeString(locale.Default.T(language.English, p.title))+"<") {
					t.Errorf("%s: the English title is on the %s page", p.path, tc.want)
				}
				if vary := res.header.Get("Vary"); !strings.Contains(vary, "Accept-Language") || !strings.Contains(vary, "Cookie") {
					t.Errorf("%s: Vary %q: a cache could serve one visitor's language to another", p.path, vary)
				}
			}
		})
	}
}
