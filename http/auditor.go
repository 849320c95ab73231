package gateway

import (
	"crypto/subtle"
	"net/http"
	"sort"
	"strings"

	"github.com/gin-gonic/gin"
)

// rpcForbidden is the JSON-RPC error code of a method the caller may not call at
// all: a state change asked with the auditor token.
const rpcForbidden = -32003

// The auditor token is for those who watch without acting (a SIEM, an auditor, a
// dashboard): it reads the event feed and the control API's read-only methods and
// changes nothing.

// isAuditor reports whether the request carries the auditor token.
func (s *Server) isAuditor(r *http.Request) bool {
	tok := s.opts.AuditorToken
	h := r.Header.Get("Authorization")
	return tok != "" && strings.HasPrefix(h, "Bearer ") &&
		subtle.ConstantTimeCompare([]byte(strings.TrimPrefix(h, "Bearer ")), []byte(tok)) == 1
}

// requireReader lets in what requireAdmin lets in, and the auditor token: for routes
// that only read.
func (s *Server) requireReader() gin.HandlerFunc {
	return func(c *gin.Context) {
		if _, ok := s.adminCaller(c.Request); ok || s.isAuditor(c.Request) {
			c.Next()
			return
		}
		answer(c, errAnsReadersOnly)
	}
}

// msgAuditorReadOnly explains a refused state change to the auditor token's holder.
func msgAuditorReadOnly(method string) string {
	return method + " changes state and the auditor token only reads; use the admin token (data_dir/admin.token) or an administrator's session"
}

// ReadOnlyRPCMethods lists the control API methods that change nothing, sorted: the
// ones the auditor token may call.
func (s *Server) ReadOnlyRPCMethods() []string {
	var out []string
	for name, m := range s.rpcTable() {
		if m.readOnly {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}
