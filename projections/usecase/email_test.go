package usecase_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/projections/usecase"
)

// fakeMailer stands in for the mail server: it keeps what it was given to send, or
// refuses it when down.
type fakeMailer struct {
	mu   sync.Mutex
	sent []sentMail
	down bool
}

type sentMail struct {
	to      []string
	subject string
	text    string
}

func (m *fakeMailer) SendMail(_ context.Context, to []string, subject, text, _ string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down {
		return errors.New("mail server unreachable")
	}
	m.sent = append(m.sent, sentMail{to: to, subject: subject, text: text})
	return nil
}

// last is the last email sent and the code it carries.
func (m *fakeMailer) last(t *testing.T) (sentMail, string) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.sent) == 0 {
		t.Fatal("no email was sent")
	}
	s := m.sent[len(m.sent)-1]
	code := strings.TrimPrefix(s.subject, "Your Jellyfin sign-in code: ")
	if len(code) != domain.EmailCodeDigits {
		t.Fatalf("no code in the subject %q", s.subject)
	}
	return s, code
}

func (m *fakeMailer) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.sent)
}

// newMailWorld is a world whose server sends email.
func newMailWorld(t *testing.T) (*world, *fakeMailer) {
	t.Helper()
	w := newWorld(t)
	m := &fakeMailer{}
	w.app = usecase.New(usecase.Deps{
		Projector: w.proj, Sealer: w.sealer, Jellyfin: w.jf, Mailer: m,
		Policy:     func() domain.Policy { return w.policy },
		HashParams: domain.HashParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		Clock:      w.clock.Now,
	})
	return w, m
}

// withConfirmedEmail gives alice, signed in without a second factor, a confirmed
// address, through the use cases; it returns her session.
func withConfirmedEmail(t *testing.T, w *world, m *fakeMailer) usecase.Account {
	t.Helper()
	ctx := context.Background()
	a := webSession(t, w, "tok-web", domain.ActionFactors)
	if _, err := w.app.AddEmail(ctx, a, "alice@example.org"); err != nil {
		t.Fatal(err)
	}
	_, code := m.last(t)
	if err := w.app.ConfirmEmail(ctx, a, code); err != nil {
		t.Fatal(err)
	}
	return a
}

func TestAddingAnAddressEmailsACodeThatConfirmsIt(t *testing.T) {
	t.Parallel()
	// given alice signed in without a second factor
	w, m := newMailWorld(t)
	ctx := context.Background()
	a := webSession(t, w, "tok-web", domain.ActionFactors)
	mk := mark(w)
	// when she adds her address
	addr, err := w.app.AddEmail(ctx, a, "  alice@example.org ")
	// then a code is emailed to it, and the log holds the address sealed
	if err != nil || addr != "alice@example.org" {
		t.Fatalf("add: %q, %v", addr, err)
	}
	mail, code := m.last(t)
	if !slices.Equal(mail.to, []string{"alice@example.org"}) || !strings.Contains(mail.text, "confirm this address") {
		t.Fatalf("mail = %+v", mail)
	}
	u := w.user(aliceID)
	if u.Email == nil || u.Email.Confirmed || strings.Contains(string(u.Email.Address), "alice@") {
		t.Fatalf("email = %+v", u.Email)
	}
	if got, err := w.app.EmailAddress(ctx, aliceID); err != nil || got != "alice@example.org" {
		t.Fatalf("address = %q, %v", got, err)
	}
	// and a wrong code does not confirm it
	if err := w.app.ConfirmEmail(ctx, a, "000000"); err == nil {
		t.Fatal("a wrong code confirmed the address")
	}
	// when she types the code
	err = w.app.ConfirmEmail(ctx, a, code)
	// then the address is a second factor
	if err != nil || !w.user(aliceID).HasSecondFactor() {
		t.Fatalf("confirm: %v", err)
	}
	want := []events.Type{events.TypeEmailAddressAdded, events.TypeFactorFailed, events.TypeEmailAddressConfirmed}
	if got := since(w, mk); !slices.Equal(got, want) {
		t.Fatalf("events = %v, want %v", got, want)
	}
}

