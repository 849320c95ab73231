package browser

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	cdpwebauthn "github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/projections"
)

// authenticator is a virtual platform authenticator in the browser's tab, as a
// laptop's fingerprint reader or a phone's screen lock would be: CTAP2, internal
// transport, discoverable credentials, user verification that succeeds, synced
// (backed-up) credentials.
type authenticator struct {
	b  *browser
	id cdpwebauthn.AuthenticatorID
}

func (b *browser) addAuthenticator() *authenticator {
	b.t.Helper()
	a := &authenticator{b: b}
	b.do("add a virtual authenticator", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		if _, err := chromedp.Call(ctx, cdpwebauthn.Enable, cdpwebauthn.EnableParams{}); err != nil {
			return err
		}
		res, err := chromedp.Call(ctx, cdpwebauthn.AddVirtualAuthenticator, cdpwebauthn.AddVirtualAuthenticatorParams{
			Options: &cdpwebauthn.VirtualAuthenticatorOptions{
				Protocol: cdpwebauthn.AuthenticatorProtocolCtap2, Ctap2version: cdpwebauthn.Ctap2versionCtap21,
				Transport: cdpwebauthn.AuthenticatorTransportInternal, HasResidentKey: true,
				HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
				DefaultBackupEligibility: true, DefaultBackupState: true,
			},
		})
		a.id = res.AuthenticatorID
		return err
	}))
	return a
}

// credentials lists what the authenticator holds.
func (a *authenticator) credentials() []*cdpwebauthn.Credential {
	a.b.t.Helper()
	var creds []*cdpwebauthn.Credential
	a.b.do("list the authenticator's credentials", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		res, err := chromedp.Call(ctx, cdpwebauthn.GetCredentials, cdpwebauthn.GetCredentialsParams{AuthenticatorID: a.id})
		creds = res.Credentials
		return err
	}))
	return creds
}

