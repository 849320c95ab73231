package usecase

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/http/upstream"
	"github.com/jfguard/jfguard/projections"
)

// Errors of signing in with an app password; the gateway answers each in
// Jellyfin's words where Jellyfin has some, so an app cannot tell jfguard's answer
// from Jellyfin's.
var (
	// ErrBadAppPassword: the password is no app password of the user named, or not
	// the right one. Which of these is never said.
	ErrBadAppPassword = errors.New("wrong app password")
	// ErrIncompleteDevice: the request does not name its client, device id and
	// version, without which Jellyfin makes no session.
	ErrIncompleteDevice = errors.New("the request does not name its client, device id and version")
	// ErrAppPasswordsUnavailable: Jellyfin cannot mint sessions for jfguard (Quick
	// Connect or the admin API key is not set up).
	ErrAppPasswordsUnavailable = errors.New("app passwords are unavailable: Quick Connect or the admin API key is not set up")
	// ErrSessionNotMinted: Jellyfin did not create the session.
	ErrSessionNotMinted = errors.New("jellyfin did not create the session")
)

// AppPasswordSignIn is a sign-in whose password is an app password: the name and
// password typed, and the caller, whose Device is the app asking.
type AppPasswordSignIn struct {
	Caller   Caller
	Username string
	Password string
}

// dummyAppPassword is verified against when an app password names no stored one, so
// every attempt costs one slow hash whether or not the id exists.
var dummyAppPassword struct {
	once sync.Once
	hash string
}

func (s *Service) dummyAppPasswordHash() string {
	dummyAppPassword.once.Do(func() {
		if _, _, h, err := domain.NewAppPassword(s.d.Rand, s.d.HashParams); err == nil {
			dummyAppPassword.hash = h
		}
	})
	return dummyAppPassword.hash
}

// SignInWithAppPassword signs an app in with an app password typed in its password
// field: jfguard checks it (one slow hash, looked up by the password's id), mints a
// real Jellyfin session for the user through Quick Connect, and records the use and
// the session, a device's. It returns the AuthenticationResult as Jellyfin wrote it,
// which answers the app as AuthenticateByName would. A wrong app password counts as
// a failed sign-in of the address. An app password revoked while the session was
// being minted signs nothing in: the minted session is logged out.
func (s *Service) SignInWithAppPassword(ctx context.Context, in AppPasswordSignIn) ([]byte, error) {
	id, secret, ok := domain.ParseAppPassword(in.Password)
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
	if !domain.VerifyAppPassword(hash, secret) || uid == "" {
		s.RecordSignInFailed(ctx, in.Caller, in.Username, "bad_app_password")
		return nil, ErrBadAppPassword
	}
	dev := in.Caller.Device
	if dev.Client == "" || dev.ID == "" || dev.Version == "" {
		return nil, ErrIncompleteDevice
	}
	if err := s.refuseOutsideNetworks(ctx, uid, in.Caller, domain.SignInAppPassword, s.knownAdmin(uid)); err != nil {
		return nil, err
	}
	name := dev.Name
	if name == "" {
		name = label
	}
	raw, res, err := s.d.Jellyfin.MintSession(ctx, uid, dev.Client, name, dev.ID, dev.Version)
	if err != nil {
		s.log.Error("app password sign-in: cannot mint a Jellyfin session", "err", err)
		var se *upstream.StatusError
		if errors.Is(err, upstream.ErrNoAdminKey) || (errors.As(err, &se) && se.Status == http.StatusUnauthorized) {
			return nil, fmt.Errorf("%w: %w", ErrAppPasswordsUnavailable, err)
		}
		return nil, fmt.Errorf("%w: %w", ErrSessionNotMinted, err)
	}
	pol := s.Policy()
	err = s.recordMinted(ctx, uid, in.Caller.Context(uid), res, func(u *domain.User, h string, sealed events.Sealed, _ time.Time) ([]events.Payload, error) {
		// Jellyfin's word on the administrator role is the latest.
		nw := domain.NetworkAttempt{Method: domain.SignInAppPassword, IP: in.Caller.IP, Admin: res.User.Policy.IsAdministrator}
		if evs, err := domain.DecideNetwork(u, pol, nw); err != nil {
			return evs, err
		}
		return domain.DecideAppPasswordSignIn(u, id, h, sealed)
	})
	if err != nil {
		return nil, fmt.Errorf("record an app password sign-in: %w", err)
	}
	return raw, nil
}
