package gateway

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/projections/usecase"
)

// jellyfinUnauthorized mimics Jellyfin's answer to a wrong password, so a wrong app
// password looks exactly like one.
func jellyfinUnauthorized(c *gin.Context) {
	c.Data(http.StatusUnauthorized, "text/plain; charset=utf-8", []byte("Error processing request."))
}

// jellyfinBadRequest is Jellyfin's answer to a sign-in that does not name its
// client, device id and version.
func jellyfinBadRequest(c *gin.Context) {
	c.Data(http.StatusBadRequest, "text/plain; charset=utf-8", []byte("Error processing request."))
}

// answerAppPasswordSignIn answers the sign-in of an app with an app password typed
// in its password field (see usecase.SignInWithAppPassword) as AuthenticateByName
// would.
func (s *Server) answerAppPasswordSignIn(c *gin.Context, raw []byte, err error) {
	switch {
	case errors.Is(err, domain.ErrOutsideNetworks):
		s.metrics.signIns.WithLabelValues("refused_network").Inc()
		s.fail(c, err)
	case errors.Is(err, usecase.ErrBadAppPassword):
		s.metrics.signIns.WithLabelValues("bad_app_password").Inc()
		jellyfinUnauthorized(c)
	case errors.Is(err, usecase.ErrIncompleteDevice):
		// Jellyfin refuses a session without these; so do we, in Jellyfin's words.
		jellyfinBadRequest(c)
	case errors.Is(err, usecase.ErrAppPasswordsUnavailable):
		s.refuse(c, http.StatusServiceUnavailable, "app passwords are unavailable: Quick Connect or the admin API key is not set up")
	case errors.Is(err, usecase.ErrSessionNotMinted):
		s.refuse(c, http.StatusBadGateway, "Jellyfin did not create the session")
	case err != nil:
		// The app password was revoked meanwhile, or the session could not be
		// recorded: the minted session is logged out, and the app told no more than
		// for a wrong password.
		jellyfinUnauthorized(c)
	default:
		s.metrics.signIns.WithLabelValues("pass_app_password").Inc()
		c.Data(http.StatusOK, "application/json; charset=utf-8", raw)
	}
}
