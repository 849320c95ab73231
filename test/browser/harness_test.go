package browser

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/jfguard/jfguard/cmd/jfguard/cli"
	"github.com/jfguard/jfguard/test/jellyfin"
	"github.com/pquerna/otp/totp"
)

var updateDocs = flag.Bool("update-docs", false, "also copy the README screenshots into docs/screenshots")

const (
	alicePassword = "alice-browser-password"
	adminPassword = "admin-browser-password"
	// step bounds every wait on the browser: long enough for a slow CI machine,
	// short enough that a broken page fails the test quickly.
	step = 20 * time.Second
)

var (
	artifactsDir = filepath.Join("..", "artifacts")
	shotsDir     = filepath.Join(artifactsDir, "screenshots")
	docsShotsDir = filepath.Join("..", "..", "docs", "screenshots")
)

// testClock is jfguard's clock in these tests: real time plus an offset the test
// moves forward, so a fresh authenticator code (codes are single use per 30-second
// step) needs no waiting.
type testClock struct{ offset atomic.Int64 }

func (c *testClock) Now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

// stepUp answers the setup page's "Confirm it's you" dialog with a fresh
// authenticator code: the change that opened it then goes through.
func (b *browser) stepUp(st *stack, secret string) {
	b.t.Helper()
	b.waitFor("the step-up dialog", `document.getElementById('stepup').open&&!!document.getElementById('stepup-proof-code')`)
	st.Clock.nextStep()
	b.fill("#stepup-proof-code", st.code(b.t, secret))
	b.click("#stepup-proof button[type=submit]")
	b.waitFor("the step-up dialog to close", `!document.getElementById('stepup').open`)
}

// nextStep moves the clock into the next 30-second authenticator step.
func (c *testClock) nextStep() { c.offset.Add(int64(30 * time.Second)) }

// stack is the real jfguard program in front of the stand-in Jellyfin, with the users
// alice and admin.
type stack struct {
	URL   string
	JF    *jellyfin.Server
	Main  *cli.Main
	Clock *testClock
	Alice jellyfin.User
}

// startStack starts the stand-in Jellyfin and jfguard through cli.Main, as `jfguard
// serve` does, with extra settings on top. jfguard listens on a free loopback port;
// the browser opens it as http://localhost:<port>, which is also its public URL and
// its one passkey origin. WebAuthn needs a secure context and an RP ID that is a
// domain: http://localhost is both, while http://127.0.0.1 is secure but an address.
func startStack(t *testing.T, settings map[string]string) *stack {
	t.Helper()
	return startStackWithFile(t, settings, "")
}

