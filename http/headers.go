package gateway

import (
	"fmt"
	"net/http"
	"runtime/debug"

	"github.com/gin-gonic/gin"
)

// contentSecurityPolicy allows only jfguard's own embedded scripts, styles and images:
// no inline script, no third party, no framing.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; manifest-src 'self'"

// setSecurityHeaders puts the security headers on a jfguard response.
func (s *Server) setSecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), publickey-credentials-get=(self), publickey-credentials-create=(self)")
	if s.opts.PublicURL != nil && s.opts.PublicURL.Scheme == "https" {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
}

// securityHeaders applies the security headers to every jfguard route.
func (s *Server) securityHeaders() gin.HandlerFunc {
	return func(c *gin.Context) {
		s.setSecurityHeaders(c.Writer.Header())
		c.Header("Cache-Control", "no-store")
		c.Next()
	}
}

// recoverer turns a panic into a 500 and a log line instead of a dropped connection.
func (s *Server) recoverer() gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("panic serving request", "path", c.Request.URL.Path, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				c.AbortWithStatus(http.StatusInternalServerError)
			}
		}()
		c.Next()
	}
}