// userEvents is the user's stream, decoded.
func (st *stack) userEvents(t *testing.T, userID string) []events.Payload {
	t.Helper()
	evs, _, err := st.Main.Store().Load(context.Background(), events.AggUser, userID)
	if err != nil {
		t.Fatal(err)
	}
	var out []events.Payload
	for _, ev := range evs {
		p, err := events.Decode(ev)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// lastEvent is the user's newest event of type T, or the zero T.
func lastEvent[T events.Payload](t *testing.T, st *stack, userID string) T {
	t.Helper()
	var zero T
	evs := st.userEvents(t, userID)
	for i := len(evs) - 1; i >= 0; i-- {
		if p, ok := evs[i].(T); ok {
			return p
		}
	}
	return zero
}

// sessionReason is why jfguard lets a token through, or "".
func (st *stack) sessionReason(userID, token string) string {
	reason := ""
	st.Main.Projector().Read(func(s *projections.State) {
		if u := s.Users[userID]; u != nil {
			for _, ss := range u.Sessions {
				if ss.TokenHash == tokenHashOf(token) {
					reason = ss.Reason
				}
			}
		}
	})
	return reason
}

// tokenHashOf is how jfguard names a token in its state.
func tokenHashOf(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// passkeyRows are the labels in the setup page's passkey list.
const passkeyRows = `Array.from(document.querySelectorAll('#passkeys-list .row-name')).map(function(e){return e.textContent})`

// TestPasskeys follows a person through passkeys with a virtual authenticator:
// add one on the setup page (and rename it), use it on the challenge page after the
// password, sign in with it alone from the web app's own sign-in page and from
// jfguard's, then remove it with a fresh assertion of the passkey itself, after which
// it signs in no more.
func TestPasskeys(t *testing.T) {
	t.Parallel()
	st := startStack(t, nil)
	secret, _ := st.enrollByAPI(t, "alice", alicePassword)
	b := newBrowser(t)
	auth := b.addAuthenticator()

	// Add a passkey from a session that proved the second factor.
	b.webSignInWithCode(st, secret)
	b.navigate(st.URL + "/jfguard/setup")
	b.visible("#passkey-add")
	if got := b.text("#passkeys-badge"); got != "Not set up" {
		t.Errorf("passkey badge before adding one: %q", got)
	}
	if !strings.Contains(b.text("#email-text"), "not set up on this server") {
		t.Errorf("without a mail server the email section says %q", b.text("#email-text"))
	}
	b.fill("#passkey-label", "Laptop")
	b.click("#passkey-add button[type=submit]")
	b.waitFor("the new passkey in the list", passkeyRows+`.join()==='Laptop'&&!document.getElementById('notice').hidden`)
	creds := auth.credentials()
	if len(creds) != 1 || !creds[0].IsResidentCredential || creds[0].RpID != "localhost" || string(creds[0].UserHandle) != st.Alice.ID {
		t.Fatalf("the authenticator holds %+v; want one discoverable credential for alice on localhost", creds)
	}
	reg := lastEvent[*events.PasskeyRegistered](t, st, st.Alice.ID)
	if reg == nil || reg.Label != "Laptop" || !reg.UserVerified || !reg.BackupElig || reg.CredentialID == "" {
		t.Fatalf("passkey_registered %+v", reg)
	}
	if got := b.text("#passkeys-badge"); got != "1 passkey" {
		t.Errorf("passkey badge: %q", got)
	}

	// Rename it in place.
	b.click(`#passkeys-list .row-actions button:first-child`)
	b.fill("#passkeys-list .rename input", "Work laptop")
	b.click("#passkeys-list .rename button[type=submit]")
	b.waitFor("the new name", passkeyRows+`.join()==='Work laptop'`)
	if r := lastEvent[*events.PasskeyRenamed](t, st, st.Alice.ID); r == nil || r.Label != "Work laptop" || r.CredentialID != reg.CredentialID {
		t.Errorf("passkey_renamed %+v", r)
	}
	b.screenshot("setup-passkeys")
	b.docViewport("setup-passkeys-top", "passkeys")

	// Password, then "Use a passkey instead" on the challenge page.
	b.webSignOut(st)
	if got := b.webSignIn(st, "alice", alicePassword); got != "challenge" {
		t.Fatalf("sign-in with a passkey enrolled led to %s", got)
	}
	if got := eval[string](b, `document.getElementById('challenge').dataset.methods`); got != "totp passkey recovery" {
		t.Errorf("challenge methods %q", got)
	}
	b.screenshot("challenge-passkey-option")
	b.click("[data-switch=passkey]")
	b.visible("#method-passkey")
	b.screenshot("challenge-passkey")
	b.click("#method-passkey button[type=submit]")
	b.signedInAs("alice")
	if v := lastEvent[*events.FactorVerified](t, st, st.Alice.ID); v == nil || v.Method != domain.MethodPasskey || v.CredentialID != reg.CredentialID || v.ChallengeID == "" {
		t.Errorf("factor_verified %+v", v)
	}
	if used := lastEvent[*events.PasskeyUsed](t, st, st.Alice.ID); used == nil || used.CredentialID != reg.CredentialID {
		t.Errorf("passkey_used %+v", used)
	}

	// The passkey alone, from the web app's own sign-in page.
	b.webSignOut(st)
	b.visible("#jfguard-passkey-signin")
	b.waitFor("the settings link to leave the signed-out app", `!document.getElementById('jfguard-settings-link')`)
	b.screenshot("webapp-signin-passkey")
	b.click("#jfguard-passkey-signin")
	b.signedInAs("alice")
	token := b.token()
	if got := st.sessionReason(st.Alice.ID, token); got != domain.ReasonPasskey {
		t.Errorf("the web app's session is verified for %q; want %s", got, domain.ReasonPasskey)
	}
	if code := st.gatewayStatus(t, token); code != 200 {
		t.Errorf("the passkey's session gets %d through jfguard", code)
	}
	if v := lastEvent[*events.FactorVerified](t, st, st.Alice.ID); v == nil || v.Purpose != domain.PurposePasswordless {
		t.Errorf("factor_verified %+v", v)
	}
	if c := b.credentials(); len(c.Servers) != 1 || c.Servers[0].ID != st.JF.ServerID() || c.Servers[0].UserID == nil || *c.Servers[0].UserID != st.Alice.ID {
		t.Errorf("jellyfin_credentials after passkey sign-in = %+v", c)
	}

	// And from jfguard's own sign-in page.
	b.webSignOut(st)
	b.navigate(st.URL + "/jfguard/login")
	b.visible("#passkey-button")
	b.screenshot("login-passkey")
	b.click("#passkey-button")
	b.signedInAs("alice")

	// Remove it, proving the change with the passkey itself.
	b.navigate(st.URL + "/jfguard/setup")
	b.waitFor("the passkey list", passkeyRows+`.length===1`)
	b.click(`#passkeys-list .row-actions button:last-child`)
	b.visible("#passkey-proof [data-proof-passkey]")
	b.screenshot("setup-passkey-remove")
	b.click("#passkey-proof [data-proof-passkey]")
	b.waitFor("the passkey to go", passkeyRows+`.length===0&&!document.getElementById('notice').hidden`)
	removed := lastEvent[*events.PasskeyRemoved](t, st, st.Alice.ID)
	if removed == nil || removed.CredentialID != reg.CredentialID {
		t.Fatalf("passkey_removed %+v", removed)
	}
	if v := lastEvent[*events.FactorVerified](t, st, st.Alice.ID); v == nil || v.Purpose != domain.PurposeRemovePasskey || v.Method != domain.MethodPasskey {
		t.Errorf("the removal was proved by %+v", v)
	}

	// The authenticator still holds the credential, but jfguard refuses it.
	b.webSignOut(st)
	b.waitFor("the settings link to leave the signed-out app", `!document.getElementById('jfguard-settings-link')`)
	b.click("#jfguard-passkey-signin")
	b.waitFor("the refusal", `!document.getElementById('jfguard-passkey-error').hidden`)
	if got := b.text("#jfguard-passkey-error"); !strings.Contains(got, "did not work") {
		t.Errorf("refusal message %q", got)
	}
	if tok := b.token(); tok != "" {
		t.Fatalf("a removed passkey left token %q in the browser", tok)
	}
	b.screenshot("webapp-signin-passkey-refused")
	if !eval[bool](b, onLogin) {
		t.Error("the refused passkey left the sign-in page")
	}
}
