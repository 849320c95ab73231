package jellyfin

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// handleAuthenticateByName is POST /Users/AuthenticateByName. Jellyfin checks
// the client details before the password: a sign-in without Client, Device,
// DeviceId and Version in the Authorization header is 400 even with a wrong
// password, an empty user name is 400, and a wrong user name or password is
// 401. A token sent along is ignored (the endpoint is anonymous).
func (s *Server) handleAuthenticateByName(w http.ResponseWriter, r *http.Request, req *request) {
	body, err := readJSONObject(r)
	if err != nil {
		writeBodyError(w, err)
		return
	}
	username, _, err := body.stringField("Username")
	if err != nil {
		writeValidationProblem(w, "$.Username", "The JSON value could not be converted to System.String.")
		return
	}
	password, _, err := body.stringField("Pw")
	if err != nil {
		writeValidationProblem(w, "$.Pw", "The JSON value could not be converted to System.String.")
		return
	}
	creds := req.caller.creds
	if !hasClientDetails(creds) || strings.TrimSpace(username) == "" {
		writeException(w, http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	u := s.userByNameLocked(username)
	if u == nil || !u.checkPassword(password) {
		s.mu.Unlock()
		writeException(w, http.StatusUnauthorized)
		return
	}
	d := s.newSessionLocked(u, creds, remoteIP(r))
	result := s.authenticationResultLocked(u, d)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, result)
}

// hasClientDetails reports whether the four values Jellyfin's session manager
// requires to create a session are present.
func hasClientDetails(c Credentials) bool {
	return c.Client != "" && c.Device != "" && c.DeviceID != "" && c.Version != ""
}

// handleCurrentUser is GET /Users/Me. An API key belongs to no user, so
// Jellyfin answers it with 400.
func (s *Server) handleCurrentUser(w http.ResponseWriter, r *http.Request, req *request) {
	if req.caller.user == nil {
		writeProblem(w, http.StatusBadRequest, "")
		return
	}
	s.mu.Lock()
	u, ok := s.users[req.caller.user.id]
	var dto userDto
	if ok {
		dto = s.userDto(u)
	}
	s.mu.Unlock()
	if !ok {
		writeProblem(w, http.StatusBadRequest, "")
		return
	}
	writeJSON(w, http.StatusOK, dto)
}

// handleUsers is GET /Users. In Jellyfin 12.0 any signed-in caller may list
// users (the endpoint's policy is DefaultAuthorization, not elevation).
func (s *Server) handleUsers(w http.ResponseWriter, r *http.Request, req *request) {
	for _, name := range []string{"isHidden", "isDisabled"} {
		if v, ok := queryValue(r, name); ok {
			b, err := strconv.ParseBool(v)
			if err != nil {
				writeValidationProblem(w, name, "The value '"+v+"' is not valid.")
				return
			}
			if b {
				// No stand-in user is hidden or disabled.
				writeJSON(w, http.StatusOK, []userDto{})
				return
			}
		}
	}
	writeJSON(w, http.StatusOK, s.userList())
}

// handlePublicUsers is GET /Users/Public, which login screens call without a
// token to show user tiles. Jellyfin lists the users that are not hidden;
// no stand-in user is hidden, so anyone can learn every user name, as on a
// Jellyfin server whose users keep the default visibility.
func (s *Server) handlePublicUsers(w http.ResponseWriter, r *http.Request, req *request) {
	writeJSON(w, http.StatusOK, s.userList())
}

// userList returns every user, ordered by name as Jellyfin orders them.
func (s *Server) userList() []userDto {
	s.mu.Lock()
	users := make([]userDto, 0, len(s.users))
	for _, u := range s.users {
		users = append(users, s.userDto(u))
	}
	s.mu.Unlock()
	slices.SortFunc(users, func(a, b userDto) int { return strings.Compare(a.Name, b.Name) })
	return users
}

// handleUserByID is GET /Users/{userId}. Any signed-in caller may read any
// user, as in Jellyfin.
func (s *Server) handleUserByID(w http.ResponseWriter, r *http.Request, req *request) {
	id, ok := parseGUID(req.params["userId"])
	if !ok {
		writeValidationProblem(w, "userId", "The value '"+req.params["userId"]+"' is not valid.")
		return
	}
	s.mu.Lock()
	u, found := s.users[id]
	var dto userDto
	if found {
		dto = s.userDto(u)
	}
	s.mu.Unlock()
	if !found {
		writeProblem(w, http.StatusNotFound, "User not found")
		return
	}
	writeJSON(w, http.StatusOK, dto)
}

// handleLogout is POST /Sessions/Logout: it ends the caller's token. For an
// API key there is no session to end and Jellyfin still answers 204.
func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request, req *request) {
	if req.caller.device != nil {
		s.mu.Lock()
		delete(s.tokens, req.caller.device.token)
		s.mu.Unlock()
	}
	writeEmpty(w, http.StatusNoContent)
}