// startStackWithFile is startStack with a settings file read under the settings,
// for what the command line cannot express (lists of providers).
func startStackWithFile(t *testing.T, settings map[string]string, configFile string) *stack {
	t.Helper()
	jf := jellyfin.New(jellyfin.Options{ServerName: "Jellyfin", QuickConnect: true})
	st := &stack{JF: jf, Clock: &testClock{}}
	st.Alice = jf.AddUser("alice", alicePassword, false)
	jf.AddUser("admin", adminPassword, true)
	key := jf.CreateAPIKey("jfguard")
	up := httptest.NewServer(jf)
	t.Cleanup(func() {
		up.Close()
		jf.Close()
	})

	logFile, err := os.Create(filepath.Join(mkdir(t, filepath.Join(artifactsDir, "logs")), t.Name()+".log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logFile.Close() })
	logger := slog.New(slog.NewTextHandler(logFile, &slog.HandlerOptions{Level: slog.LevelInfo}))

	// Another process may take the free port between the probe and the listen; a few
	// tries make that harmless.
	for attempt := 0; ; attempt++ {
		port := freePort(t)
		over := map[string]string{
			"listen":           "127.0.0.1:" + port,
			"public_url":       "http://localhost:" + port,
			"upstream":         up.URL,
			"data_dir":         t.TempDir(),
			"jellyfin.api_key": key,
			"webauthn.rp_id":   "localhost",
			"webauthn.origins": "http://localhost:" + port,
		}
		maps.Copy(over, settings)
		s, err := cli.LoadSettings(configFile, configFile != "", nil, over)
		if err != nil {
			t.Fatal(err)
		}
		r, err := s.Resolve()
		if err != nil {
			t.Fatal(err)
		}
		m := cli.NewMain(r, logger)
		m.Clock = st.Clock.Now
		err = m.Run(context.Background())
		if err != nil && strings.Contains(err.Error(), "listen on") && attempt < 4 {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := m.Close(); err != nil {
				t.Errorf("close jfguard: %v", err)
			}
		})
		st.Main, st.URL = m, "http://localhost:"+port
		return st
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
}

func mkdir(t *testing.T, dir string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// code is the authenticator code for secret at jfguard's current time.
func (st *stack) code(t *testing.T, secret string) string {
	t.Helper()
	c, err := totp.GenerateCode(secret, st.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// apiCall sends a JSON request to jfguard the way a Jellyfin client does.
func (st *stack) apiCall(t *testing.T, method, path, token string, in, out any) int {
	t.Helper()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, st.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	auth := `MediaBrowser Client="browser-test", Device="Go", DeviceId="browser-test-setup", Version="1"`
	if token != "" {
		auth += `, Token="` + token + `"`
	}
	req.Header.Set("Authorization", auth)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil && resp.StatusCode < 300 {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
	}
	return resp.StatusCode
}

// enrollByAPI sets up an authenticator app for a user without the browser, for
// tests whose subject is a later step. It returns the secret and recovery codes and
// moves the clock past the step of the confirming code.
func (st *stack) enrollByAPI(t *testing.T, user, password string) (string, []string) {
	t.Helper()
	var auth struct{ AccessToken string }
	if c := st.apiCall(t, "POST", "/Users/AuthenticateByName", "", map[string]string{"Username": user, "Pw": password}, &auth); c != 200 {
		t.Fatalf("sign in as %s: status %d", user, c)
	}
	var begin struct{ Secret string }
	if c := st.apiCall(t, "POST", "/jfguard/api/me/totp", auth.AccessToken, struct{}{}, &begin); c != 200 {
		t.Fatalf("begin enrollment: status %d", c)
	}
	var confirm struct {
		RecoveryCodes []string `json:"recovery_codes"`
	}
	if c := st.apiCall(t, "POST", "/jfguard/api/me/totp/confirm", auth.AccessToken, map[string]string{"code": st.code(t, begin.Secret)}, &confirm); c != 200 {
		t.Fatalf("confirm enrollment: status %d", c)
	}
	st.Clock.nextStep()
	return begin.Secret, confirm.RecoveryCodes
}

// browser is one headless Chromium with its own profile: its own localStorage,
// cookies and downloads.
type browser struct {
	t         *testing.T
	ctx       context.Context
	downloads string
}

// chromePath finds Chromium. A missing browser fails the test: these tests are the
// proof that the pages work, and a skip would prove nothing.
func chromePath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("CHROME_PATH"), "/usr/bin/chromium"} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("Chromium not found: install it (apt-get install chromium) or set CHROME_PATH")
	return ""
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	return newBrowserIn(t, "en-US,en")
}

// newBrowserIn is a browser whose person prefers the given languages (its
// Accept-Language and navigator.languages).
func newBrowserIn(t *testing.T, languages string) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.Flag("lang", strings.SplitN(languages, ",", 2)[0]),
		chromedp.Flag("accept-lang", languages),
		chromedp.ExecPath(chromePath(t)),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		// The machine may have no internet: Chromium must not try to reach it.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	b := &browser{t: t, ctx: ctx, downloads: t.TempDir()}
	// The first run starts Chromium and binds its life to the context it gets, so it
	// runs without a deadline; a Chromium that cannot start fails on its own.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	allow := true
	b.do("allow downloads", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.CallBrowser(ctx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
			Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllow, DownloadPath: b.downloads, EventsEnabled: &allow,
		})
		return err
	}))
	b.desktop()
	return b
}

// do runs actions with a bounded wait and fails the test, with a screenshot of the
// moment, when one does not complete.
func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, step)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.fail("%s: %v", what, err)
	}
}

func (b *browser) fail(format string, args ...any) {
	b.t.Helper()
	name := "FAILED-" + strings.NewReplacer("/", "-", " ", "-").Replace(b.t.Name())
	b.screenshot(name)
	b.t.Fatalf("%s (at %s; screenshot %s.png)", fmt.Sprintf(format, args...), b.location(), name)
}

func (b *browser) location() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return "unknown page"
	}
	return loc
}

func (b *browser) navigate(url string) { b.t.Helper(); b.do("open "+url, chromedp.Navigate(url)) }

func (b *browser) visible(css string) {
	b.t.Helper()
	b.do("wait for "+css, chromedp.WaitVisible(chromedp.CSS(css)))
}

func (b *browser) click(css string) {
	b.t.Helper()
	b.do("click "+css, chromedp.WaitVisible(chromedp.CSS(css)), chromedp.Click(chromedp.CSS(css)))
}

// fill replaces a field's text by typing, as a person would. The text is selected
// first, so what is typed replaces it: chromedp.Clear empties only the value a
// field started with, not one a script or the person put there since.
func (b *browser) fill(css, text string) {
	b.t.Helper()
	b.do("clear "+css, chromedp.WaitVisible(chromedp.CSS(css)), chromedp.Clear(chromedp.CSS(css)))
	eval[bool](b, fmt.Sprintf(`(function(e){e.select();return true})(document.querySelector(%q))`, css))
	b.do("type into "+css, chromedp.SendKeys(chromedp.CSS(css), text))
}

