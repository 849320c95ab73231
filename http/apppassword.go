package gateway

import (
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/http/clientaddr"
	"github.com/jfguard/jfguard/http/upstream"
	"github.com/jfguard/jfguard/projections"
)

// dummyHash is verified against when an app password names no stored one, so every
// attempt costs one slow hash whether or not the id exists.
var (
	dummyOnce sync.Once
	dummyHash string
)

func (s *Server) dummyAppPasswordHash() string {
	dummyOnce.Do(func() {
		_, _, h, err := domain.NewAppPassword(s.opts.Rand, s.opts.HashParams)
		if err == nil {
			dummyHash = h
		}
	})
	return dummyHash
}

// jellyfinUnauthorized mimics Jellyfin's answer to a wrong password, so a wrong app
// password looks exactly like one.
func jellyfinUnauthorized(c *gin.Context) {
	c.Data(http.StatusUnauthorized, "text/plain; charset=utf-8", []byte("Error processing request."))
}

// handleAppPasswordSignIn signs an app in with an app password typed in its password
// field: jfguard checks it (one slow hash looked up by id) and mints a real Jellyfin
// session for the user through Quick Connect, answering what AuthenticateByName would.
func (s *Server) handleAppPasswordSignIn(c *gin.Context, addr clientaddr.ClientAddr, creds upstream.Credentials, in signInRequest) {
	ctx := c.Request.Context()
	id, secret, ok := domain.ParseAppPassword(in.Pw)
	var uid, hash, label string
	if ok {
		s.read(func(st *projections.State) {
			uid = st.AppPasswords[id]
			u := st.Users[uid]
			if u == nil || !strings.EqualFold(u.Name, in.Username) {
				uid = ""
				return
			}
			if ap := u.AppPasswords[id]; ap != nil {
				hash, label = ap.Hash, ap.Label
			} else {
				uid = ""
			}
		})
	}
	if hash == "" {
		hash = s.dummyAppPasswordHash()
	}
	valid := domain.VerifyAppPassword(hash, secret) && uid != ""
	if !valid {
		s.metrics.signIns.WithLabelValues("bad_app_password").Inc()
		s.recordSignInFailed(ctx, addr, in.Username, "bad_app_password")
		jellyfinUnauthorized(c)
		return
	}
	if creds.Client == "" || creds.DeviceID == "" || creds.Version == "" {
		// Jellyfin refuses a session without these; so do we, in Jellyfin's words.
		c.Data(http.StatusBadRequest, "text/plain; charset=utf-8", []byte("Error processing request."))
		return
	}
	device := creds.Device
	if device == "" {
		device = label
	}
	raw, res, err := s.jf.MintSession(ctx, uid, creds.Client, device, creds.DeviceID, creds.Version)
	if err != nil {
		s.log.Error("app password sign-in: cannot mint a Jellyfin session", "err", err)
		var se *upstream.StatusError
		if errors.Is(err, upstream.ErrNoAdminKey) || (errors.As(err, &se) && se.Status == http.StatusUnauthorized) {
			c.JSON(http.StatusServiceUnavailable, gin.H{"jfguard": gin.H{"error": "app passwords are unavailable: Quick Connect or the admin API key is not set up"}})
			return
		}
		c.JSON(http.StatusBadGateway, gin.H{"jfguard": gin.H{"error": "Jellyfin did not create the session"}})
		return
	}
	h := tokenHash(res.AccessToken)
	sealed, err := s.opts.Sealer.Seal(ctx, uid, []byte(res.AccessToken))
	if err == nil {
		_, err = s.opts.Projector.ExecUser(ctx, uid, s.eventContext(uid, addr, creds), func(u *domain.User, now time.Time) ([]events.Payload, error) {
			if u.AppPasswords[id] == nil {
				return nil, domain.ErrNotFound // revoked in the meantime
			}
			return []events.Payload{
				&events.AppPasswordUsed{ID: id, TokenHash: h},
				appPasswordSession(h, id, sealed),
			}, nil
		})
	}
	if err != nil {
		s.logoutAsync(res.AccessToken)
		jellyfinUnauthorized(c)
		return
	}
	s.metrics.signIns.WithLabelValues("pass_app_password").Inc()
	c.Data(http.StatusOK, "application/json; charset=utf-8", raw)
}

// appPasswordSession is the session an app password signs in: a device's.
func appPasswordSession(tokenHash, appPasswordID string, token events.Sealed) *events.SessionVerified {
	sv := domain.NewSessionVerified(tokenHash, domain.ReasonAppPassword, token)
	sv.AppPasswordID = appPasswordID
	return sv
}
