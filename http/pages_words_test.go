package gateway

import (
	"bytes"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/jfguard/jfguard/http/locale"
	"golang.org/x/net/html"
	"golang.org/x/text/language"
)

// markerWords stands in for the catalog: every message is its id between ⟦ and ⟧,
// so text on a page that is not between markers was written into the page.
type markerWords struct{}

func (markerWords) T(_ language.Tag, id string, _ ...any) string { return "⟦" + id + "⟧" }
func (markerWords) Script(language.Tag, ...string) map[string]string {
	return map[string]string{}
}

// pageVariants are the pages with data that shows every part of them. The data
// itself has no letters, so any letter on the page comes from the templates.
func pageVariants() map[string]pageData {
	all := []string{"enroll_totp", "totp", "passkey", "email", "recovery"}
	return map[string]pageData{
		"challenge": {Page: "challenge", Title: "challenge.title", TrustDays: 30,
			Challenge: challengeView{ID: "1234", User: "1234", Methods: all, ExpiresAt: time.Unix(1, 0)}, ExpiresIn: 60, LockedFor: 5},
		"challenge-plain": {Page: "challenge", Title: "challenge.title", TrustDays: 30,
			Challenge: challengeView{ID: "1234", User: "1234", Methods: all[1:]}},
		"challenge-expired": {Page: "challenge", Title: "challenge.expired_title", Expired: true},
		"setup":             {Page: "setup", Title: "setup.title", TrustDays: 30},
		"login": {Page: "login", Title: "login.title", Passkeys: true,
			OIDC: []oidcProviderView{{ID: "1", Name: "1"}}},
		"login-oidc-error":   {Page: "login", Title: "login.title", OIDCError: "login.oidc_expired"},
		"login-oidc-handoff": {Page: "login", Title: "login.title", OIDCHandoff: "1234"},
		"admin":              {Page: "admin", Title: "admin.title"},
	}
}

// translatableAttrs are the attributes people read or hear.
var translatableAttrs = []string{"alt", "title", "placeholder", "aria-label", "value", "label"}

// brandWords may stand in any language.
var brandWords = []string{"Jellyfin", "jfguard"}

var markers = regexp.MustCompile(`⟦[^⟧]*⟧`)

// untranslated is the text left when the marked messages, brand names and
// everything without a letter are taken out, or "".
func untranslated(s string) string {
	s = markers.ReplaceAllString(s, "")
	for _, b := range brandWords {
		s = strings.ReplaceAll(s, b, "")
	}
	if strings.IndexFunc(s, unicode.IsLetter) < 0 {
		return ""
	}
	return strings.TrimSpace(s)
}

// visibleText calls f with every text node people see and every translatable
// attribute of a page.
func visibleText(t *testing.T, page []byte, f func(where, text string)) {
	t.Helper()
	doc, err := html.Parse(bytes.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	var walk func(n *html.Node, path string)
	walk = func(n *html.Node, path string) {
		switch n.Type {
		case html.TextNode:
			f(path, n.Data)
		case html.ElementNode:
			if n.Data == "script" || n.Data == "style" || n.Data == "svg" {
				return
			}
			path += "/" + n.Data
			for _, a := range n.Attr {
				if a.Key == "id" {
					path += "#" + a.Val
				}
			}
			for _, a := range n.Attr {
				if slices.Contains(translatableAttrs, a.Key) {
					f(path+"@"+a.Key, a.Val)
				}
			}
		}
		if n.Type == html.ElementNode && n.Data == "template" {
			// A <template>'s markup is parsed into its content fragment.
			for c := range n.ChildNodes() {
				walk(c, path)
			}
		}
		for c := range n.ChildNodes() {
			walk(c, path)
		}
	}
	walk(doc, "")
}

// TestPagesHaveNoUntranslatedText renders every page with every message marked and
// fails on any text people read that did not come from the catalog.
func TestPagesHaveNoUntranslatedText(t *testing.T) {
	st := loadSite(webFiles, markerWords{})
	if st.loadErr != nil {
		t.Fatal(st.loadErr)
	}
	for name, data := range pageVariants() {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := st.pages[language.German][data.Page].ExecuteTemplate(&buf, "layout.html", data); err != nil {
				t.Fatal(err)
			}
			visibleText(t, buf.Bytes(), func(where, text string) {
				if left := untranslated(text); left != "" {
					t.Errorf("%s: untranslated text %q", where, left)
				}
			})
		})
	}
}

