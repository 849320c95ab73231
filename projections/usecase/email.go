package usecase

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
)

// Mailer sends email (the SMTP settings the notifiers use).
type Mailer interface {
	SendMail(ctx context.Context, to []string, subject, text, html string) error
}

// Errors of the email factor.
var (
	// ErrMailUnavailable: no mail server is configured, so there is no email
	// factor on this server.
	ErrMailUnavailable = errors.New("email codes are not set up on this server (smtp settings)")
	// ErrEmailConfirmed: the user already has a confirmed address; it must be
	// removed (with a current factor) before another is added.
	ErrEmailConfirmed = errors.New("an email address is already set up")
	// ErrSendFailed: the code was recorded but the mail server did not take the
	// email; the user may ask for another code.
	ErrSendFailed = errors.New("the email could not be sent")
)

// mailTimeout bounds one email's delivery to the mail server.
const mailTimeout = 20 * time.Second

// AddEmail adds an address (replacing an unconfirmed one) and emails it a code to
// confirm it. It returns the address as jfguard will write to it. The address is
// sealed in the log; the code is known to it by its hash only.
func (s *Service) AddEmail(ctx context.Context, a Account, address string) (string, error) {
	if s.d.Mailer == nil {
		return "", ErrMailUnavailable
	}
	addr, err := domain.NormalizeEmailAddress(address)
	if err != nil {
		return "", err
	}
	code, hash, err := s.newEmailCode()
	if err != nil {
		return "", err
	}
	sealed, err := s.d.Sealer.Seal(ctx, a.UserID, []byte(addr))
	if err != nil {
		return "", err
	}
	pol := s.Policy()
	err = s.execAccount(ctx, a, func(u *domain.User, now time.Time) ([]events.Payload, error) {
		return domain.DecideAddEmail(u, sealed, hash, now, pol.EmailCodeTTL)
	})
	if errors.Is(err, domain.ErrTOTPEnrolled) {
		// The domain refuses a second address as it refuses a second app.
		return "", ErrEmailConfirmed
	}
	if err != nil {
		return "", err
	}
	if err := s.mailCode(ctx, addr, code, "confirm this address"); err != nil {
		s.log.Error("send confirmation email", "err", err)
		return "", ErrSendFailed
	}
	return addr, nil
}

// ConfirmEmail confirms the address with the code emailed to it. A wrong code is a
// failure of enrolment, which does not count toward the sign-in lockout.
func (s *Service) ConfirmEmail(ctx context.Context, a Account, code string) error {
	return s.execAccount(ctx, a, func(u *domain.User, now time.Time) ([]events.Payload, error) {
		return domain.DecideConfirmEmail(u, code, now)
	})
}

// RemoveEmail removes the address; a confirmed one needs a current factor in the
// request.
func (s *Service) RemoveEmail(ctx context.Context, a Account, p domain.FactorProof) error {
	return s.execProved(ctx, a, p, domain.DecideRemoveEmail)
}

// SendProofCode emails the user a code that proves the factor for a self-service
// change (a step-up, or a form that asks for a code), within the per-user send
// limit.
func (s *Service) SendProofCode(ctx context.Context, a Account) error {
	if s.d.Mailer == nil {
		return ErrMailUnavailable
	}
	code, hash, err := s.newEmailCode()
	if err != nil {
		return err
	}
	pol := s.Policy()
	if err := s.execAccount(ctx, a, func(u *domain.User, now time.Time) ([]events.Payload, error) {
		return domain.DecideSendProofCode(u, hash, now, pol.EmailCodeTTL)
	}); err != nil {
		return err
	}
	return s.mailUser(ctx, a.UserID, code, "confirm a change to your security settings", "send proof email")
}

// SendChallengeCode emails a sign-in code for a held sign-in, within the per-user
// send limit. The challenge id is the capability: only whoever typed the right
// password has it, so the event names the user as the actor.
func (s *Service) SendChallengeCode(ctx context.Context, caller Caller, challengeID string) error {
	if s.d.Mailer == nil {
		return ErrMailUnavailable
	}
	uid, ok := s.ChallengeUser(challengeID)
	if !ok {
		return domain.ErrChallengeNotFound
	}
	code, hash, err := s.newEmailCode()
	if err != nil {
		return err
	}
	pol := s.Policy()
	ec := events.Context{Actor: uid, IP: caller.IPString()}
	if _, err := s.execUser(ctx, uid, ec, func(u *domain.User, now time.Time) ([]events.Payload, error) {
		return domain.DecideSendChallengeCode(u, challengeID, hash, now, pol.EmailCodeTTL)
	}); err != nil {
		return err
	}
	return s.mailUser(ctx, uid, code, "sign in to Jellyfin", "send sign-in email")
}

// EmailAddress unseals the user's email address, which only its owner sees.
func (s *Service) EmailAddress(ctx context.Context, uid string) (string, error) {
	return s.openUserValue(ctx, uid, func(u *domain.User) events.Sealed {
		if u.Email == nil {
			return ""
		}
		return u.Email.Address
	})
}

// newEmailCode makes a code and the hash the log keeps of it.
func (s *Service) newEmailCode() (code, hash string, err error) {
	code, err = domain.NewEmailCode(s.d.Rand)
	if err != nil {
		return "", "", err
	}
	hash, err = domain.HashEmailCode(code, s.d.Rand, s.d.HashParams)
	return code, hash, err
}

// mailUser sends a code to the user's confirmed address; a failure is logged as
// what (the email's purpose) and returned as ErrSendFailed.
func (s *Service) mailUser(ctx context.Context, uid, code, purpose, what string) error {
	to, err := s.EmailAddress(ctx, uid)
	if err == nil {
		err = s.mailCode(ctx, to, code, purpose)
	}
	if err != nil {
		s.log.Error(what, "err", err)
		return ErrSendFailed
	}
	return nil
}

// mailCode sends a code to an address. The delivery outlives the request (a client
// that gave up still gets its code) but not mailTimeout.
func (s *Service) mailCode(ctx context.Context, to, code, purpose string) error {
	subject := "Your Jellyfin sign-in code: " + code
	text := fmt.Sprintf("Your code to %s is:\n\n    %s\n\nIt works once, for 5 minutes. If you did not ask for it, someone knows your password: change it.\n", purpose, code)
	html := fmt.Sprintf(`<p>Your code to %s is:</p><p style="font-size:28px;font-weight:bold;letter-spacing:4px">%s</p><p>It works once, for 5 minutes. If you did not ask for it, someone knows your password: change it.</p>`, purpose, code)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), mailTimeout)
	defer cancel()
	return s.d.Mailer.SendMail(sctx, []string{to}, subject, text, html)
}
