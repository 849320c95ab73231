package usecase_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
)

func TestAddingAnAuthenticatorAppGivesRecoveryCodesOnce(t *testing.T) {
	t.Parallel()
	// given alice signed in without a second factor
	w := newWorld(t)
	ctx := context.Background()
	a := webSession(t, w, "tok-web", domain.ActionFactors)
	m := mark(w)
	// when she starts adding an authenticator app
	key, err := w.app.BeginTOTP(ctx, a)
	// then she gets a secret for her account, and the log holds it sealed
	if err != nil || key.Secret == "" || !strings.Contains(key.URI, "Jellyfin:alice") {
		t.Fatalf("begin: %+v, %v", key, err)
	}
	u := w.user(aliceID)
	if u.PendingTOTP == "" || strings.Contains(string(u.PendingTOTP), key.Secret) {
		t.Fatalf("pending secret = %q", u.PendingTOTP)
	}
	// and its QR code is served while the enrolment is pending
	png, err := w.app.PendingTOTPQRCode(ctx, a)
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Fatalf("qr: %d bytes, %v", len(png), err)
	}
	// when she confirms it with a code from the app
	codes, err := w.app.ConfirmTOTP(ctx, a, totpCode(t, key.Secret, w.clock.Now()))
	// then it is enrolled, with recovery codes shown in clear this once
	if err != nil || len(codes) == 0 {
		t.Fatalf("confirm: %v, %v", codes, err)
	}
	want := []events.Type{events.TypeTOTPEnrollmentStarted, events.TypeTOTPEnrolled, events.TypeRecoveryCodesGenerated}
	if got := since(w, m); !slices.Equal(got, want) {
		t.Fatalf("events = %v, want %v", got, want)
	}
	if u := w.user(aliceID); u.TOTP == nil || u.RecoveryLeft() != len(codes) {
		t.Fatalf("after confirm: totp %v, recovery left %d", u.TOTP, u.RecoveryLeft())
	}
}

func TestConfirmingAnAuthenticatorAppWithAWrongCodeFails(t *testing.T) {
	t.Parallel()
	// given alice adding an authenticator app
	w := newWorld(t)
	ctx := context.Background()
	a := webSession(t, w, "tok-web", domain.ActionFactors)
	if _, err := w.app.BeginTOTP(ctx, a); err != nil {
		t.Fatal(err)
	}
	m := mark(w)
	// when she types a wrong code
	codes, err := w.app.ConfirmTOTP(ctx, a, "000000")
	// then nothing is enrolled and the failure is recorded
	if !errors.Is(err, domain.ErrCodeInvalid) || codes != nil {
		t.Fatalf("confirm: %v, %v", codes, err)
	}
	if got := since(w, m); !slices.Equal(got, []events.Type{events.TypeFactorFailed}) {
		t.Fatalf("events = %v", got)
	}
	if w.user(aliceID).TOTP != nil {
		t.Fatal("enrolled with a wrong code")
	}
}

func TestConfirmingWithoutAnEnrolmentIsRefused(t *testing.T) {
	t.Parallel()
	// given alice signed in, not adding any app
	w := newWorld(t)
	a := webSession(t, w, "tok-web", domain.ActionFactors)
	m := mark(w)
	// when a code comes to confirm one, or its QR code is asked for
	_, err := w.app.ConfirmTOTP(context.Background(), a, "123456")
	_, qrErr := w.app.PendingTOTPQRCode(context.Background(), a)
	// then there is none to confirm or show
	if !errors.Is(err, domain.ErrNoPendingTOTP) || !errors.Is(qrErr, domain.ErrNoPendingTOTP) {
		t.Fatalf("confirm: %v, qr: %v", err, qrErr)
	}
	if got := since(w, m); len(got) != 0 {
		t.Fatalf("events = %v", got)
	}
}

