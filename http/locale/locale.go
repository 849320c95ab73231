// Package locale holds the words of jfguard's pages in every language it speaks, and
// picks the language a visitor reads: the Jellyfin web app's own setting when the
// browser tells it, else the browser's Accept-Language, else English.
//
// The messages live in messages/<area>.<language>.toml, one file per page (and one
// for what every page shares) and language. Ids are "<area>.<name>"; the ones the
// pages' scripts use start with "js.". A message with a count has "one" and "other"
// forms (and whatever else the language's plural rules name).
package locale

import (
	"embed"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/nicksnyder/go-i18n/v2/i18n"
	"github.com/pelletier/go-toml/v2"
	"golang.org/x/text/language"
)

//go:embed messages/*.toml
var files embed.FS

// Languages are the languages jfguard's pages are written in, English first (the
// fallback).
var Languages = []language.Tag{
	language.English,
	language.German,
	language.French,
	language.Spanish,
	language.SimplifiedChinese,
}

// CookieName is the cookie the script in Jellyfin's web app sets to the language
// chosen in the web app's own settings.
const CookieName = "jfguard_lang"

var matcher = language.NewMatcher(Languages)

// Pick is the language to show: the web app's setting (the cookie's value) when it
// names a language jfguard speaks, else the best match of Accept-Language, else
// English. Neither input is trusted: anything unparsable counts as absent.
func Pick(webApp, acceptLanguage string) language.Tag {
	if webApp != "" && len(webApp) <= 35 {
		if t, err := language.Parse(webApp); err == nil {
			if _, i, c := matcher.Match(t); c >= language.High {
				return Languages[i]
			}
		}
	}
	if len(acceptLanguage) > 512 {
		acceptLanguage = acceptLanguage[:512]
	}
	tags, _, err := language.ParseAcceptLanguage(acceptLanguage)
	if err != nil || len(tags) == 0 {
		return language.English
	}
	_, i, c := matcher.Match(tags...)
	if c == language.No {
		return language.English
	}
	return Languages[i]
}

// Catalog is every message in every language.
type Catalog struct {
	bundle *i18n.Bundle
	// raw are the messages as written, per language and id, for the scripts.
	raw map[language.Tag]map[string]*i18n.Message
	// localizers per language, English after it as the fallback.
	localizers map[language.Tag]*i18n.Localizer
}

// Default is the catalog of the embedded message files. It is loaded when the
// package loads: the files are part of the binary, so one that does not parse is a
// build mistake the tests catch.
var Default = mustLoad(files)

func mustLoad(fsys fs.FS) *Catalog {
	c, err := Load(fsys)
	if err != nil {
		panic(err)
	}
	return c
}

// Load reads messages/*.toml from fsys.
func Load(fsys fs.FS) (*Catalog, error) {
	c := &Catalog{
		bundle:     i18n.NewBundle(language.English),
		raw:        map[language.Tag]map[string]*i18n.Message{},
		localizers: map[language.Tag]*i18n.Localizer{},
	}
	c.bundle.RegisterUnmarshalFunc("toml", toml.Unmarshal)
	names, err := fs.Glob(fsys, "messages/*.toml")
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		buf, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		mf, err := c.bundle.ParseMessageFileBytes(buf, name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if !slices.Contains(Languages, mf.Tag) {
			return nil, fmt.Errorf("%s: %s is not one of jfguard's languages", name, mf.Tag)
		}
		area := strings.SplitN(path.Base(name), ".", 2)[0]
		if c.raw[mf.Tag] == nil {
			c.raw[mf.Tag] = map[string]*i18n.Message{}
		}
		for _, m := range mf.Messages {
			if !strings.HasPrefix(m.ID, area+".") && !strings.HasPrefix(m.ID, "js."+area+".") {
				return nil, fmt.Errorf("%s: message %q belongs in the file of its area (its id starts with %q or %q)", name, m.ID, area+".", "js."+area+".")
			}
			if _, dup := c.raw[mf.Tag][m.ID]; dup {
				return nil, fmt.Errorf("%s: message %q is defined twice", name, m.ID)
			}
			c.raw[mf.Tag][m.ID] = m
		}
	}
	for _, l := range Languages {
		c.localizers[l] = i18n.NewLocalizer(c.bundle, l.String(), language.English.String())
	}
	return c, nil
}

// IDs are the ids of a language's messages, sorted.
func (c *Catalog) IDs(l language.Tag) []string {
	return slices.Sorted(maps.Keys(c.raw[l]))
}

// Message is one message as written, or nil.
func (c *Catalog) Message(l language.Tag, id string) *i18n.Message { return c.raw[l][id] }

// T is the message id in language l with data filled in (pairs of key and value),
// English when l lacks it. An id no language has is a mistake the tests catch; the
// page shows the id rather than nothing.
func (c *Catalog) T(l language.Tag, id string, data ...any) string {
	lc := &i18n.LocalizeConfig{MessageID: id}
	if len(data) > 0 {
		td := make(map[string]any, len(data)/2)
		for i := 0; i+1 < len(data); i += 2 {
			k, _ := data[i].(string)
			td[k] = data[i+1]
			if k == "Count" {
				lc.PluralCount = data[i+1]
			}
		}
		lc.TemplateData = td
	}
	loc := c.localizers[l]
	if loc == nil {
		loc = c.localizers[language.English]
	}
	s, err := loc.Localize(lc)
	if err != nil && s == "" {
		return id
	}
	return s
}

// Script are the messages of the given areas for a page's script, in language l
// with English filling any gap: id → text, and "id#one", "id#few", … for the plural
// forms other than "other" (which is under the id itself). Placeholders stay as
// written ({{.Name}}); the script fills them in.
func (c *Catalog) Script(l language.Tag, areas ...string) map[string]string {
	out := map[string]string{}
	for _, lang := range []language.Tag{language.English, l} {
		for id, m := range c.raw[lang] {
			if !inAreas(id, areas) {
				continue
			}
			for form, text := range map[string]string{"": m.Other, "#zero": m.Zero, "#one": m.One, "#two": m.Two, "#few": m.Few, "#many": m.Many} {
				if text != "" {
					out[id+form] = text
				}
			}
		}
	}
	return out
}

func inAreas(id string, areas []string) bool {
	for _, a := range areas {
		if strings.HasPrefix(id, "js."+a+".") {
			return true
		}
	}
	return false
}
