package jellyfin

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
)

// The lockout and the user policy, as Jellyfin's UserManager and UserController
// (Jellyfin.Server.Implementations/Users/UserManager.cs, Jellyfin.Api/Controllers/
// UserController.cs, 10.8 to 12.0) implement them:
//
//   - AuthenticateUser refuses a disabled account (IsDisabled) with a
//     SecurityException, answered 403, whether the password is right or not, and
//     counts nothing;
//   - a wrong password adds one to InvalidLoginAttemptCount, and
//     IncrementInvalidLoginAttemptCount disables the account when the count reaches
//     LoginAttemptsBeforeLockout, if that is set;
//   - a right password sets the count back to 0 (the password path only: Quick
//     Connect leaves it);
//   - the count never decays with time;
//   - LoginAttemptsBeforeLockout is null for a user created without a policy save
//     (GET /Users/{id} answers -1) and null never locks. UpdatePolicyAsync stores -1
//     as null and 0 as 3: the dashboard documents 0 as "the default, 3 for users and
//     5 for administrators", but the server stores 3 for both.

// currentPolicy is the user's UserPolicy as GET /Users/{id} answers it.
func (u *user) currentPolicy() userPolicy {
	p := u.policy
	p.IsAdministrator = u.admin
	p.IsDisabled = u.disabled
	p.InvalidLoginAttemptCount = u.invalidLogins
	p.LoginAttemptsBeforeLockout = -1
	if u.lockoutAfter != nil {
		p.LoginAttemptsBeforeLockout = *u.lockoutAfter
	}
	return p
}

// passwordFailed counts a wrong password: IncrementInvalidLoginAttemptCount.
func (u *user) passwordFailed() {
	u.invalidLogins++
	if u.lockoutAfter != nil && u.invalidLogins >= *u.lockoutAfter {
		u.disabled = true
	}
}

// storedLockout is LoginAttemptsBeforeLockout as UpdatePolicyAsync stores it: -1 is
// null (no lockout), 0 is 3.
func storedLockout(v int) *int {
	switch v {
	case -1:
		return nil
	case 0:
		v = 3
	}
	return &v
}

// handleUpdateUserPolicy is POST /Users/{userId}/Policy: an administrator (or an API
// key) replaces the user's whole policy, InvalidLoginAttemptCount and IsDisabled
// included. The controller refuses to take the administrator role from the last
// administrator, to disable an administrator, or to disable the last enabled user;
// disabling a user ends their sessions (but the caller's).
func (s *Server) handleUpdateUserPolicy(w http.ResponseWriter, r *http.Request, req *request) {
	id, ok := parseGUID(req.params["userId"])
	if !ok {
		writeValidationProblem(w, "userId", "The value '"+req.params["userId"]+"' is not valid.")
		return
	}
	obj, err := readJSONObject(r)
	if err != nil {
		writeBodyError(w, err)
		return
	}
	var p userPolicy
	if err := json.Unmarshal(obj.encode(), &p); err != nil {
		writeValidationProblem(w, "$", "The JSON value could not be converted to MediaBrowser.Model.Users.UserPolicy.")
		return
	}
	for field, v := range map[string]string{"AuthenticationProviderId": p.AuthenticationProviderID, "PasswordResetProviderId": p.PasswordResetProviderID} {
		if v == "" {
			writeValidationProblem(w, field, "The "+field+" field is required.")
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[id]
	if u == nil {
		writeProblem(w, http.StatusNotFound, "")
		return
	}
	admins, enabled := 0, 0
	for _, o := range s.users {
		if o.admin {
			admins++
		}
		if !o.disabled {
			enabled++
		}
	}
	switch {
	case !p.IsAdministrator && u.admin && admins == 1:
		writeText(w, http.StatusForbidden, "There must be at least one user in the system with administrative access.")
		return
	case p.IsDisabled && u.admin:
		writeText(w, http.StatusForbidden, "Administrators cannot be disabled.")
		return
	case p.IsDisabled && !u.disabled && enabled == 1:
		writeText(w, http.StatusForbidden, "There must be at least one enabled user in the system.")
		return
	case p.IsDisabled && !u.disabled:
		for token, d := range s.tokens {
			if d.userID == u.id && token != req.caller.creds.Token {
				delete(s.tokens, token)
			}
		}
	}
	u.admin, u.disabled = p.IsAdministrator, p.IsDisabled
	u.invalidLogins, u.lockoutAfter = p.InvalidLoginAttemptCount, storedLockout(p.LoginAttemptsBeforeLockout)
	u.policy = p
	writeEmpty(w, http.StatusNoContent)
}

// encode writes the object back as JSON, properties in order.
func (o jsonObject) encode() []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		name, _ := json.Marshal(f.name)
		b.Write(name)
		b.WriteByte(':')
		b.Write(f.value)
	}
	b.WriteByte('}')
	return b.Bytes()
}

// writeText answers with a controller's plain message, as ASP.NET Core writes the
// string of StatusCode(status, "message").
func writeText(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(msg)))
	w.WriteHeader(status)
	_, _ = io.WriteString(w, msg)
}

// Lockout is a user's lockout state at the stand-in.
type Lockout struct {
	// Failures is InvalidLoginAttemptCount: wrong passwords since the last right one.
	Failures int
	// After is LoginAttemptsBeforeLockout as GET /Users/{id} answers it: -1 for none.
	After int
	// Disabled is IsDisabled: the account refuses every sign-in.
	Disabled bool
}

// Lockout returns a user's lockout state, as an administrator sees it in the
// dashboard.
func (s *Server) Lockout(userID string) Lockout {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[userID]
	if u == nil {
		return Lockout{After: -1}
	}
	p := u.currentPolicy()
	return Lockout{Failures: p.InvalidLoginAttemptCount, After: p.LoginAttemptsBeforeLockout, Disabled: p.IsDisabled}
}

// SetLoginAttemptsBeforeLockout sets a user's lockout as an administrator does by
// saving the user's policy in the dashboard: -1 for none, 0 for what Jellyfin stores
// as its default (3), another number for itself.
func (s *Server) SetLoginAttemptsBeforeLockout(userID string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.users[userID]; u != nil {
		u.lockoutAfter = storedLockout(n)
	}
}
