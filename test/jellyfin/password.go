package jellyfin

import (
	"crypto/rand"
	"encoding/json"
	"net/http"
)

// handleUpdatePassword is POST /Users/Password?userId= and its older spelling POST
// /Users/{userId}/Password, which Jellyfin still serves but leaves out of its
// document, as UserController.UpdateUserPassword: the user is the caller's own
// without an id; an administrator may change anyone's, anyone else only their own;
// the current password is asked of everyone but an administrator changing someone
// else's; ResetPassword clears the password instead. A change signs the user out
// everywhere but on the caller's token.
func (s *Server) handleUpdatePassword(w http.ResponseWriter, r *http.Request, req *request) {
	raw, named := req.params["userId"]
	if !named {
		raw, named = queryValue(r, "userId")
	}
	id := req.caller.userID()
	if named && raw != "" {
		var ok bool
		if id, ok = parseGUID(raw); !ok {
			writeValidationProblem(w, "userId", "The value '"+raw+"' is not valid.")
			return
		}
	}
	if id == "" {
		writeText(w, http.StatusBadRequest, "userId is required")
		return
	}
	obj, err := readJSONObject(r)
	if err != nil {
		writeBodyError(w, err)
		return
	}
	current, _, err1 := obj.stringField("CurrentPw")
	newPw, _, err2 := obj.stringField("NewPw")
	reset, err3 := obj.boolField("ResetPassword")
	if err1 != nil || err2 != nil || err3 != nil {
		writeValidationProblem(w, "$", "The JSON value could not be converted to Jellyfin.Api.Models.UserDtos.UpdateUserPassword.")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[id]
	switch {
	case u == nil:
		writeProblem(w, http.StatusNotFound, "User not found")
		return
	case !req.caller.admin() && req.caller.userID() != id:
		writeText(w, http.StatusForbidden, "User is not allowed to update the password.")
		return
	case !reset && (!req.caller.admin() || req.caller.userID() == id) && !u.checkPassword(current):
		writeText(w, http.StatusForbidden, "Invalid user or password entered.")
		return
	}
	if reset {
		newPw = ""
	}
	u.setPassword(newPw)
	for token, d := range s.tokens {
		if d.userID == u.id && (req.caller.device == nil || token != req.caller.device.token) {
			delete(s.tokens, token)
		}
	}
	writeEmpty(w, http.StatusNoContent)
}

// setPassword replaces the user's password (none when empty) with a new salt.
func (u *user) setPassword(password string) {
	if _, err := rand.Read(u.salt[:]); err != nil {
		panic(err)
	}
	u.hasPassword = password != ""
	u.hash = passwordHash(u.salt, password)
}

// boolField returns a boolean property by case-insensitive name, false when absent
// or null; err is set when the value is not a JSON boolean.
func (o jsonObject) boolField(name string) (bool, error) {
	var raw json.RawMessage
	for _, f := range o {
		if equalFoldOrdinal(f.name, name) {
			raw = f.value
		}
	}
	var v bool
	if raw == nil || string(raw) == "null" {
		return false, nil
	}
	return v, json.Unmarshal(raw, &v)
}
