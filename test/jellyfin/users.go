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
// 401. A disabled account is 403 whatever the password; a wrong password counts
// towards the lockout and a right one clears the count (see lockout.go). A token
// sent along is ignored (the endpoint is anonymous).
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
	if u == nil {
		s.mu.Unlock()
		writeException(w, http.StatusUnauthorized)
		return
	}
	if u.disabled {
		s.mu.Unlock()
		writeException(w, http.StatusForbidden)
		return
	}
	if !u.checkPassword(password) {
		u.passwordFailed()
		s.mu.Unlock()
		writeException(w, http.StatusUnauthorized)
		return
	}
	u.invalidLogins = 0
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
// isHidden and isDisabled keep the users whose flag has that value.
func (s *Server) handleUsers(w http.ResponseWriter, r *http.Request, req *request) {
	var filters []func(userPolicy) bool
	for _, name := range []string{"isHidden", "isDisabled"} {
		if v, ok := queryValue(r, name); ok {
			b, err := strconv.ParseBool(v)
			if err != nil {
				writeValidationProblem(w, name, "The value '"+v+"' is not valid.")
				return
			}
			if name == "isHidden" {
				filters = append(filters, func(p userPolicy) bool { return p.IsHidden == b })
			} else {
				filters = append(filters, func(p userPolicy) bool { return p.IsDisabled == b })
			}
		}
	}
	writeJSON(w, http.StatusOK, s.userList(filters...))
}

// handlePublicUsers is GET /Users/Public, which login screens call without a
// token to show user tiles. Jellyfin lists the users that are neither hidden
// nor disabled; stand-in users keep the default visibility, so anyone can
// learn every enabled user's name, as on a default Jellyfin server.
func (s *Server) handlePublicUsers(w http.ResponseWriter, r *http.Request, req *request) {
	writeJSON(w, http.StatusOK, s.userList(
		func(p userPolicy) bool { return !p.IsHidden },
		func(p userPolicy) bool { return !p.IsDisabled },
	))
}

// userList returns the users every filter keeps, ordered by name as Jellyfin
// orders them.
func (s *Server) userList(keep ...func(userPolicy) bool) []userDto {
	s.mu.Lock()
	users := make([]userDto, 0, len(s.users))
next:
	for _, u := range s.users {
		dto := s.userDto(u)
		for _, k := range keep {
			if !k(dto.Policy) {
				continue next
			}
		}
		users = append(users, dto)
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