func TestBeginningASecondAuthenticatorAppIsRefused(t *testing.T) {
	t.Parallel()
	// given alice with an authenticator app, signed in with it
	w := newWorld(t)
	secret := enrollTOTP(t, w, aliceID, "alice")
	a := totpSession(t, w, secret, "tok-web", domain.ActionFactors)
	m := mark(w)
	// when she starts adding another
	_, err := w.app.BeginTOTP(context.Background(), a)
	// then it is refused: the first must be disabled first
	if !errors.Is(err, domain.ErrTOTPEnrolled) {
		t.Fatalf("begin: %v", err)
	}
	if got := since(w, m); len(got) != 0 {
		t.Fatalf("events = %v", got)
	}
}

func TestRegeneratingRecoveryCodesNeedsACurrentFactor(t *testing.T) {
	t.Parallel()
	// given alice with an authenticator app, signed in with it
	w := newWorld(t)
	ctx := context.Background()
	secret := enrollTOTP(t, w, aliceID, "alice")
	a := withProof(totpSession(t, w, secret, "tok-web", domain.ActionFactors))
	m := mark(w)
	// when she asks for new recovery codes with a wrong code
	_, err := w.app.RegenerateRecoveryCodes(ctx, a, domain.FactorProof{Method: domain.MethodTOTP, Code: "000000"})
	// then none are made, and the failure is recorded
	if !errors.Is(err, domain.ErrCodeInvalid) {
		t.Fatalf("regenerate with a wrong code: %v", err)
	}
	if got := since(w, m); !slices.Equal(got, []events.Type{events.TypeFactorFailed}) {
		t.Fatalf("events = %v", got)
	}
	// when she asks with her current code
	codes, err := w.app.RegenerateRecoveryCodes(ctx, a, domain.FactorProof{Method: domain.MethodTOTP, Code: totpCode(t, secret, w.clock.Now())})
	// then new codes replace the old ones, shown in clear this once
	if err != nil || len(codes) == 0 {
		t.Fatalf("regenerate: %v, %v", codes, err)
	}
	if got := since(w, m); got[len(got)-1] != events.TypeRecoveryCodesGenerated {
		t.Fatalf("events = %v", got)
	}
	if left := w.user(aliceID).RecoveryLeft(); left != len(codes) {
		t.Fatalf("recovery left %d, want %d", left, len(codes))
	}
}

func TestDisablingTwoFactorWithARecoveryCode(t *testing.T) {
	t.Parallel()
	// given alice with an authenticator app and recovery codes, signed in with it
	w := newWorld(t)
	ctx := context.Background()
	secret := enrollTOTP(t, w, aliceID, "alice")
	a := withProof(totpSession(t, w, secret, "tok-web", domain.ActionFactors))
	codes, err := w.app.RegenerateRecoveryCodes(ctx, a, domain.FactorProof{Method: domain.MethodTOTP, Code: totpCode(t, secret, w.clock.Now())})
	if err != nil {
		t.Fatal(err)
	}
	a.Action = domain.ActionDisable2FA
	// when she turns two-factor sign-in off without a factor
	err = w.app.DisableTwoFactor(ctx, a, domain.FactorProof{Method: domain.MethodRecovery, Code: "not-a-code"})
	// then it stays on
	if err == nil || !w.user(aliceID).HasSecondFactor() {
		t.Fatalf("disable with a wrong code: %v", err)
	}
	// when she gives one of her recovery codes
	m := mark(w)
	err = w.app.DisableTwoFactor(ctx, a, domain.FactorProof{Method: domain.MethodRecovery, Code: codes[0]})
	// then two-factor sign-in is off
	if err != nil {
		t.Fatalf("disable: %v", err)
	}
	if got := since(w, m); got[len(got)-1] != events.TypeTwoFactorDisabled {
		t.Fatalf("events = %v", got)
	}
	if u := w.user(aliceID); u.HasSecondFactor() || u.TOTP != nil {
		t.Fatalf("still has a factor: %v", u.Methods())
	}
}
