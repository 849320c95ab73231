package jellyfin

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func gunzip(t *testing.T, data []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("gunzip: %v", err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("gunzip: %v", err)
	}
	return out
}

// TestWebIndexEncoding proves the index page is gzip-compressed whenever the
// request allows it, so a proxy that edits the page must ask for identity.
func TestWebIndexEncoding(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	identity := f.call(t, http.MethodGet, "/web/", nil, "Accept-Encoding", "identity")
	if identity.status != http.StatusOK || identity.header.Get("Content-Encoding") != "" {
		t.Fatalf("identity: %d %v", identity.status, identity.header)
	}
	page := string(identity.body)
	for _, want := range []string{"</head>", "</body>", `id="txtManualName"`, `id="txtManualPassword"`, `class="button-submit"`, `id="login-error"`, `id="home-user"`, `src="main.jellyfin.bundle.js"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the index page lacks %s", want)
		}
	}
	if strings.Contains(page, "<script>") {
		t.Error("the index page has an inline script")
	}
	if identity.header.Get("Cache-Control") != "no-cache" || identity.header.Get("ETag") == "" || !strings.HasPrefix(identity.header.Get("Content-Type"), "text/html") {
		t.Errorf("headers %v", identity.header)
	}

	for _, accept := range []string{"gzip, deflate, br, zstd", "*", "br;q=1, gzip;q=0.5"} {
		res := f.call(t, http.MethodGet, "/web/index.html", nil, "Accept-Encoding", accept)
		if res.header.Get("Content-Encoding") != "gzip" || !strings.Contains(res.header.Get("Vary"), "Accept-Encoding") {
			t.Errorf("Accept-Encoding %q: headers %v", accept, res.header)
			continue
		}
		if got := gunzip(t, res.body); !bytes.Equal(got, identity.body) {
			t.Errorf("Accept-Encoding %q: the gzip body differs from the identity body", accept)
		}
	}
	for _, accept := range []string{"gzip;q=0", "br", ""} {
		res := f.call(t, http.MethodGet, "/web/", nil, "Accept-Encoding", accept)
		if res.header.Get("Content-Encoding") != "" || !bytes.Equal(res.body, identity.body) {
			t.Errorf("Accept-Encoding %q: compressed", accept)
		}
	}
	if res := f.call(t, http.MethodGet, "/web/", nil, "Accept-Encoding", "gzip", "Range", "bytes=0-9"); res.status != http.StatusPartialContent || res.header.Get("Content-Encoding") != "" {
		t.Errorf("a range of the page: %d %v, want 206 uncompressed", res.status, res.header)
	}
}

func TestWebFilesAndRedirects(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for path, want := range map[string]string{"/": "/web/", "/web": "/web/"} {
		res, err := client.Get(f.ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode/100 != 3 || res.Header.Get("Location") != want {
			t.Errorf("%s: %d to %q, want a redirect to %q", path, res.StatusCode, res.Header.Get("Location"), want)
		}
	}
	for path, contentType := range map[string]string{
		"/web/main.jellyfin.bundle.js": "text/javascript",
		"/web/main.jellyfin.css":       "text/css",
		"/WEB/index.html":              "text/html",
	} {
		res := f.call(t, http.MethodGet, path, nil, "Accept-Encoding", "identity")
		if res.status != http.StatusOK || res.header.Get("Content-Type") != contentType || len(res.body) == 0 {
			t.Errorf("%s: %d %q", path, res.status, res.header.Get("Content-Type"))
		}
	}
	if res := f.call(t, http.MethodGet, "/web/Index.html", nil); res.status != http.StatusNotFound {
		t.Errorf("file names are case-sensitive, got %d", res.status)
	}
	etag := f.call(t, http.MethodGet, "/web/", nil).header.Get("ETag")
	if res := f.call(t, http.MethodGet, "/web/", nil, "If-None-Match", etag); res.status != http.StatusNotModified {
		t.Errorf("revalidation: status %d, want 304", res.status)
	}
}

// TestAPICompression pins that Jellyfin compresses JSON too, over plain
// HTTP only, so a proxy that reads a sign-in's body must decode it or ask
// for identity.
func TestAPICompression(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	res := f.call(t, http.MethodPost, "/Users/AuthenticateByName",
		map[string]string{"Username": "alice", "Pw": alicePassword},
		"Authorization", clientHeader("c", "d", "i", "v", ""), "Accept-Encoding", "gzip")
	if res.status != http.StatusOK || res.header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("%d %v", res.status, res.header)
	}
	if body := gunzip(t, res.body); !bytes.Contains(body, []byte(`"AccessToken"`)) {
		t.Errorf("decoded body %s", body)
	}
	if res := f.call(t, http.MethodPost, "/Users/AuthenticateByName", map[string]string{"Username": "alice", "Pw": "x"},
		"Authorization", clientHeader("c", "d", "i", "v", ""), "Accept-Encoding", "gzip"); res.header.Get("Content-Encoding") != "gzip" {
		t.Errorf("the plain-text 401 is not compressed: %v", res.header)
	}

	plain := newFixture(t, Options{DisableCompression: true})
	if res := plain.call(t, http.MethodGet, "/System/Info/Public", nil, "Accept-Encoding", "gzip"); res.header.Get("Content-Encoding") != "" {
		t.Errorf("DisableCompression: %v", res.header)
	}

	srv := New(Options{})
	tlsServer := httptest.NewTLSServer(srv)
	defer tlsServer.Close()
	req, _ := http.NewRequest(http.MethodGet, tlsServer.URL+"/System/Info/Public", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	tlsRes, err := tlsServer.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	tlsRes.Body.Close()
	if tlsRes.Header.Get("Content-Encoding") != "" {
		t.Errorf("compressed over HTTPS: %v", tlsRes.Header)
	}
}

func TestRequestLog(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	var log RequestLog
	f.srv.OnRequest(log.Record)
	f.call(t, http.MethodGet, "/web/", nil, "Accept-Encoding", "identity", "X-Forwarded-For", "203.0.113.7")
	got := log.Find(http.MethodGet, "/web/")
	if len(got) != 1 || got[0].Header.Get("Accept-Encoding") != "identity" || got[0].Header.Get("X-Forwarded-For") != "203.0.113.7" {
		t.Errorf("recorded %+v", got)
	}
}
