package jellyfin

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

// webFiles is the stand-in's web client, served under /web/ like Jellyfin's
// bundled jellyfin-web.
//
//go:embed web
var webFiles embed.FS

// webContentTypes are what ASP.NET Core's FileExtensionContentTypeProvider
// gives the stand-in's file types.
var webContentTypes = map[string]string{
	".html": "text/html",
	".js":   "text/javascript",
	".css":  "text/css",
}

// handleWeb serves /web/ as Jellyfin's static file middleware does: /web
// redirects to /web/, /web/ is index.html, file names are case-sensitive
// (the files live on a case-sensitive file system), index.html is sent with
// Cache-Control: no-cache, every file has an ETag and Last-Modified and
// answers conditional and Range requests. Like every text response, the
// files are gzip-compressed when the client accepts it (see compressWriter),
// so a proxy that wants to edit the page must ask for identity encoding.
func (s *Server) handleWeb(w http.ResponseWriter, r *http.Request) {
	if !strings.EqualFold(r.Method, http.MethodGet) && !strings.EqualFold(r.Method, http.MethodHead) {
		writeEmpty(w, http.StatusNotFound)
		return
	}
	rest, _ := cutPrefixFold(r.URL.Path, "/web")
	if rest == "" {
		target := r.URL.Path + "/"
		if r.URL.RawQuery != "" {
			target += "?" + r.URL.RawQuery
		}
		http.Redirect(w, r, target, http.StatusMovedPermanently)
		return
	}
	name := strings.TrimPrefix(rest, "/")
	if name == "" {
		name = "index.html"
	}
	if strings.Contains(name, "..") || strings.HasSuffix(name, "/") {
		writeEmpty(w, http.StatusNotFound)
		return
	}
	content, err := fs.ReadFile(webFiles, "web/"+name)
	if err != nil {
		writeEmpty(w, http.StatusNotFound)
		return
	}
	h := w.Header()
	if contentType, ok := webContentTypes[path.Ext(name)]; ok {
		h.Set("Content-Type", contentType)
	}
	if name == "index.html" {
		h.Set("Cache-Control", "no-cache")
	}
	h.Set("ETag", fmt.Sprintf(`"%x"`, s.started.Unix()^int64(len(content))))
	http.ServeContent(w, r, name, s.started, bytes.NewReader(content))
}