func (b *browser) text(css string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, step)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(css)))
	if err != nil {
		b.fail("read %s: %v", css, err)
	}
	return strings.TrimSpace(s)
}

// eval evaluates JavaScript in the page and decodes its value.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, step)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.fail("evaluate %s: %v", expr, err)
	}
	return v
}

// waitFor waits until a JavaScript condition holds. It polls from Go rather than in
// the page, so the condition may span a navigation.
func (b *browser) waitFor(what, expr string) {
	b.t.Helper()
	deadline := time.Now().Add(step)
	var lastErr error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		cancel()
		if err == nil && ok {
			return
		}
		lastErr = err
		time.Sleep(100 * time.Millisecond)
	}
	b.fail("waited %s for %s (last error: %v)", step, what, lastErr)
}

// desktop and phone set the viewport the screenshots show.
func (b *browser) desktop() {
	b.t.Helper()
	b.do("desktop viewport", chromedp.EmulateViewport(1280, 860))
}

// phone also checks that the page fits the phone's width: sideways scrolling is the
// first thing that breaks on a narrow screen.
func (b *browser) phone() {
	b.t.Helper()
	b.do("phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulateTouch))
	b.waitFor("the page to fit a phone's width", `document.documentElement.scrollWidth<=document.documentElement.clientWidth`)
}

// colorScheme emulates the system's light or dark preference.
func (b *browser) colorScheme(scheme string) {
	b.t.Helper()
	b.emulateMedia(emulation.SetEmulatedMediaParams{Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}})
}

// printMedia renders the page as it prints, or back as on screen.
func (b *browser) printMedia(on bool) {
	b.t.Helper()
	media := ""
	if on {
		media = "print"
	}
	b.emulateMedia(emulation.SetEmulatedMediaParams{Media: media})
}

func (b *browser) emulateMedia(p emulation.SetEmulatedMediaParams) {
	b.t.Helper()
	b.do("emulate media", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, p)
		return err
	}))
}

// screenshot saves the whole page as test/artifacts/screenshots/<name>.png.
func (b *browser) screenshot(name string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, step)
	defer cancel()
	// Let transitions and the focus ring settle.
	time.Sleep(200 * time.Millisecond)
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Errorf("screenshot %s: %v", name, err)
		return ""
	}
	path := filepath.Join(mkdir(b.t, shotsDir), name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	return path
}

// docScreenshot saves a screenshot and, with -update-docs, copies it to the
// README's screenshots under the given name.
func (b *browser) docScreenshot(name, docName string) {
	b.t.Helper()
	b.publishScreenshot(b.screenshot(name), docName)
}

// docViewport is docScreenshot of what the window shows from the top of the page,
// for a long page whose first screen tells the story.
func (b *browser) docViewport(name, docName string) {
	b.t.Helper()
	b.publishScreenshot(b.viewportScreenshot(name), docName)
}

// viewportScreenshot saves what the window shows from the top of the page as
// test/artifacts/screenshots/<name>.png.
func (b *browser) viewportScreenshot(name string) string {
	b.t.Helper()
	eval[bool](b, `(function(){window.scrollTo(0, 0);return true})()`)
	time.Sleep(200 * time.Millisecond)
	ctx, cancel := context.WithTimeout(b.ctx, step)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Errorf("screenshot %s: %v", name, err)
		return ""
	}
	path := filepath.Join(mkdir(b.t, shotsDir), name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	return path
}

// publishScreenshot copies a saved screenshot to docs/screenshots with -update-docs.
func (b *browser) publishScreenshot(path, docName string) {
	b.t.Helper()
	if !*updateDocs || path == "" {
		return
	}
	data, err := os.ReadFile(path)
	if err == nil {
		err = os.WriteFile(filepath.Join(mkdir(b.t, docsShotsDir), docName+".png"), data, 0o644)
	}
	if err != nil {
		b.t.Fatal(err)
	}
}

// credentials is the web app's stored session (localStorage jellyfin_credentials).
type credentials struct {
	Servers []struct {
		ID                 string `json:"Id"`
		Name               string
		AccessToken        *string
		UserID             *string `json:"UserId"`
		ManualAddress      string
		DateLastAccessed   int64
		LastConnectionMode int
	}
}

