package jellyfin

import (
	"crypto/rand"
	"math/big"
	"net/http"
	"strings"
	"time"
)

// quickConnectTimeout is how long Jellyfin keeps a Quick Connect request,
// and an authorized one's result, before forgetting it.
const quickConnectTimeout = 10 * time.Minute

// qcRequest is a pending Quick Connect request. It keeps the client details
// sent with Initiate, because Jellyfin creates the session from them when the
// code is authorized, not from the details sent with the final
// AuthenticateWithQuickConnect.
type qcRequest struct {
	secret        string
	code          string
	deviceID      string
	deviceName    string
	appName       string
	appVersion    string
	added         time.Time
	authenticated bool
}

// qcAuthorization is the sign-in result Jellyfin stores, by secret, when a
// code is authorized; AuthenticateWithQuickConnect returns it as it was.
type qcAuthorization struct {
	at     time.Time
	result authenticationResult
}

func (q *qcRequest) dto() quickConnectResult {
	return quickConnectResult{
		Authenticated: q.authenticated,
		Secret:        q.secret,
		Code:          q.code,
		DeviceID:      q.deviceID,
		DeviceName:    q.deviceName,
		AppName:       q.appName,
		AppVersion:    q.appVersion,
		DateAdded:     jfTime(q.added),
	}
}

// expireQuickConnectLocked drops requests and results older than the
// timeout, as Jellyfin does at the start of every Quick Connect call.
func (s *Server) expireQuickConnectLocked() {
	cutoff := s.now().Add(-quickConnectTimeout)
	for code, q := range s.qcRequests {
		if q.added.Before(cutoff) {
			delete(s.qcRequests, code)
		}
	}
	for secret, a := range s.qcAuthorized {
		if a.at.Before(cutoff) {
			delete(s.qcAuthorized, secret)
		}
	}
}

// handleQuickConnectEnabled is GET /QuickConnect/Enabled.
func (s *Server) handleQuickConnectEnabled(w http.ResponseWriter, r *http.Request, req *request) {
	s.mu.Lock()
	enabled := s.quickConnect
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, enabled)
}

// handleQuickConnectInitiate is POST /QuickConnect/Initiate. The client
// details are checked before Quick Connect is: missing details are 400 even
// when Quick Connect is off.
func (s *Server) handleQuickConnectInitiate(w http.ResponseWriter, r *http.Request, req *request) {
	creds := req.caller.creds
	if !hasClientDetails(creds) {
		writeException(w, http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.quickConnect {
		writeProblem(w, http.StatusUnauthorized, "Quick connect is disabled")
		return
	}
	s.expireQuickConnectLocked()
	q := &qcRequest{
		secret:     strings.ToUpper(randomHex(32)),
		code:       s.newCodeLocked(),
		deviceID:   creds.DeviceID,
		deviceName: creds.Device,
		appName:    creds.Client,
		appVersion: creds.Version,
		added:      s.now(),
	}
	s.qcRequests[q.code] = q
	writeJSON(w, http.StatusOK, q.dto())
}

// newCodeLocked returns a six-digit code not in use.
func (s *Server) newCodeLocked() string {
	for {
		n, err := rand.Int(rand.Reader, big.NewInt(900000))
		if err != nil {
			panic(err)
		}
		code := big.NewInt(0).Add(n, big.NewInt(100000)).String()
		if _, taken := s.qcRequests[code]; !taken {
			return code
		}
	}
}

// handleQuickConnectConnect is GET /QuickConnect/Connect?secret=, which
// clients poll until Authenticated is true.
func (s *Server) handleQuickConnectConnect(w http.ResponseWriter, r *http.Request, req *request) {
	secret, ok := queryValue(r, "secret")
	if !ok || secret == "" {
		writeValidationProblem(w, "secret", "The secret field is required.")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.quickConnect {
		writeProblem(w, http.StatusUnauthorized, "Quick connect is disabled")
		return
	}
	s.expireQuickConnectLocked()
	for _, q := range s.qcRequests {
		if q.secret == secret {
			writeJSON(w, http.StatusOK, q.dto())
			return
		}
	}
	writeProblem(w, http.StatusNotFound, "Unknown secret")
}

// handleQuickConnectAuthorize is POST /QuickConnect/Authorize?code=&userId=.
// Without userId the caller authorizes for themselves; another user's id
// needs the Administrator role, which every API key has. The session is
// created here, from the client details captured at Initiate, and any
// earlier token of that user on that DeviceId is logged out.
func (s *Server) handleQuickConnectAuthorize(w http.ResponseWriter, r *http.Request, req *request) {
	code, ok := queryValue(r, "code")
	if !ok || code == "" {
		writeValidationProblem(w, "code", "The code field is required.")
		return
	}
	userID := req.caller.userID()
	if raw, ok := queryValue(r, "userId"); ok && raw != "" {
		id, valid := parseGUID(raw)
		if !valid {
			writeValidationProblem(w, "userId", "The value '"+raw+"' is not valid.")
			return
		}
		if id != emptyGUID {
			if id != userID && !req.caller.admin() {
				writeException(w, http.StatusForbidden)
				return
			}
			userID = id
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.quickConnect {
		writeProblem(w, http.StatusUnauthorized, "Quick connect is disabled")
		return
	}
	s.expireQuickConnectLocked()
	q, ok := s.qcRequests[code]
	if !ok {
		writeException(w, http.StatusNotFound)
		return
	}
	if q.authenticated {
		// Jellyfin throws InvalidOperationException, which it answers with 500.
		writeException(w, http.StatusInternalServerError)
		return
	}
	// Jellyfin moves the request's date before it creates the session, so a
	// request whose session fails still expires a minute later than before.
	q.added = s.now().Add(time.Minute)
	if userID == "" {
		// No user id and no user behind the token: Jellyfin looks the user up
		// by an empty name, which is an ArgumentException.
		writeException(w, http.StatusBadRequest)
		return
	}
	u, ok := s.users[userID]
	if !ok {
		// An unknown user is an AuthenticationException, which the controller
		// reports as if Quick Connect were off.
		writeProblem(w, http.StatusUnauthorized, "Quick connect is disabled")
		return
	}
	creds := Credentials{Client: q.appName, Device: q.deviceName, DeviceID: q.deviceID, Version: q.appVersion}
	d := s.newSessionLocked(u, creds, remoteIP(r))
	s.qcAuthorized[q.secret] = qcAuthorization{at: s.now(), result: s.authenticationResultLocked(u, d)}
	q.authenticated = true
	writeJSON(w, http.StatusOK, true)
}

// handleAuthenticateWithQuickConnect is POST
// /Users/AuthenticateWithQuickConnect {Secret}. It returns the result stored
// at Authorize, unchanged, for as long as Jellyfin keeps it; the request's
// own headers play no part.
func (s *Server) handleAuthenticateWithQuickConnect(w http.ResponseWriter, r *http.Request, req *request) {
	body, err := readJSONObject(r)
	if err != nil {
		writeBodyError(w, err)
		return
	}
	secret, _, err := body.stringField("Secret")
	if err != nil {
		writeValidationProblem(w, "$.Secret", "The JSON value could not be converted to System.String.")
		return
	}
	if secret == "" {
		writeValidationProblem(w, "Secret", "The Secret field is required.")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.quickConnect {
		writeException(w, http.StatusUnauthorized)
		return
	}
	s.expireQuickConnectLocked()
	a, ok := s.qcAuthorized[secret]
	if !ok {
		writeException(w, http.StatusNotFound)
		return
	}
	writeJSON(w, http.StatusOK, a.result)
}