func TestAddingAnAddressIsRefused(t *testing.T) {
	t.Parallel()
	// given alice with a confirmed address
	w, m := newMailWorld(t)
	ctx := context.Background()
	withConfirmedEmail(t, w, m)
	a := emailSession(t, w, m, "tok-web-2", domain.ActionFactors)
	sent, mk := m.count(), mark(w)
	// when she adds another, or something that is no address
	_, again := w.app.AddEmail(ctx, a, "alice@example.net")
	_, bad := w.app.AddEmail(ctx, a, "alice at example")
	// then neither is recorded nor emailed
	if !errors.Is(again, usecase.ErrEmailConfirmed) || !errors.Is(bad, domain.ErrEmailAddress) {
		t.Fatalf("another: %v, no address: %v", again, bad)
	}
	if got := since(w, mk); len(got) != 0 || m.count() != sent {
		t.Fatalf("events = %v, mails %d → %d", got, sent, m.count())
	}
}

// emailSession signs alice in from the web app with a code emailed to her: the
// session has a recent factor.
func emailSession(t *testing.T, w *world, m *fakeMailer, token string, action domain.Action) usecase.Account {
	t.Helper()
	ctx := context.Background()
	res, raw := authResult(t, aliceID, "alice", token)
	out, err := w.app.DecideSignIn(ctx, usecase.SignInRequest{Caller: internet, Result: res, Raw: raw, Web: true})
	if err != nil || out.Pass {
		t.Fatalf("sign-in: %+v, %v", out, err)
	}
	if err := w.app.SendChallengeCode(ctx, internet, out.ChallengeID); err != nil {
		t.Fatalf("send: %v", err)
	}
	_, code := m.last(t)
	if _, err := w.app.VerifyChallenge(ctx, usecase.VerifyRequest{Caller: internet, ChallengeID: out.ChallengeID,
		Proof: domain.FactorProof{Method: domain.MethodEmail, Code: code}}); err != nil {
		t.Fatalf("verify: %v", err)
	}
	return account(token, action)
}

func TestChallengeCodeIsEmailedAndCompletesTheSignIn(t *testing.T) {
	t.Parallel()
	// given alice with a confirmed address, signing in
	w, m := newMailWorld(t)
	ctx := context.Background()
	withConfirmedEmail(t, w, m)
	res, raw := authResult(t, aliceID, "alice", "tok-2")
	out, err := w.app.DecideSignIn(ctx, usecase.SignInRequest{Caller: internet, Result: res, Raw: raw, Web: true})
	if err != nil || out.Pass {
		t.Fatalf("sign-in: %+v, %v", out, err)
	}
	mk := mark(w)
	// when the challenge page asks for a code
	err = w.app.SendChallengeCode(ctx, internet, out.ChallengeID)
	// then it is emailed, recorded for that challenge by its hash only
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	mail, code := m.last(t)
	if !strings.Contains(mail.text, "sign in to Jellyfin") {
		t.Fatalf("mail = %+v", mail)
	}
	evs := w.events(aliceID)[mk:]
	if len(evs) != 1 || evs[0].Type != events.TypeEmailCodeSent || evs[0].Actor != aliceID || evs[0].IP != internet.IPString() ||
		strings.Contains(string(evs[0].Data), code) || !strings.Contains(string(evs[0].Data), out.ChallengeID) {
		t.Fatalf("events = %+v", evs)
	}
	// and the code completes the sign-in
	done, err := w.app.VerifyChallenge(ctx, usecase.VerifyRequest{Caller: internet, ChallengeID: out.ChallengeID,
		Proof: domain.FactorProof{Method: domain.MethodEmail, Code: code}})
	if err != nil || string(done.AuthResult) != string(raw) {
		t.Fatalf("verify: %v", err)
	}
}

