package jellyfin

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// fixture is a stand-in server on a loopback listener with one user, one
// administrator and one API key.
type fixture struct {
	srv    *Server
	ts     *httptest.Server
	alice  User
	admin  User
	apiKey string
}

const (
	alicePassword = "alice-password"
	adminPassword = "admin-password"
)

func newFixture(t *testing.T, opts Options) *fixture {
	t.Helper()
	srv := New(opts)
	f := &fixture{
		srv:    srv,
		alice:  srv.AddUser("alice", alicePassword, false),
		admin:  srv.AddUser("admin", adminPassword, true),
		apiKey: srv.CreateAPIKey("jfguard"),
	}
	f.ts = httptest.NewServer(srv)
	t.Cleanup(func() {
		_ = srv.Close()
		f.ts.Close()
	})
	return f
}

// clientHeader builds a web-app style Authorization header.
func clientHeader(client, device, deviceID, version, token string) string {
	h := `MediaBrowser Client="` + client + `", Device="` + device + `", DeviceId="` + deviceID + `", Version="` + version + `"`
	if token != "" {
		h += `, Token="` + token + `"`
	}
	return h
}

// tokenHeader is an Authorization header carrying only a token.
func tokenHeader(token string) string {
	return `MediaBrowser Token="` + token + `"`
}

// response is a finished HTTP exchange.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// call sends a request to the fixture. headers are name/value pairs; a body
// is sent as JSON.
func (f *fixture) call(t *testing.T, method, path string, body any, headers ...string) response {
	t.Helper()
	var reader io.Reader
	if body != nil {
		raw, ok := body.(string)
		if !ok {
			b, err := json.Marshal(body)
			if err != nil {
				t.Fatal(err)
			}
			raw = string(b)
		}
		reader = strings.NewReader(raw)
	}
	req, err := http.NewRequest(method, f.ts.URL+path, reader)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	res, err := f.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: data}
}

// signIn signs a user in with the given device headers and returns the
// result.
func (f *fixture) signIn(t *testing.T, name, password, deviceID string) authResultView {
	t.Helper()
	res := f.call(t, http.MethodPost, "/Users/AuthenticateByName",
		map[string]string{"Username": name, "Pw": password},
		"Authorization", clientHeader("Jellyfin Web", "Chrome", deviceID, "12.0.0", ""))
	if res.status != http.StatusOK {
		t.Fatalf("sign in %s: status %d: %s", name, res.status, res.body)
	}
	var out authResultView
	res.json(t, &out)
	return out
}

// authResultView is the part of an AuthenticationResult tests look at.
type authResultView struct {
	AccessToken string
	ServerID    string `json:"ServerId"`
	User        struct {
		ID     string `json:"Id"`
		Name   string
		Policy struct{ IsAdministrator bool }
	}
	SessionInfo struct {
		Client             string
		DeviceName         string
		DeviceID           string `json:"DeviceId"`
		ApplicationVersion string
		UserID             string `json:"UserId"`
	}
}

// mediaBytes returns the synthetic body's bytes from off, n long.
func mediaBytes(off, n int64) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = MediaByte(off + int64(i))
	}
	return out
}
