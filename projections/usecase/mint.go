package usecase

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/http/upstream"
)

// Sessions jfguard has Jellyfin make for a user (passkey alone, OIDC, app passwords)
// through Quick Connect and the admin API key.

// mintFor has Jellyfin make a session for uid on the caller's device; what names the
// sign-in in the log. Jellyfin refusing the admin key (or none set) is
// ErrMintUnavailable, anything else ErrMintFailed.
func (s *Service) mintFor(ctx context.Context, uid string, d events.Device, what string) ([]byte, upstream.AuthResult, error) {
	body, res, err := s.d.Jellyfin.MintSession(ctx, uid, d.Client, d.Name, d.ID, d.Version)
	if err != nil {
		s.log.Error(what+": cannot mint a Jellyfin session", "err", err)
		var se *upstream.StatusError
		if errors.Is(err, upstream.ErrNoAdminKey) || (errors.As(err, &se) && (se.Status == http.StatusUnauthorized || se.Status == http.StatusForbidden)) {
			return nil, res, fmt.Errorf("%w: %w", ErrMintUnavailable, err)
		}
		return nil, res, fmt.Errorf("%w: %w", ErrMintFailed, err)
	}
	return body, res, nil
}

// recordMinted seals a session Jellyfin made for uid and records it with record,
// decided on the user's state at that moment. A session that cannot be recorded
// (refused on fresh state, a lost race, the store down) is logged out at Jellyfin:
// jfguard never leaves a session it did not record.
func (s *Service) recordMinted(ctx context.Context, uid string, ec events.Context, res upstream.AuthResult,
	record func(u *domain.User, tokenHash string, token events.Sealed, now time.Time) ([]events.Payload, error)) error {
	sealed, err := s.d.Sealer.Seal(ctx, uid, []byte(res.AccessToken))
	if err == nil {
		h := TokenHash(res.AccessToken)
		_, err = s.execUser(ctx, uid, ec, func(u *domain.User, now time.Time) ([]events.Payload, error) {
			return record(u, h, sealed, now)
		})
	}
	if err != nil {
		s.LogoutAsync(res.AccessToken)
	}
	return err
}
