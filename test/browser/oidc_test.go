package browser

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/jfguard/jfguard/domain"
	"github.com/oauth2-proxy/mockoidc"
)

// TestOIDCSignIn signs in with a local OIDC provider from both sign-in forms: the
// button on jfguard's own sign-in page and the one jfguard's script adds to the web
// app's. The provider signs the browser in at once (mockoidc asks nothing) and sends
// it back; the page hands the new session to the web app.
func TestOIDCSignIn(t *testing.T) {
	t.Parallel()
	idp, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = idp.Shutdown() })
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "client-secret")
	if err := os.WriteFile(secretFile, []byte(idp.ClientSecret), 0o600); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "jfguard.yaml")
	if err := os.WriteFile(config, []byte(`oidc:
  providers:
    - id: test
      name: Example SSO
      issuer: "`+idp.Issuer()+`"
      client_id: "`+idp.ClientID+`"
      client_secret_file: "`+secretFile+`"
`), 0o600); err != nil {
		t.Fatal(err)
	}
	st := startStackWithFile(t, nil, config)
	b := newBrowser(t)
	alice := &mockoidc.MockUser{Subject: "alice-at-sso", PreferredUsername: "alice"}

	b.navigate(st.URL + "/jfguard/login")
	b.visible("#oidc-signin a")
	if got := b.text("#oidc-signin a"); got != "Sign in with Example SSO" {
		t.Errorf("the sign-in page's provider button says %q", got)
	}
	b.screenshot("login-oidc")
	idp.QueueUser(alice)
	b.click("#oidc-signin a")
	b.signedInAs("alice")
	token := b.token()
	if got := st.sessionReason(st.Alice.ID, token); got != domain.ReasonOIDC {
		t.Errorf("the session is verified for %q; want %s", got, domain.ReasonOIDC)
	}
	if code := st.gatewayStatus(t, token); code != 200 {
		t.Errorf("the provider's session gets %d through jfguard", code)
	}

	b.webSignOut(st)
	b.visible(".jfguard-oidc-signin")
	b.screenshot("webapp-signin-oidc")
	idp.QueueUser(alice)
	b.click(".jfguard-oidc-signin")
	b.signedInAs("alice")
}