// messageID is what a page shows for an id the catalog lacks: the id itself.
var messageID = regexp.MustCompile(`\b(?:js\.)?(?:common|login|challenge|setup|admin|inject)\.[a-z0-9_.]+\b`)

// TestPagesInEveryLanguage renders every page in every language with the real
// catalog: the page says its language, and every message id it uses exists.
func TestPagesInEveryLanguage(t *testing.T) {
	for _, lang := range locale.Languages {
		for name, data := range pageVariants() {
			t.Run(lang.String()+"/"+name, func(t *testing.T) {
				var buf bytes.Buffer
				if err := theSite.pages[lang][data.Page].ExecuteTemplate(&buf, "layout.html", data); err != nil {
					t.Fatal(err)
				}
				if want := fmt.Sprintf(`<html lang="%s">`, lang); !bytes.Contains(buf.Bytes(), []byte(want)) {
					t.Errorf("the page does not start with %s", want)
				}
				visibleText(t, buf.Bytes(), func(where, text string) {
					if id := messageID.FindString(text); id != "" {
						t.Errorf("%s: message %s is missing", where, id)
					}
				})
			})
		}
	}
}

// jsString is a quoted string literal on one line of a script.
var jsString = regexp.MustCompile(`'((?:[^'\\\n]|\\.)*)'|"((?:[^"\\\n]|\\.)*)"|` + "`([^`$]*)`")

// looksLikeText is a literal people would read: two words, a sentence's end, or a
// capitalised word.
var looksLikeText = regexp.MustCompile(`\pL{2,}[,:;]?\s+\pL|\pL{2,}[.!?…]$|^\p{Lu}\p{Ll}{2,}$`)

// jsMessageUse is a call of t or tn with a literal id.
var jsMessageUse = regexp.MustCompile(`\b(?:t|tn)\(\s*'([^']+)'`)

// TestScriptsHaveNoUntranslatedText reads every page script for string literals
// that look like text people read; those must come from the catalog (J.t, J.tn).
// A line whose literals are not shown (header names, device names) says so with
// the comment "i18n: not text". Every id the scripts ask for must exist.
func TestScriptsHaveNoUntranslatedText(t *testing.T) {
	names, err := fs.Glob(webFiles, "web/*.js")
	if err != nil || len(names) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	english := locale.Default.IDs(language.English)
	for _, name := range names {
		t.Run(strings.TrimPrefix(name, "web/"), func(t *testing.T) {
			src, err := fs.ReadFile(webFiles, name)
			if err != nil {
				t.Fatal(err)
			}
			for i, line := range strings.Split(string(src), "\n") {
				code := strings.TrimSpace(line)
				if strings.HasPrefix(code, "//") || strings.HasPrefix(code, "*") || strings.Contains(line, "i18n: not text") {
					continue
				}
				if j := strings.Index(code, " // "); j >= 0 {
					code = code[:j]
				}
				for _, m := range jsMessageUse.FindAllStringSubmatch(code, -1) {
					if _, ok := slices.BinarySearch(english, m[1]); !ok {
						t.Errorf("%s:%d: message %s is not in the catalog", name, i+1, m[1])
					}
				}
				for _, m := range jsString.FindAllStringSubmatch(code, -1) {
					s := m[1] + m[2] + m[3]
					if s == "use strict" || strings.ContainsAny(s, "<>=(){}[]#/\\") {
						continue // markup, CSS, selectors, paths
					}
					if looksLikeText.MatchString(s) {
						t.Errorf("%s:%d: untranslated text %q", name, i+1, s)
					}
				}
			}
		})
	}
}
