package gateway

import (
	"encoding/json"
	"html/template"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/jfguard/jfguard/http/locale"
	"golang.org/x/text/language"
)

// getWords asks GET /jfguard/api/words/inject with the given Accept-Language and
// jfguard_lang cookie (either may be empty).
func getWords(t *testing.T, s *Server, acceptLanguage, cookie string) (*http.Response, struct {
	Lang  string            `json:"lang"`
	Words map[string]string `json:"words"`
}) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/jfguard/api/words/inject", nil)
	if acceptLanguage != "" {
		req.Header.Set("Accept-Language", acceptLanguage)
	}
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: locale.CookieName, Value: cookie})
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	res := rec.Result()
	var body struct {
		Lang  string            `json:"lang"`
		Words map[string]string `json:"words"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		t.Fatalf("the answer is not JSON: %v", err)
	}
	return res, body
}

// TestInjectWords: the injected script's words come in the language jfguard's pages
// would be shown in (the web app's cookie before Accept-Language, English for a
// language jfguard does not speak), never cached, with every js.inject message and
// the common ones the script's passkey sign-in shows.
func TestInjectWords(t *testing.T) {
	s := newPageServer(t)
	for _, tc := range []struct {
		name, accept, cookie string
		want                 language.Tag
	}{
		{"German by Accept-Language", "de-DE,de;q=0.9,en;q=0.8", "", language.German},
		{"French by the cookie over Accept-Language", "de-DE,de;q=0.9", "fr-FR", language.French},
		{"Chinese by the web app's zh-CN", "en-US", "zh-CN", language.SimplifiedChinese},
		{"an unknown language is English", "ja-JP,ja;q=0.9", "", language.English},
		{"an unknown cookie falls back to Accept-Language", "es-ES", "xx-nonsense", language.Spanish},
		{"nothing is English", "", "", language.English},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, body := getWords(t, s, tc.accept, tc.cookie)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("status %d", res.StatusCode)
			}
			if got := res.Header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control = %q", got)
			}
			if got := res.Header.Get("Vary"); got != "Accept-Language, Cookie" {
				t.Errorf("Vary = %q", got)
			}
			if !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
				t.Errorf("Content-Type = %q", res.Header.Get("Content-Type"))
			}
			if body.Lang != tc.want.String() {
				t.Fatalf("lang = %q, want %s", body.Lang, tc.want)
			}
			ids := locale.Default.IDs(language.English)
			var injectIDs int
			for _, id := range ids {
				if !strings.HasPrefix(id, "js.inject.") && !strings.HasPrefix(id, "js.common.") {
					continue
				}
				if strings.HasPrefix(id, "js.inject.") {
					injectIDs++
				}
				want := locale.Default.Message(tc.want, id)
				if want == nil {
					t.Errorf("%s has no %s", tc.want, id)
					continue
				}
				if got := body.Words[id]; got != want.Other {
					t.Errorf("%s = %q, want %q", id, got, want.Other)
				}
			}
			if injectIDs == 0 {
				t.Fatal("the catalog has no js.inject messages")
			}
			for id := range body.Words {
				if !strings.HasPrefix(id, "js.inject.") && !strings.HasPrefix(id, "js.common.") {
					t.Errorf("%s is not the injected script's", id)
				}
			}
		})
	}
}

// TestOIDCRefusalsAreMessages: every refusal the sign-in page shows for a provider
// is a message id in every language, not a sentence.
func TestOIDCRefusalsAreMessages(t *testing.T) {
	src, err := os.ReadFile("oidc.go")
	if err != nil {
		t.Fatal(err)
	}
	calls := regexp.MustCompile(`oidcPage\(c, [^,]+, ("[^"]*")`).FindAllStringSubmatch(string(src), -1)
	if len(calls) < 8 {
		t.Fatalf("found %d refusals in oidc.go", len(calls))
	}
	for _, m := range calls {
		id := strings.Trim(m[1], `"`)
		if id == "" {
			continue // the handoff: no refusal
		}
		if !strings.HasPrefix(id, "login.oidc_") {
			t.Errorf("oidc.go shows %q, not a login.oidc_* message id", id)
			continue
		}
		for _, l := range locale.Languages {
			if locale.Default.Message(l, id) == nil {
				t.Errorf("%s has no %s", l, id)
			}
		}
	}
}

// TestOIDCRefusalInThePagesLanguage: a refusal shows in the language of the page.
func TestOIDCRefusalInThePagesLanguage(t *testing.T) {
	s := newPageServer(t)
	for _, l := range locale.Languages {
		req := httptest.NewRequest(http.MethodGet, "/jfguard/oidc/nope/start", nil)
		req.Header.Set("Accept-Language", l.String())
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		want := template.HTMLEscapeString(locale.Default.T(l, "login.oidc_unknown"))
		if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), want) {
			t.Errorf("%s: status %d, want 404 and %q: %s", l, rec.Code, want, rec.Body)
		}
	}
}
