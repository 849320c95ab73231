package browser

import (
	"strconv"
	"testing"

	"github.com/jfguard/jfguard/http/locale"
	"golang.org/x/text/language"
)

// pageTitle is what a page's <title> reads in a language.
func pageTitle(l language.Tag, id string) string {
	return locale.Default.T(l, id) + " · Jellyfin"
}

// TestChallengePageSpeaksTheWebAppsLanguage: alice set the web app to German in a
// browser that prefers English. The challenge page after her password follows the
// web app, not the browser: German words, lang="de", and her code still signs her in.
func TestChallengePageSpeaksTheWebAppsLanguage(t *testing.T) {
	t.Parallel()
	st := startStack(t, nil)
	secret, _ := st.enrollByAPI(t, "alice", alicePassword)
	b := newBrowserIn(t, "en-US,en")

	// The web app keeps a user's display language in localStorage under
	// "<user id>-language"; jfguard's script in the web app reads it on load.
	b.navigate(st.URL + "/web/")
	b.waitFor("the web app's sign-in form", onLogin)
	eval[bool](b, `(function(){localStorage.setItem(`+strconv.Quote(st.Alice.ID+"-language")+`,'de');return true})()`)
	if got := b.webSignIn(st, "alice", alicePassword); got != "challenge" {
		t.Fatalf("sign-in led to %s, want the challenge page", got)
	}
	if got := eval[string](b, `document.documentElement.lang`); got != "de" {
		t.Errorf("the challenge page's lang is %q, want de", got)
	}
	if got, want := eval[string](b, `document.title`), pageTitle(language.German, "challenge.title"); got != want {
		t.Errorf("the challenge page's title is %q, want %q", got, want)
	}
	if got, en := b.text("#heading"), locale.Default.T(language.English, "challenge.title"); got == en {
		t.Errorf("the heading is in English: %q", got)
	}
	b.visible("#method-totp")
	b.docScreenshot("challenge-de", "challenge-de")
	b.fill("#code-totp", st.code(t, secret))
	b.click("#method-totp button[type=submit]")
	b.signedInAs("alice")
}

// TestPagesFollowTheBrowsersLanguage: without a web-app setting, jfguard's pages
// follow the browser's Accept-Language, and fall back to English for a language
// they are not written in.
func TestPagesFollowTheBrowsersLanguage(t *testing.T) {
	t.Parallel()
	st := startStack(t, nil)
	for _, tc := range []struct {
		accept string
		want   language.Tag
	}{
		{"fr-FR,fr", language.French},
		{"zh-CN,zh", language.SimplifiedChinese},
		{"es-419,es", language.Spanish},
		{"ja-JP,ja", language.English},
	} {
		t.Run(tc.accept, func(t *testing.T) {
			b := newBrowserIn(t, tc.accept)
			for _, page := range []string{"login", "setup"} {
				b.navigate(st.URL + "/jfguard/" + page)
				b.waitFor("the page", `document.readyState==='complete'`)
				if got := eval[string](b, `document.documentElement.lang`); got != tc.want.String() {
					t.Errorf("%s: lang is %q, want %s", page, got, tc.want)
				}
				if got, want := eval[string](b, `document.title`), pageTitle(tc.want, page+".title"); got != want {
					t.Errorf("%s: title is %q, want %q", page, got, want)
				}
			}
			if tc.want == language.French {
				b.navigate(st.URL + "/jfguard/login")
				b.docScreenshot("login-fr", "login-fr")
			}
		})
	}
}
