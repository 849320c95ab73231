package jellyfin

import (
	"compress/gzip"
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// compressibleTypes are ASP.NET Core's ResponseCompressionDefaults.MimeTypes,
// the types Jellyfin compresses.
var compressibleTypes = map[string]bool{
	"text/plain":             true,
	"text/css":               true,
	"application/javascript": true,
	"text/javascript":        true,
	"text/html":              true,
	"application/xml":        true,
	"text/xml":               true,
	"application/json":       true,
	"text/json":              true,
	"application/wasm":       true,
}

// compressWriter gzips a response the way Jellyfin's response compression
// middleware does: only when the client accepts gzip, only for the types
// above, never for a partial (Content-Range) response or one that is already
// encoded, and always with Vary: Accept-Encoding on compressible types.
// Jellyfin also offers Brotli and prefers it; the stand-in offers gzip only,
// as the Go standard library has no Brotli encoder.
type compressWriter struct {
	http.ResponseWriter
	acceptsGzip bool
	gz          *gzip.Writer
	wroteHeader bool
}

func newCompressWriter(w http.ResponseWriter, r *http.Request) *compressWriter {
	return &compressWriter{ResponseWriter: w, acceptsGzip: acceptsGzip(r.Header.Values("Accept-Encoding"))}
}

func (c *compressWriter) WriteHeader(status int) {
	if c.wroteHeader {
		return
	}
	c.wroteHeader = true
	h := c.Header()
	mediaType, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
	if compressibleTypes[mediaType] {
		h.Add("Vary", "Accept-Encoding")
		if c.acceptsGzip && h.Get("Content-Range") == "" && h.Get("Content-Encoding") == "" &&
			status != http.StatusNoContent && status != http.StatusNotModified {
			h.Del("Content-Length")
			h.Set("Content-Encoding", "gzip")
			c.gz = gzip.NewWriter(c.ResponseWriter)
		}
	}
	c.ResponseWriter.WriteHeader(status)
}

func (c *compressWriter) Write(p []byte) (int, error) {
	if !c.wroteHeader {
		c.WriteHeader(http.StatusOK)
	}
	if c.gz != nil {
		return c.gz.Write(p)
	}
	return c.ResponseWriter.Write(p)
}

// Flush sends what has been written so far, so streamed responses are not
// held back by the compressor.
func (c *compressWriter) Flush() {
	if c.gz != nil {
		_ = c.gz.Flush()
	}
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (c *compressWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// Close ends the gzip stream, if one was started.
func (c *compressWriter) Close() error {
	if c.gz != nil {
		return c.gz.Close()
	}
	return nil
}

// acceptsGzip reads Accept-Encoding: gzip (or *) with a non-zero quality.
func acceptsGzip(values []string) bool {
	gzipQ, starQ := -1.0, -1.0
	for _, v := range values {
		for _, item := range strings.Split(v, ",") {
			name, params, _ := strings.Cut(strings.TrimSpace(item), ";")
			q := 1.0
			for _, p := range strings.Split(params, ";") {
				k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
				if strings.EqualFold(k, "q") {
					if f, err := strconv.ParseFloat(val, 64); err == nil {
						q = f
					}
				}
			}
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "gzip":
				gzipQ = q
			case "*":
				starQ = q
			}
		}
	}
	if gzipQ >= 0 {
		return gzipQ > 0
	}
	return starQ > 0
}

func isWebSocketUpgrade(r *http.Request) bool {
	for _, v := range r.Header.Values("Upgrade") {
		if strings.EqualFold(strings.TrimSpace(v), "websocket") {
			return true
		}
	}
	return false
}
