package usecase

import (
	"context"
	"sort"
	"time"

	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/projections"
)

// An administrator acting on a user's account one item at a time: what the user can
// do on the setup page (end a session, revoke an app password, answer a pairing),
// and ending a held sign-in. Each is recorded as the administrator's act (actor
// admin); the control API runs the administrator's step-up rule before it.

// ReasonRevokedByAdmin is the reason of a session_revoked an administrator caused.
const ReasonRevokedByAdmin = "revoked_by_admin"

// AdminRevokeSession ends one verified session of a user, at jfguard and at
// Jellyfin.
func (s *Service) AdminRevokeSession(ctx context.Context, a Admin, uid, tokenHash string) error {
	var token events.Sealed
	if _, err := s.execUser(ctx, uid, a.context(), func(u *domain.User, _ time.Time) ([]events.Payload, error) {
		if ss := u.Sessions[tokenHash]; ss != nil {
			token = ss.Token
		}
		return domain.DecideRevokeSession(u, tokenHash, ReasonRevokedByAdmin)
	}); err != nil {
		return err
	}
	s.LogoutSealed(uid, token)
	return nil
}

// AdminRevokeAppPassword revokes one app password of a user: it signs nothing in
// from then on (sessions it already signed in are ended with AdminRevokeSession).
func (s *Service) AdminRevokeAppPassword(ctx context.Context, a Admin, uid, id string) error {
	_, err := s.execUser(ctx, uid, a.context(), func(u *domain.User, _ time.Time) ([]events.Payload, error) {
		return domain.DecideRevokeAppPassword(u, id)
	})
	return err
}

// AdminAnswerPairing approves or denies a device waiting for the user's approval,
// on the user's behalf.
func (s *Service) AdminAnswerPairing(ctx context.Context, a Admin, uid, pairingID string, approve bool) error {
	pol := s.Policy()
	_, err := s.execUser(ctx, uid, a.context(), func(u *domain.User, now time.Time) ([]events.Payload, error) {
		return domain.DecidePairingAnswer(u, pol, pairingID, approve, now)
	})
	return err
}

// HeldSignIn is a sign-in waiting for its second step.
type HeldSignIn struct {
	ID        string        `json:"id"`
	UserID    string        `json:"user_id"`
	User      string        `json:"user"`
	Methods   []string      `json:"methods"`
	IP        string        `json:"ip,omitempty"`
	Device    events.Device `json:"device"`
	IssuedAt  time.Time     `json:"issued_at"`
	ExpiresAt time.Time     `json:"expires_at"`
}

// HeldSignIns lists the sign-ins waiting for a second step now, oldest first.
func (s *Service) HeldSignIns() []HeldSignIn {
	now := s.now()
	out := []HeldSignIn{}
	s.read(func(st *projections.State) {
		for _, u := range st.Users {
			for _, c := range u.Challenges {
				if c.Done || !now.Before(c.ExpiresAt) {
					continue
				}
				out = append(out, HeldSignIn{ID: c.ID, UserID: u.ID, User: u.Name, Methods: append([]string{}, c.Methods...),
					IP: c.IP, Device: c.Device, IssuedAt: c.IssuedAt, ExpiresAt: c.ExpiresAt})
			}
		}
	})
	sort.Slice(out, func(i, j int) bool { return out[i].IssuedAt.Before(out[j].IssuedAt) })
	return out
}

// AdminEndChallenge ends a held sign-in (challenge_expired, the administrator's
// act) and logs its token out at Jellyfin. A challenge that is gone or completed is
// domain.ErrNotFound.
func (s *Service) AdminEndChallenge(ctx context.Context, a Admin, challengeID string) (string, error) {
	uid, ok := s.ChallengeUser(challengeID)
	if !ok {
		return "", domain.ErrNotFound
	}
	var token events.Sealed
	_, err := s.execUser(ctx, uid, a.context(), func(u *domain.User, now time.Time) ([]events.Payload, error) {
		if c := u.Challenges[challengeID]; c == nil || c.Done || !now.Before(c.ExpiresAt) {
			return nil, domain.ErrNotFound
		}
		evs, t := domain.DecideExpireChallenge(u, challengeID)
		token = t
		return evs, nil
	})
	if err != nil {
		return "", err
	}
	s.LogoutSealed(uid, token)
	return uid, nil
}
