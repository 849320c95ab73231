package gateway

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/jfguard/jfguard/projections/usecase"
)

// TestJellyfinLogoutFailureAnswer: a revocation whose logouts Jellyfin refused
// answers 502 jellyfin_logout_failed with words for the user, not a bare internal
// error: the sign-out stands at jfguard, and the user should try again.
func TestJellyfinLogoutFailureAnswer(t *testing.T) {
	err := fmt.Errorf("%w: 1 session(s) still live at Jellyfin", usecase.ErrJellyfinLogout)
	a := (&Server{}).errorAnswer(err, nil)
	if a.Status != http.StatusBadGateway || a.Code != "jellyfin_logout_failed" || a.Message == "" {
		t.Fatalf("answer %+v", a)
	}
}