func (b *browser) credentials() credentials {
	b.t.Helper()
	raw := eval[string](b, `localStorage.getItem('jellyfin_credentials') || '{"Servers":[]}'`)
	var c credentials
	if err := json.Unmarshal([]byte(raw), &c); err != nil {
		b.fail("jellyfin_credentials is not JSON: %v: %s", err, raw)
	}
	return c
}

// token is the access token the web app holds, or "".
func (b *browser) token() string {
	for _, s := range b.credentials().Servers {
		if s.AccessToken != nil && *s.AccessToken != "" {
			return *s.AccessToken
		}
	}
	return ""
}

// The web app's pages, as the stand-in renders them.
const (
	onHome      = `(function(){var e=document.getElementById('home-user');return location.pathname.indexOf('/web/')===0&&!!e&&!document.getElementById('view-home').hidden;})()`
	onLogin     = `(function(){var e=document.getElementById('view-login');return location.pathname.indexOf('/web/')===0&&!!e&&!e.hidden;})()`
	onChallenge = `location.pathname==='/jfguard/challenge'&&document.readyState==='complete'`
)

// webSignIn signs in with the web app's own form and returns where it led: "home"
// (signed in) or "challenge" (jfguard asks for a second factor).
func (b *browser) webSignIn(st *stack, user, password string) string {
	b.t.Helper()
	b.navigate(st.URL + "/web/")
	b.waitFor("the web app's sign-in form", onLogin)
	b.fill("#txtManualName", user)
	b.fill("#txtManualPassword", password)
	b.click(".button-submit")
	b.waitFor("the web app's home or jfguard's challenge", onHome+"||"+onChallenge)
	if eval[bool](b, onChallenge) {
		return "challenge"
	}
	return "home"
}

// webSignInWithCode signs alice in with the web app, her password and the code of
// her authenticator app on the challenge page.
func (b *browser) webSignInWithCode(st *stack, secret string) {
	b.t.Helper()
	if got := b.webSignIn(st, "alice", alicePassword); got != "challenge" {
		b.t.Fatalf("sign-in led to %s, want the challenge page", got)
	}
	b.fill("#code-totp", st.code(b.t, secret))
	b.click("#method-totp button[type=submit]")
	b.signedInAs("alice")
}

// openAdminPage sets up an authenticator app for the administrator (an
// administrator's changes need an account with a second factor), signs her in with
// the web app and its code, and opens the admin page.
func (b *browser) openAdminPage(st *stack) {
	b.t.Helper()
	secret, _ := st.enrollByAPI(b.t, "admin", adminPassword)
	if got := b.webSignIn(st, "admin", adminPassword); got != "challenge" {
		b.t.Fatalf("the admin's sign-in led to %s, want the challenge page", got)
	}
	b.fill("#code-totp", st.code(b.t, secret))
	b.click("#method-totp button[type=submit]")
	b.signedInAs("admin")
	b.navigate(st.URL + "/jfguard/admin")
	b.visible("#state-ready")
}

// webSignOut signs out with the web app's own button.
func (b *browser) webSignOut(st *stack) {
	b.t.Helper()
	b.navigate(st.URL + "/web/")
	b.waitFor("the web app's home", onHome)
	b.click("#btn-signout")
	b.waitFor("the web app's sign-in form", onLogin)
	if tok := b.token(); tok != "" {
		b.fail("the web app still holds a token after signing out")
	}
}

// signedInAs checks the web app's home names the user.
func (b *browser) signedInAs(user string) {
	b.t.Helper()
	b.waitFor("the web app's home", onHome+"&&document.getElementById('home-user').textContent==='Signed in as "+user+"'")
}

// gatewayStatus is the status jfguard gives a request made with a token.
func (st *stack) gatewayStatus(t *testing.T, token string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", st.URL+"/Users/Me", nil)
	req.Header.Set("Authorization", `MediaBrowser Client="browser-test", Device="Go", DeviceId="browser-test-probe", Version="1", Token="`+token+`"`)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// newestToken is the most recent token the stand-in issued to a user: after a
// password step jfguard holds, it is the held one.
func (st *stack) newestToken(t *testing.T, userID string) string {
	t.Helper()
	var newest jellyfin.Session
	for _, s := range st.JF.Sessions() {
		if s.UserID == userID && !s.Created.Before(newest.Created) {
			newest = s
		}
	}
	if newest.Token == "" {
		t.Fatal("the stand-in has no session for the user")
	}
	return newest.Token
}

var errNoDownload = errors.New("no download arrived")

// downloaded waits for a file to appear in the browser's download directory.
func (b *browser) downloaded(name string) ([]byte, error) {
	path := filepath.Join(b.downloads, name)
	deadline := time.Now().Add(step)
	for time.Now().Before(deadline) {
		if data, err := os.ReadFile(path); err == nil && len(data) > 0 {
			return data, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil, errNoDownload
}
