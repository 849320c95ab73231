package gateway

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"math"
	"mime"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jfguard/jfguard/http/locale"
	"golang.org/x/text/language"
)

// webFiles are the pages' templates, styles, scripts and images. They are embedded so
// the binary is the whole product: no CDN, nothing to install next to it.
//
//go:embed web
var webFiles embed.FS

// assetsPath is where the embedded static files are served.
const assetsPath = "/jfguard/assets/"

// immutableCache is the Cache-Control of an asset requested by its content-hashed
// name: the name changes whenever the bytes do, so the browser may keep it forever.
const immutableCache = "public, max-age=31536000, immutable"

// asset is one embedded static file, ready to serve.
type asset struct {
	name        string // the file's own name, e.g. "app.css"
	hashedName  string // the name pages link to, e.g. "app.1a2b3c4d5e.css"
	contentType string
	body        []byte
}

// site is everything the pages need, loaded once from the embedded files.
type site struct {
	// pages are the page templates per language and name: the words are filled in
	// when the templates are parsed, once per language.
	pages   map[language.Tag]map[string]*template.Template
	words   wording
	assets  map[string]*asset // by hashed name and by plain name
	inject  []byte
	hashed  map[string]string // plain name → hashed URL
	loadErr error
}

// theSite is parsed when the package loads: the files are part of the binary, so a
// template that does not parse is a build mistake that the tests catch, never a
// runtime condition.
var theSite = loadSite(webFiles, locale.Default)

// pageNames are the server-rendered pages; each is web/<name>.html on top of
// web/layout.html.
var pageNames = []string{"challenge", "setup", "login", "admin"}

// wording is where the pages' words come from: the message catalog, or in tests a
// stand-in that marks every message.
type wording interface {
	T(l language.Tag, id string, data ...any) string
	Script(l language.Tag, areas ...string) map[string]string
}

func loadSite(files fs.FS, words wording) *site {
	st := &site{pages: map[language.Tag]map[string]*template.Template{}, words: words, assets: map[string]*asset{}, hashed: map[string]string{}}
	entries, err := fs.ReadDir(files, "web")
	if err != nil {
		st.loadErr = err
		return st
	}
	for _, e := range entries {
		name := e.Name()
		ext := path.Ext(name)
		if e.IsDir() || ext == ".html" {
			continue
		}
		body, err := fs.ReadFile(files, "web/"+name)
		if err != nil {
			st.loadErr = err
			return st
		}
		if name == "inject.js" {
			// The injected script has a fixed URL (the proxy writes it into
			// Jellyfin's page), so it is served apart from the hashed assets.
			st.inject = body
			continue
		}
		sum := sha256.Sum256(body)
		a := &asset{
			name:        name,
			hashedName:  strings.TrimSuffix(name, ext) + "." + hex.EncodeToString(sum[:])[:10] + ext,
			contentType: assetType(ext),
			body:        body,
		}
		st.assets[a.name], st.assets[a.hashedName] = a, a
		st.hashed[name] = assetsPath + a.hashedName
	}
	funcs := template.FuncMap{
		"asset": func(name string) (string, error) {
			if u, ok := st.hashed[name]; ok {
				return u, nil
			}
			return "", fmt.Errorf("no asset %q", name)
		},
		"has":      func(list []string, v string) bool { return slices.Contains(list, v) },
		"trustBox": func(method string, days int) trustBox { return trustBox{method, days} },
	}
	for _, lang := range locale.Languages {
		funcs["t"] = func(id string, data ...any) string { return words.T(lang, id, data...) }
		funcs["lang"] = func() string { return lang.String() }
		layout, err := template.New("layout.html").Funcs(funcs).ParseFS(files, "web/layout.html")
		if err != nil {
			st.loadErr = err
			return st
		}
		st.pages[lang] = map[string]*template.Template{}
		for _, name := range pageNames {
			t, err := layout.Clone()
			if err == nil {
				_, err = t.ParseFS(files, "web/"+name+".html")
			}
			if err != nil {
				st.loadErr = err
				return st
			}
			st.pages[lang][name] = t
		}
	}
	return st
}

// pageLanguage is the language a page is shown in: the web app's setting (the
// cookie its injected script sets), else Accept-Language, else English.
func pageLanguage(c *gin.Context) language.Tag {
	webApp, _ := c.Cookie(locale.CookieName)
	return locale.Pick(webApp, c.GetHeader("Accept-Language"))
}

// assetType is the Content-Type of an embedded file. The table is explicit because
// the system MIME database differs between machines and the types matter under
// X-Content-Type-Options: nosniff.
func assetType(ext string) string {
	switch ext {
	case ".css":
		return "text/css; charset=utf-8"
	case ".js":
		return "application/javascript; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	case ".png":
		return "image/png"
	}
	if t := mime.TypeByExtension(ext); t != "" {
		return t
	}
	return "application/octet-stream"
}

// pageRoutes registers the browser pages and their files: the challenge page, the
// self-service setup page, jfguard's own sign-in page, the admin page, the script
// injected into Jellyfin's web app and its words, and the static assets.
func (s *Server) pageRoutes(j *gin.RouterGroup) {
	j.GET("/challenge", s.handleChallengePage)
	j.GET("/setup", s.handleSetupPage)
	j.GET("/login", s.handleLoginPage)
	j.GET("/admin", s.handleAdminPage)
	j.GET("/inject.js", handleInjectScript)
	j.GET("/api/words/inject", handleInjectWords)
	j.GET("/assets/*file", handleAsset)
}

