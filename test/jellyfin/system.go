package jellyfin

import (
	"net"
	"net/http"
	"slices"
)

// handlePublicSystemInfo is GET /System/Info/Public, which every client calls
// before signing in to learn the server's id, name and version.
// LocalAddress is the address the server itself listens on, as in Jellyfin,
// not the address the client used.
func (s *Server) handlePublicSystemInfo(w http.ResponseWriter, r *http.Request, req *request) {
	info := publicSystemInfo{
		ServerName:             s.serverName,
		Version:                s.version,
		ProductName:            "Jellyfin Server",
		ID:                     s.serverID,
		StartupWizardCompleted: true,
	}
	if addr, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		info.LocalAddress = "http://" + addr.String()
	}
	writeJSON(w, http.StatusOK, info)
}

// handlePing is /System/Ping, which answers the product name.
func (s *Server) handlePing(w http.ResponseWriter, r *http.Request, req *request) {
	writeJSON(w, http.StatusOK, "Jellyfin Server")
}

// handleGetKeys is GET /Auth/Keys: the API keys, which Jellyfin lists with
// empty device details, no user and the defaults of the fields it does not
// fill in.
func (s *Server) handleGetKeys(w http.ResponseWriter, r *http.Request, req *request) {
	s.mu.Lock()
	keys := make([]*apiKey, 0, len(s.apiKeys))
	for _, k := range s.apiKeys {
		keys = append(keys, k)
	}
	s.mu.Unlock()
	slices.SortFunc(keys, func(a, b *apiKey) int { return int(a.id - b.id) })
	items := make([]authenticationInfo, 0, len(keys))
	for _, k := range keys {
		items = append(items, authenticationInfo{
			AccessToken:      k.token,
			AppName:          k.name,
			UserID:           emptyGUID,
			DateCreated:      jfTime(k.created),
			DateLastActivity: zeroTime,
		})
	}
	writeJSON(w, http.StatusOK, authenticationInfoQueryResult{Items: items, TotalRecordCount: len(items)})
}

// handleCreateKey is POST /Auth/Keys?app=. Jellyfin answers 204 and does not
// return the key; callers list the keys to find it.
func (s *Server) handleCreateKey(w http.ResponseWriter, r *http.Request, req *request) {
	app, ok := queryValue(r, "app")
	if !ok || app == "" {
		writeValidationProblem(w, "app", "The app field is required.")
		return
	}
	s.mu.Lock()
	s.createAPIKeyLocked(app)
	s.mu.Unlock()
	writeEmpty(w, http.StatusNoContent)
}

// handleRevokeKey is DELETE /Auth/Keys/{key}; an unknown key is not an error.
func (s *Server) handleRevokeKey(w http.ResponseWriter, r *http.Request, req *request) {
	s.mu.Lock()
	delete(s.apiKeys, req.params["key"])
	s.mu.Unlock()
	writeEmpty(w, http.StatusNoContent)
}