func TestChallengeCodeIsRefused(t *testing.T) {
	t.Parallel()
	// given alice with a confirmed address, signing in
	w, m := newMailWorld(t)
	ctx := context.Background()
	withConfirmedEmail(t, w, m)
	res, raw := authResult(t, aliceID, "alice", "tok-2")
	out, err := w.app.DecideSignIn(ctx, usecase.SignInRequest{Caller: internet, Result: res, Raw: raw, Web: true})
	if err != nil || out.Pass {
		t.Fatalf("sign-in: %+v, %v", out, err)
	}
	// when a code is asked for a challenge that does not exist
	if err := w.app.SendChallengeCode(ctx, internet, "no-such-challenge"); !errors.Is(err, domain.ErrChallengeNotFound) {
		t.Fatalf("unknown challenge: %v", err)
	}
	// or more often than the per-user limit allows
	for i := 0; i < domain.EmailSendsPerUser-1; i++ { // confirming the address was one send
		if err := w.app.SendChallengeCode(ctx, internet, out.ChallengeID); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	sent, mk := m.count(), mark(w)
	err = w.app.SendChallengeCode(ctx, internet, out.ChallengeID)
	// then no code is sent, and the refusal says when the next one can be
	var limited *domain.SendLimitedError
	if !errors.As(err, &limited) || !limited.Next.After(w.clock.Now()) {
		t.Fatalf("over the limit: %v", err)
	}
	if got := since(w, mk); len(got) != 0 || m.count() != sent {
		t.Fatalf("events = %v, mails %d → %d", got, sent, m.count())
	}
}

func TestProofCodeRemovesAConfirmedAddress(t *testing.T) {
	t.Parallel()
	// given alice with a confirmed address, whose session is not recent
	w, m := newMailWorld(t)
	ctx := context.Background()
	withConfirmedEmail(t, w, m)
	// when she removes it without a factor
	a := withProof(account("tok-web", domain.ActionFactors))
	err := w.app.RemoveEmail(ctx, a, domain.FactorProof{Method: domain.MethodEmail, Code: "123456"})
	// then it stays
	if err == nil || w.user(aliceID).Email == nil {
		t.Fatalf("remove without a code: %v", err)
	}
	// when she asks for a proof code and gives it
	if err := w.app.SendProofCode(ctx, account("tok-web", domain.ActionStepUp)); err != nil {
		t.Fatalf("send: %v", err)
	}
	mail, code := m.last(t)
	if !strings.Contains(mail.text, "confirm a change to your security settings") {
		t.Fatalf("mail = %+v", mail)
	}
	mk := mark(w)
	err = w.app.RemoveEmail(ctx, a, domain.FactorProof{Method: domain.MethodEmail, Code: code})
	// then the address is gone
	if err != nil || w.user(aliceID).Email != nil {
		t.Fatalf("remove: %v", err)
	}
	if got := since(w, mk); got[len(got)-1] != events.TypeEmailAddressRemoved {
		t.Fatalf("events = %v", got)
	}
}

func TestEmailThatCannotBeSentIsReported(t *testing.T) {
	t.Parallel()
	// given alice signed in, and a mail server that is down
	w, m := newMailWorld(t)
	m.down = true
	a := webSession(t, w, "tok-web", domain.ActionFactors)
	mk := mark(w)
	// when she adds her address
	_, err := w.app.AddEmail(context.Background(), a, "alice@example.org")
	// then she is told the email did not go; the code is on record, so a retry
	// counts toward the send limit
	if !errors.Is(err, usecase.ErrSendFailed) {
		t.Fatalf("add: %v", err)
	}
	if got := since(w, mk); !slices.Equal(got, []events.Type{events.TypeEmailAddressAdded}) {
		t.Fatalf("events = %v", got)
	}
}

func TestNoEmailFactorWithoutAMailServer(t *testing.T) {
	t.Parallel()
	// given a server without a mail server
	w := newWorld(t)
	ctx := context.Background()
	a := webSession(t, w, "tok-web", domain.ActionFactors)
	mk := mark(w)
	// when alice adds an address or asks for a code
	_, add := w.app.AddEmail(ctx, a, "alice@example.org")
	proof := w.app.SendProofCode(ctx, a)
	// then there is no email factor, and nothing is recorded
	if !errors.Is(add, usecase.ErrMailUnavailable) || !errors.Is(proof, usecase.ErrMailUnavailable) {
		t.Fatalf("add: %v, proof code: %v", add, proof)
	}
	if got := since(w, mk); len(got) != 0 {
		t.Fatalf("events = %v", got)
	}
}