// trustBox is what the challenge page's "trust this browser" checkbox shows; each
// method's form has its own.
type trustBox struct {
	Method string
	Days   int
}

// pageData is what the layout and every page template read.
type pageData struct {
	Page string // names the page's script, its body class and its words' area
	// Title is the message id of the page's title.
	Title     string
	TrustDays int
	// Script are the words the page's script shows, in the page's language.
	Script map[string]string

	// Challenge page only.
	Expired   bool
	Challenge challengeView
	// Seconds rather than instants, so a browser whose clock is off still counts
	// down the right time.
	ExpiresIn int
	LockedFor int

	// Sign-in page only: passkeys are set up, so a passkey may sign in alone.
	Passkeys bool
	// Sign-in page only: the OIDC providers, a provider's refusal, or the handoff
	// of a provider's sign-in the page's script finishes.
	OIDC        []oidcProviderView
	OIDCError   string
	OIDCHandoff string
}

// renderPage writes one page. Pages are personal (a challenge id, a user name) and
// short-lived, so they inherit the group's Cache-Control: no-store.
func (s *Server) renderPage(c *gin.Context, status int, data pageData) {
	if theSite.loadErr != nil {
		s.log.Error("jfguard's embedded pages did not load", "err", theSite.loadErr)
		c.String(http.StatusInternalServerError, "jfguard's pages are unavailable")
		return
	}
	lang := pageLanguage(c)
	data.Script = theSite.words.Script(lang, "common", data.Page)
	var buf bytes.Buffer
	if err := theSite.pages[lang][data.Page].ExecuteTemplate(&buf, "layout.html", data); err != nil {
		s.log.Error("render page", "page", data.Page, "err", err)
		c.String(http.StatusInternalServerError, "jfguard's pages are unavailable")
		return
	}
	c.Header("Content-Language", lang.String())
	c.Header("Vary", "Accept-Language, Cookie")
	c.Data(status, "text/html; charset=utf-8", buf.Bytes())
}

// handleChallengePage shows the second step of a held sign-in. The methods and the
// lockout are rendered from the challenge itself, so the page needs no request before
// the person can type; an unknown or finished challenge shows how to start again.
func (s *Server) handleChallengePage(c *gin.Context) {
	data := pageData{Page: "challenge", Title: "challenge.title", TrustDays: s.trustDays()}
	v, ok := s.challenge(c.Query("c"))
	if !ok {
		data.Expired = true
		data.Title = "challenge.expired_title"
		s.renderPage(c, http.StatusNotFound, data)
		return
	}
	data.Challenge = v
	now := s.now()
	data.ExpiresIn = int(math.Ceil(v.ExpiresAt.Sub(now).Seconds()))
	if !v.LockedUntil.IsZero() {
		data.LockedFor = int(math.Ceil(v.LockedUntil.Sub(now).Seconds()))
	}
	s.renderPage(c, http.StatusOK, data)
}

// handleSetupPage serves the self-service page. It holds no personal data: the
// script reads the web app's session from the browser and asks /jfguard/api/me.
func (s *Server) handleSetupPage(c *gin.Context) {
	s.renderPage(c, http.StatusOK, pageData{Page: "setup", Title: "setup.title", TrustDays: s.trustDays()})
}

// handleLoginPage serves jfguard's own sign-in page, for when the web app's own form
// is not at hand (a bookmark, a web app jfguard's script cannot reach).
func (s *Server) handleLoginPage(c *gin.Context) {
	s.renderPage(c, http.StatusOK, pageData{Page: "login", Title: "login.title", Passkeys: s.rp != nil, OIDC: s.oidcProviders()})
}

func (s *Server) trustDays() int {
	return int(s.Policy().TrustDuration() / (24 * time.Hour))
}

// handleInjectScript serves the script the proxy adds to Jellyfin's web app. Its URL
// is fixed in Jellyfin's page, so it cannot carry a content hash: it is never cached,
// and an upgraded jfguard takes effect on the next page load.
func handleInjectScript(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	c.Data(http.StatusOK, "application/javascript; charset=utf-8", theSite.inject)
}

// handleInjectWords answers the words of the script in Jellyfin's web app, in the
// language jfguard's pages would be shown in (the web app's own setting, which the
// script put in the cookie before asking): {"lang": "de", "words": {id: text}}. They
// include common.js's words, which the script loads for a passkey sign-in. The
// answer follows the cookie and Accept-Language, so it is never cached.
func handleInjectWords(c *gin.Context) {
	lang := pageLanguage(c)
	c.Header("Cache-Control", "no-store")
	c.Header("Vary", "Accept-Language, Cookie")
	c.JSON(http.StatusOK, gin.H{"lang": lang.String(), "words": theSite.words.Script(lang, "common", "inject")})
}

// handleAsset serves an embedded file. Pages link to content-hashed names, which are
// immutable and cached for a year: a page load after the first costs no request, and
// a new release changes the names, so nobody runs stale scripts against a new API.
// A plain name is served too, revalidated every time.
func handleAsset(c *gin.Context) {
	a, ok := theSite.assets[strings.TrimPrefix(c.Param("file"), "/")]
	if !ok {
		c.Status(http.StatusNotFound)
		return
	}
	if c.Param("file") == "/"+a.hashedName {
		c.Header("Cache-Control", immutableCache)
	} else {
		c.Header("Cache-Control", "no-cache")
	}
	c.Data(http.StatusOK, a.contentType, a.body)
}
