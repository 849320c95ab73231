package locale

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"
)

var placeholder = regexp.MustCompile(`\{\{\s*\.(\w+)\s*\}\}`)

// placeholders are the data names a message's forms use, sorted.
func placeholders(m *i18n.Message) []string {
	var out []string
	for _, form := range []string{m.Zero, m.One, m.Two, m.Few, m.Many, m.Other} {
		for _, p := range placeholder.FindAllStringSubmatch(form, -1) {
			if !slices.Contains(out, p[1]) {
				out = append(out, p[1])
			}
		}
	}
	slices.Sort(out)
	return out
}

// TestEveryMessageInEveryLanguage: each language has exactly English's message ids,
// none empty, each with the placeholders English has (a translation that drops
// {{.Name}} would hide a fact; one that adds a name shows "<no value>"), and the
// plural forms its language needs.
func TestEveryMessageInEveryLanguage(t *testing.T) {
	english := Default.IDs(language.English)
	if len(english) == 0 {
		t.Fatal("no English messages")
	}
	for _, l := range Languages {
		t.Run(l.String(), func(t *testing.T) {
			ids := Default.IDs(l)
			for _, id := range english {
				if _, ok := slices.BinarySearch(ids, id); !ok {
					t.Errorf("%s is missing", id)
				}
			}
			for _, id := range ids {
				if _, ok := slices.BinarySearch(english, id); !ok {
					t.Errorf("%s is not an English message (a stale translation?)", id)
				}
				m, en := Default.Message(l, id), Default.Message(language.English, id)
				if strings.TrimSpace(m.Other) == "" {
					t.Errorf("%s is empty", id)
				}
				if en == nil {
					continue
				}
				if got, want := placeholders(m), placeholders(en); !slices.Equal(got, want) {
					t.Errorf("%s uses placeholders %v, English %v", id, got, want)
				}
				plural := en.One != ""
				if plural && l != language.SimplifiedChinese && m.One == "" {
					t.Errorf("%s has no \"one\" form", id)
				}
				if !plural && m.One != "" {
					t.Errorf("%s has plural forms but English has none", id)
				}
			}
		})
	}
}

// TestTranslationsDiffer: a translation identical to English is usually one that
// was never made. Short words shared between languages (OK, Passkey, TOTP) may stay.
func TestTranslationsDiffer(t *testing.T) {
	for _, l := range Languages[1:] {
		for _, id := range Default.IDs(l) {
			if m, en := Default.Message(l, id), Default.Message(language.English, id); en != nil && m.Other == en.Other && len(strings.Fields(en.Other)) > 2 {
				t.Errorf("%s %s is the English text %q", l, id, en.Other)
			}
		}
	}
}

// TestPick: the web app's setting wins when jfguard speaks it; else the browser's
// preference; else English. Garbage is ignored.
func TestPick(t *testing.T) {
	for _, tc := range []struct {
		webApp, accept string
		want           language.Tag
	}{
		{"", "", language.English},
		{"", "de-DE,de;q=0.9,en;q=0.8", language.German},
		{"", "fr-CA", language.French},
		{"", "es-419,es;q=0.9", language.Spanish},
		{"", "zh-CN,zh;q=0.9", language.SimplifiedChinese},
		{"", "zh-Hans", language.SimplifiedChinese},
		{"", "ja-JP,ja;q=0.9", language.English},
		{"", "it-IT,de;q=0.5", language.German},
		{"de", "fr-FR", language.German},
		{"fr-FR", "de", language.French},
		{"ja", "es", language.Spanish},
		{"not a tag", "de", language.German},
		{"", "*;q=x,,,;;", language.English},
		{strings.Repeat("a", 100), strings.Repeat("de,", 1000), language.German},
	} {
		if got := Pick(tc.webApp, tc.accept); got != tc.want {
			t.Errorf("Pick(%q, %q) = %s, want %s", tc.webApp, tc.accept, got, tc.want)
		}
	}
}

// TestT fills in data and plural forms, falls back to English, and shows the id of
// a message no language has.
func TestT(t *testing.T) {
	c, err := Load(fstest.MapFS{
		"messages/x.en.toml":      {Data: []byte("\"x.hello\" = \"Hello {{.Name}}\"\n\"x.only_en\" = \"English\"\n[\"x.codes\"]\none = \"{{.Count}} code\"\nother = \"{{.Count}} codes\"\n")},
		"messages/x.de.toml":      {Data: []byte("\"x.hello\" = \"Hallo {{.Name}}\"\n[\"x.codes\"]\none = \"{{.Count}} Code\"\nother = \"{{.Count}} Codes\"\n")},
		"messages/x.zh-Hans.toml": {Data: []byte("\"x.hello\" = \"你好 {{.Name}}\"\n")},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		l    language.Tag
		id   string
		data []any
		want string
	}{
		{language.German, "x.hello", []any{"Name", "Ada"}, "Hallo Ada"},
		{language.SimplifiedChinese, "x.hello", []any{"Name", "Ada"}, "你好 Ada"},
		{language.German, "x.only_en", nil, "English"},
		{language.German, "x.codes", []any{"Count", 1}, "1 Code"},
		{language.German, "x.codes", []any{"Count", 3}, "3 Codes"},
		{language.English, "x.codes", []any{"Count", 1}, "1 code"},
		{language.German, "x.nowhere", nil, "x.nowhere"},
	} {
		if got := c.T(tc.l, tc.id, tc.data...); got != tc.want {
			t.Errorf("T(%s, %s) = %q, want %q", tc.l, tc.id, got, tc.want)
		}
	}
	if got := c.Script(language.German, "x"); len(got) != 0 {
		t.Errorf("Script gave messages not meant for scripts: %v", got)
	}
}

// TestLoadRefusesMisplacedMessages: a message outside its file's area, a language
// jfguard does not speak and a message defined twice are refused.
func TestLoadRefusesMisplacedMessages(t *testing.T) {
	for name, fsys := range map[string]fstest.MapFS{
		"area":      {"messages/x.en.toml": {Data: []byte("\"y.hello\" = \"Hello\"\n")}},
		"language":  {"messages/x.ja.toml": {Data: []byte("\"x.hello\" = \"Hello\"\n")}},
		"duplicate": {"messages/x.en.toml": {Data: []byte("\"x.hello\" = \"Hello\"\n")}, "messages/x.more.en.toml": {Data: []byte("\"x.hello\" = \"Hi\"\n")}},
	} {
		if _, err := Load(fsys); err == nil {
			t.Errorf("%s: loaded", name)
		}
	}
}

// FuzzPick: whatever a browser sends as its language cookie and Accept-Language,
// Pick answers one of jfguard's languages and never panics.
func FuzzPick(f *testing.F) {
	f.Add("de", "fr-FR,fr;q=0.9")
	f.Add("", "zh-Hans-CN;q=0.8, *;q=0.1")
	f.Add("x-\x00", "en;q=NaN,,;")
	f.Fuzz(func(t *testing.T, webApp, accept string) {
		if got := Pick(webApp, accept); !slices.Contains(Languages, got) {
			t.Fatalf("Pick(%q, %q) = %s, not one of jfguard's languages", webApp, accept, got)
		}
	})
}
