package gateway

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
	"time"
)

// newProxy builds the reverse proxy to Jellyfin. Bodies stream both ways without
// buffering (video, Range requests, HLS); WebSocket upgrades pass through. Only the
// web app's index page is rewritten, to load jfguard's script.
func (s *Server) newProxy() *httputil.ReverseProxy {
	transport := &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     false,
		DisableCompression:    true,
		WriteBufferSize:       64 << 10,
		ReadBufferSize:        64 << 10,
	}
	up := s.opts.Upstream
	return &httputil.ReverseProxy{
		Transport: transport,
		// No timed flushing: the proxy flushes after every write by itself when the
		// body's length is unknown (live streams, chunked answers) or it is an event
		// stream, and a body of known length (video with Range, JSON) goes out as the
		// copy buffer fills, saving a write per small answer.
		FlushInterval: 0,
		BufferPool:    newBufferPool(),
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(up)
			pr.Out.Host = pr.In.Host
			if addr, ok := clientAddrOf(pr.In.Context()); ok && addr.IP.IsValid() {
				pr.Out.Header.Set("X-Forwarded-For", addr.IP.String())
			} else {
				pr.Out.Header.Del("X-Forwarded-For")
			}
			proto := "http"
			if pr.In.TLS != nil {
				proto = "https"
			}
			pr.Out.Header.Set("X-Forwarded-Proto", proto)
			pr.Out.Header.Set("X-Forwarded-Host", pr.In.Host)
			pr.Out.Header.Del("X-Jfguard-Client")
			if isWebIndex(pr.In) {
				// jfguard must read the page to add its script: ask for it uncompressed.
				pr.Out.Header.Set("Accept-Encoding", "identity")
				pr.Out.Header.Del("If-None-Match")
				pr.Out.Header.Del("If-Modified-Since")
			}
		},
		ModifyResponse: func(resp *http.Response) error {
			if isWebIndex(resp.Request) {
				return injectScript(resp)
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			s.log.Warn("upstream unreachable", "path", r.URL.Path, "err", err)
			w.WriteHeader(http.StatusBadGateway)
		},
	}
}

const injectTag = `<script src="/jfguard/inject.js" defer></script>`

// injectScript adds jfguard's script to the web app's index page, and makes sure the
// page is never cached without it.
func injectScript(resp *http.Response) error {
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || resp.StatusCode != http.StatusOK {
		return nil
	}
	if sameMethod(resp.Request.Method, http.MethodHead) {
		// No page to edit: keep the headers a GET gets, but no length, since
		// Jellyfin's is that of the page without the script.
		resp.ContentLength = -1
		resp.Header.Del("Content-Length")
		resp.Header.Del("ETag")
		resp.Header.Del("Last-Modified")
		resp.Header.Set("Cache-Control", "no-store")
		return nil
	}
	var body io.Reader = resp.Body
	if enc := strings.ToLower(resp.Header.Get("Content-Encoding")); enc == "gzip" {
		// Upstream ignored the identity request: decode it ourselves.
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			return fmt.Errorf("decode web index: %w", err)
		}
		body = zr
	} else if enc != "" && enc != "identity" {
		return fmt.Errorf("web index in unsupported encoding %q", enc)
	}
	page, err := io.ReadAll(io.LimitReader(body, 8<<20))
	resp.Body.Close()
	if err != nil {
		return fmt.Errorf("read web index: %w", err)
	}
	if !bytes.Contains(page, []byte(injectTag)) {
		if i := bytes.Index(bytes.ToLower(page), []byte("</head>")); i >= 0 {
			page = append(page[:i:i], append([]byte(injectTag), page[i:]...)...)
		} else if i := bytes.Index(bytes.ToLower(page), []byte("</body>")); i >= 0 {
			page = append(page[:i:i], append([]byte(injectTag), page[i:]...)...)
		} else {
			page = append(page, injectTag...)
		}
	}
	resp.Body = io.NopCloser(bytes.NewReader(page))
	resp.ContentLength = int64(len(page))
	resp.Header.Set("Content-Length", strconv.Itoa(len(page)))
	resp.Header.Del("Content-Encoding")
	resp.Header.Del("ETag")
	resp.Header.Del("Last-Modified")
	resp.Header.Set("Cache-Control", "no-store")
	return nil
}

// bufferPool reuses the proxy's copy buffers (large, for media throughput).
type bufferPool struct{ ch chan []byte }

func newBufferPool() *bufferPool { return &bufferPool{ch: make(chan []byte, 64)} }

func (p *bufferPool) Get() []byte {
	select {
	case b := <-p.ch:
		return b
	default:
		return make([]byte, 128<<10)
	}
}

func (p *bufferPool) Put(b []byte) {
	select {
	case p.ch <- b:
	default:
	}
}
