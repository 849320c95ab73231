package usecase

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/projections"
)

// ErrAppPasswordLabel: an app password needs a name of 1 to 64 characters, so its
// owner can tell which app to revoke.
var ErrAppPasswordLabel = errors.New("an app password needs a name of 1 to 64 characters")

// maxAppPasswordLabel is the longest name of an app password, in characters.
const maxAppPasswordLabel = 64

// AppPassword is a new app password: its id, its name and the password itself, in
// clear this once (the log keeps its hash).
type AppPassword struct {
	ID       string
	Label    string
	Password string
}

// CreateAppPassword makes an app password for an app that cannot show jfguard's
// challenge (a TV, a music app), up to the policy's limit.
func (s *Service) CreateAppPassword(ctx context.Context, a Account, label string) (AppPassword, error) {
	label = strings.TrimSpace(label)
	if label == "" || utf8.RuneCountInString(label) > maxAppPasswordLabel {
		return AppPassword{}, ErrAppPasswordLabel
	}
	plain, id, hash, err := domain.NewAppPassword(s.d.Rand, s.d.HashParams)
	if err != nil {
		return AppPassword{}, err
	}
	pol := s.Policy()
	if err := s.execAccount(ctx, a, func(u *domain.User, now time.Time) ([]events.Payload, error) {
		return domain.DecideCreateAppPassword(u, pol, id, label, hash)
	}); err != nil {
		return AppPassword{}, err
	}
	return AppPassword{ID: id, Label: label, Password: plain}, nil
}

// RevokeAppPassword revokes an app password; the sessions it signed in stay until
// revoked themselves (they are listed as sessions).
func (s *Service) RevokeAppPassword(ctx context.Context, a Account, id string) error {
	return s.execAccount(ctx, a, func(u *domain.User, now time.Time) ([]events.Payload, error) {
		return domain.DecideRevokeAppPassword(u, id)
	})
}

// AnswerPairing approves or denies a device waiting for approval.
func (s *Service) AnswerPairing(ctx context.Context, a Account, pairingID string, approve bool) error {
	pol := s.Policy()
	return s.execAccount(ctx, a, func(u *domain.User, now time.Time) ([]events.Payload, error) {
		return domain.DecidePairingAnswer(u, pol, pairingID, approve, now)
	})
}

// RevokeDevice removes a paired device and ends its session, at jfguard and at
// Jellyfin.
func (s *Service) RevokeDevice(ctx context.Context, a Account, pairingID string) error {
	var token events.Sealed
	if err := s.execAccount(ctx, a, func(u *domain.User, now time.Time) ([]events.Payload, error) {
		evs, t, err := domain.DecideRevokeDevice(u, pairingID)
		token = t
		return evs, err
	}); err != nil {
		return err
	}
	s.LogoutSealed(a.UserID, token)
	return nil
}

// RevokeBrowser stops trusting a browser: its next sign-in asks for the second
// factor again.
func (s *Service) RevokeBrowser(ctx context.Context, a Account, browserID string) error {
	return s.execAccount(ctx, a, func(u *domain.User, now time.Time) ([]events.Payload, error) {
		return domain.DecideRevokeBrowser(u, browserID)
	})
}

// RevokeSession signs a session out, at jfguard and at Jellyfin. The account's own
// session is a sign-out, which is never refused; another is a revocation.
func (s *Service) RevokeSession(ctx context.Context, a Account, tokenHash string) error {
	var token events.Sealed
	if err := s.execAccount(ctx, a, func(u *domain.User, now time.Time) ([]events.Payload, error) {
		if ss := u.Sessions[tokenHash]; ss != nil {
			token = ss.Token
		}
		if tokenHash == a.TokenHash {
			return domain.DecideSignOut(u, tokenHash)
		}
		return domain.DecideRevokeSession(u, tokenHash, "signed_out_by_user")
	}); err != nil {
		return err
	}
	s.LogoutSealed(a.UserID, token)
	return nil
}

// RecordSignOut records that a client signed a verified session out at Jellyfin
// (Jellyfin's own sign-out, which the gate passed on): the session ends at jfguard
// too. A token that names no verified session records nothing.
func (s *Service) RecordSignOut(ctx context.Context, caller Caller, tokenHash string) error {
	var uid string
	s.read(func(st *projections.State) {
		if ref, ok := st.Tokens[tokenHash]; ok && ref.Status == projections.TokenVerified {
			uid = ref.UserID
		}
	})
	if uid == "" {
		return nil
	}
	_, err := s.execUser(ctx, uid, caller.Context(uid), func(u *domain.User, now time.Time) ([]events.Payload, error) {
		if u.Sessions[tokenHash] == nil {
			return nil, nil
		}
		return domain.DecideRevokeSession(u, tokenHash, "signed_out")
	})
	return err
}
