package usecase

import (
	"context"
	"time"

	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
)

// CompleteProof makes the factor a self-service request carries ready for the
// decision that checks it: a TOTP code is checked against the user's secret, which
// is unsealed here and nowhere else; the other methods carry all they need (a
// passkey's assertion was verified by the relying party already). It is exported
// for SignOutEverywhere and RemovePasskey, which take a completed proof; the use
// cases of this file and of totp.go and email.go complete theirs themselves.
func (s *Service) CompleteProof(ctx context.Context, a Account, p domain.FactorProof) (domain.FactorProof, error) {
	if p.Method != domain.MethodTOTP {
		return p, nil
	}
	secret, err := s.TOTPSecret(ctx, a.UserID)
	if err != nil {
		return p, err
	}
	p.TOTPSecret = secret
	return p, nil
}

// StepUp proves a current factor for the account's session: account changes are
// allowed from it for the step-up window, which it returns the end of. A wrong
// factor counts toward the lockout like a failed challenge.
func (s *Service) StepUp(ctx context.Context, a Account, p domain.FactorProof) (time.Time, error) {
	p, err := s.CompleteProof(ctx, a, p)
	if err != nil {
		return time.Time{}, err
	}
	pol := s.Policy()
	var until time.Time
	_, err = s.execUser(ctx, a.UserID, a.context(), func(u *domain.User, now time.Time) ([]events.Payload, error) {
		p.Now = now
		until = now.Add(pol.StepUpDuration())
		return domain.DecideStepUp(u, pol, a.TokenHash, p)
	})
	if err != nil {
		return time.Time{}, err
	}
	return until, nil
}

// execProved runs a self-service change that needs a current factor in the
// request (disable, new recovery codes, remove the address): the proof is
// completed, stamped with the decision's time and handed to decide, under the
// step-up rule of the account's action.
func (s *Service) execProved(ctx context.Context, a Account, p domain.FactorProof, decide func(u *domain.User, pol domain.Policy, p domain.FactorProof) ([]events.Payload, error)) error {
	p, err := s.CompleteProof(ctx, a, p)
	if err != nil {
		return err
	}
	pol := s.Policy()
	return s.execAccount(ctx, a, func(u *domain.User, now time.Time) ([]events.Payload, error) {
		p.Now = now
		return decide(u, pol, p)
	})
}
