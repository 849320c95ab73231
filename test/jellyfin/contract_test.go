package jellyfin

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
)

// The contract test holds the stand-in to Jellyfin's own OpenAPI document
// (Jellyfin 12.0.0, openapi-stable.json as Jellyfin publishes it), kept compressed
// in testdata so the test needs nothing outside the repository.

var (
	docOnce sync.Once
	doc     *openapi3.T
	docErr  error
)

// jellyfinDocument loads the document once per test binary, as it is large.
// A missing document fails the test: the contract is not optional.
func jellyfinDocument(t *testing.T) *openapi3.T {
	t.Helper()
	docOnce.Do(func() {
		f, err := os.Open(filepath.Join("testdata", "openapi-stable.json.gz"))
		if err != nil {
			docErr = fmt.Errorf("Jellyfin's OpenAPI document: %w", err)
			return
		}
		defer f.Close()
		zr, err := gzip.NewReader(f)
		if err != nil {
			docErr = fmt.Errorf("Jellyfin's OpenAPI document: %w", err)
			return
		}
		data, err := io.ReadAll(zr)
		if err != nil {
			docErr = fmt.Errorf("Jellyfin's OpenAPI document: %w", err)
			return
		}
		// The document does not pass kin-openapi's own validation (it has
		// conflicting path templates such as .../Subtitles/{subtitleId} and
		// .../Subtitles/{language}), so it is loaded but not validated; only
		// the stand-in's responses are checked against it.
		doc, docErr = openapi3.NewLoader().LoadFromData(data)
	})
	if docErr != nil {
		t.Fatal(docErr)
	}
	return doc
}

// guidFormat accepts the GUIDs Jellyfin writes: the document says "uuid",
// and Jellyfin writes them as 32 hex digits without dashes ("N" format).
var guidFormat = openapi3.WithStringFormatValidators(map[string]openapi3.StringFormatValidator{
	"uuid": openapi3.NewRegexpFormatValidator(`^(?:[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$`),
})

// contractCase is one request and the answer the document should describe.
type contractCase struct {
	name     string
	method   string
	target   string // path and query
	body     string // JSON, sent when not empty
	header   []string
	template string // the document's path template
	status   int
	// undocumented explains an answer whose status the document does not
	// list for this operation although Jellyfin gives it.
	undocumented string
	// differs explains an answer whose status the document lists but whose
	// body Jellyfin (and so the stand-in) writes differently.
	differs string
}

func validateResponse(t *testing.T, d *openapi3.T, c contractCase, req *http.Request, res response) error {
	t.Helper()
	item := d.Paths.Value(c.template)
	if item == nil {
		t.Fatalf("%s: the document has no path %s", c.name, c.template)
	}
	op := item.GetOperation(c.method)
	if op == nil {
		t.Fatalf("%s: the document has no %s %s", c.name, c.method, c.template)
	}
	opts := &openapi3filter.Options{
		IncludeResponseStatus:   true,
		MultiError:              true,
		SchemaValidationOptions: []openapi3.SchemaValidationOption{guidFormat},
	}
	input := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request: req,
			Route:   &routers.Route{Spec: d, Path: c.template, PathItem: item, Method: c.method, Operation: op},
			Options: opts,
		},
		Status:  res.status,
		Header:  res.header,
		Options: opts,
	}
	input.SetBodyBytes(res.body)
	return openapi3filter.ValidateResponse(context.Background(), input)
}

// TestContract sends each endpoint the stand-in implements its success and
// error cases and validates every answer (status, content type and body
// schema) against Jellyfin's OpenAPI document. Answers outside the document
// are listed with the reason and checked to be outside it, so a change to
// either side shows up here.
func TestContract(t *testing.T) {
	t.Parallel()
	d := jellyfinDocument(t)
	f := newFixture(t, Options{QuickConnect: true, MediaSize: 4096})
	web := clientHeader("Jellyfin%20Web", "Chrome", "contract-web", "12.0.0", "")
	tv := clientHeader("Jellyfin%20for%20Android%20TV", "SHIELD", "contract-tv", "0.18.0", "")

	run := func(c contractCase) response {
		t.Helper()
		req, err := http.NewRequest(c.method, f.ts.URL+c.target, strings.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		if c.body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		for i := 0; i+1 < len(c.header); i += 2 {
			req.Header.Add(c.header[i], c.header[i+1])
		}
		httpRes, err := f.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		_, err = buf.ReadFrom(httpRes.Body)
		httpRes.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		res := response{status: httpRes.StatusCode, header: httpRes.Header, body: buf.Bytes()}
		if res.status != c.status {
			t.Errorf("%s: status %d, want %d (%s)", c.name, res.status, c.status, res.body)
			return res
		}
		op := d.Paths.Value(c.template).GetOperation(c.method)
		documented := op.Responses.Status(c.status) != nil || op.Responses.Default() != nil
		err = validateResponse(t, d, c, req, res)
		switch {
		case c.undocumented != "":
			if documented {
				t.Errorf("%s: marked undocumented (%s) but the document lists %d", c.name, c.undocumented, c.status)
			}
		case c.differs != "":
			if err == nil {
				t.Errorf("%s: marked as differing (%s) but it matches the document", c.name, c.differs)
			}
		case err != nil:
			t.Errorf("%s: %v", c.name, err)
		}
		return res
	}

	signIn := `{"Username":"alice","Pw":"` + alicePassword + `"}`

	run(contractCase{name: "public system info", method: "GET", target: "/System/Info/Public", template: "/System/Info/Public", status: 200})
	run(contractCase{name: "ping", method: "GET", target: "/System/Ping", template: "/System/Ping", status: 200})

	var alice authResultView
	run(contractCase{name: "sign in", method: "POST", target: "/Users/AuthenticateByName", body: signIn, header: []string{"Authorization", web},
		template: "/Users/AuthenticateByName", status: 200}).json(t, &alice)
	aliceAuth := []string{"Authorization", tokenHeader(alice.AccessToken)}
	keyAuth := []string{"Authorization", tokenHeader(f.apiKey)}
	run(contractCase{name: "sign in, wrong password", method: "POST", target: "/Users/AuthenticateByName", body: `{"Username":"alice","Pw":"x"}`, header: []string{"Authorization", web},
		template: "/Users/AuthenticateByName", status: 401, undocumented: "Jellyfin's exception middleware answers a failed sign-in in plain text"})
	run(contractCase{name: "sign in without client details", method: "POST", target: "/Users/AuthenticateByName", body: signIn,
		template: "/Users/AuthenticateByName", status: 400, undocumented: "the session manager's ArgumentException, answered in plain text"})

	run(contractCase{name: "current user", method: "GET", target: "/Users/Me", header: aliceAuth, template: "/Users/Me", status: 200})
	run(contractCase{name: "current user of an API key", method: "GET", target: "/Users/Me", header: keyAuth, template: "/Users/Me", status: 400})
	run(contractCase{name: "current user without a token", method: "GET", target: "/Users/Me", template: "/Users/Me", status: 401})
	run(contractCase{name: "users", method: "GET", target: "/Users", header: aliceAuth, template: "/Users", status: 200})
	run(contractCase{name: "public users", method: "GET", target: "/Users/Public", template: "/Users/Public", status: 200})
	run(contractCase{name: "users without a token", method: "GET", target: "/Users", template: "/Users", status: 401})
	run(contractCase{name: "user by id", method: "GET", target: "/Users/" + f.admin.ID, header: aliceAuth, template: "/Users/{userId}", status: 200})
	run(contractCase{name: "unknown user", method: "GET", target: "/Users/" + strings.Repeat("0", 31) + "1", header: aliceAuth, template: "/Users/{userId}", status: 404})
	run(contractCase{name: "malformed user id", method: "GET", target: "/Users/x", header: aliceAuth, template: "/Users/{userId}", status: 400,
		undocumented: "model binding rejects a value that is not a GUID"})

	run(contractCase{name: "quick connect enabled", method: "GET", target: "/QuickConnect/Enabled", template: "/QuickConnect/Enabled", status: 200})
	var qc qcView
	run(contractCase{name: "initiate", method: "POST", target: "/QuickConnect/Initiate", header: []string{"Authorization", tv}, template: "/QuickConnect/Initiate", status: 200}).json(t, &qc)
	run(contractCase{name: "initiate without client details", method: "POST", target: "/QuickConnect/Initiate", template: "/QuickConnect/Initiate", status: 400,
		undocumented: "Quick Connect's ArgumentException, answered in plain text"})
	run(contractCase{name: "poll", method: "GET", target: "/QuickConnect/Connect?secret=" + qc.Secret, template: "/QuickConnect/Connect", status: 200})
	run(contractCase{name: "poll an unknown secret", method: "GET", target: "/QuickConnect/Connect?secret=0", template: "/QuickConnect/Connect", status: 404})
	run(contractCase{name: "authorize for another user", method: "POST", target: "/QuickConnect/Authorize?code=" + qc.Code + "&userId=" + f.admin.ID, header: aliceAuth,
		template: "/QuickConnect/Authorize", status: 403, differs: "the document declares ProblemDetails; Jellyfin's SecurityException is answered in plain text"})
	run(contractCase{name: "authorize without a token", method: "POST", target: "/QuickConnect/Authorize?code=" + qc.Code, template: "/QuickConnect/Authorize", status: 401})
	run(contractCase{name: "authorize", method: "POST", target: "/QuickConnect/Authorize?code=" + qc.Code, header: aliceAuth, template: "/QuickConnect/Authorize", status: 200})
	var tvAuth authResultView
	run(contractCase{name: "authenticate with quick connect", method: "POST", target: "/Users/AuthenticateWithQuickConnect", body: `{"Secret":"` + qc.Secret + `"}`,
		template: "/Users/AuthenticateWithQuickConnect", status: 200}).json(t, &tvAuth)
	run(contractCase{name: "authenticate with an unknown secret", method: "POST", target: "/Users/AuthenticateWithQuickConnect", body: `{"Secret":"0"}`,
		template: "/Users/AuthenticateWithQuickConnect", status: 404, undocumented: "Quick Connect's ResourceNotFoundException, answered in plain text"})
	run(contractCase{name: "authenticate without a secret", method: "POST", target: "/Users/AuthenticateWithQuickConnect", body: `{}`,
		template: "/Users/AuthenticateWithQuickConnect", status: 400})

	run(contractCase{name: "logout", method: "POST", target: "/Sessions/Logout", header: []string{"Authorization", tokenHeader(tvAuth.AccessToken)}, template: "/Sessions/Logout", status: 204})
	run(contractCase{name: "logout without a token", method: "POST", target: "/Sessions/Logout", template: "/Sessions/Logout", status: 401})

	run(contractCase{name: "keys", method: "GET", target: "/Auth/Keys", header: keyAuth, template: "/Auth/Keys", status: 200})
	run(contractCase{name: "keys as a user", method: "GET", target: "/Auth/Keys", header: aliceAuth, template: "/Auth/Keys", status: 403})
	run(contractCase{name: "keys without a token", method: "GET", target: "/Auth/Keys", template: "/Auth/Keys", status: 401})
	run(contractCase{name: "create key", method: "POST", target: "/Auth/Keys?app=Sonarr", header: keyAuth, template: "/Auth/Keys", status: 204})
	run(contractCase{name: "revoke key", method: "DELETE", target: "/Auth/Keys/" + strings.Repeat("f", 32), header: keyAuth, template: "/Auth/Keys/{key}", status: 204})

	run(contractCase{name: "devices", method: "GET", target: "/Devices", header: keyAuth, template: "/Devices", status: 200})
	run(contractCase{name: "devices the user may access", method: "GET", target: "/Devices?userId=" + f.alice.ID, header: keyAuth, template: "/Devices", status: 200})
	run(contractCase{name: "devices as a user", method: "GET", target: "/Devices", header: aliceAuth, template: "/Devices", status: 403})
	run(contractCase{name: "devices without a token", method: "GET", target: "/Devices", template: "/Devices", status: 401})

	item := f.srv.MediaItemID()
	run(contractCase{name: "item", method: "GET", target: "/Items/" + item, header: aliceAuth, template: "/Items/{itemId}", status: 200})
	run(contractCase{name: "item without a token", method: "GET", target: "/Items/" + item, template: "/Items/{itemId}", status: 401})
	run(contractCase{name: "stream", method: "GET", target: "/Videos/" + item + "/stream?static=true&ApiKey=" + alice.AccessToken, template: "/Videos/{itemId}/stream", status: 200})
	run(contractCase{name: "stream by container", method: "GET", target: "/Videos/" + item + "/stream.mp4?ApiKey=" + alice.AccessToken, template: "/Videos/{itemId}/stream.{container}", status: 200})
	run(contractCase{name: "stream range", method: "GET", target: "/Videos/" + item + "/stream?ApiKey=" + alice.AccessToken, header: []string{"Range", "bytes=10-19"},
		template: "/Videos/{itemId}/stream", status: 206, undocumented: "the document lists no partial content"})
	run(contractCase{name: "stream without a token", method: "GET", target: "/Videos/" + item + "/stream", template: "/Videos/{itemId}/stream", status: 401,
		undocumented: "Jellyfin 12.0 streams without a token (Options.AnonymousStreams); the stand-in asks for one by default"})

	policy := func(id string) string {
		res := run(contractCase{name: "user with its policy", method: "GET", target: "/Users/" + id, header: keyAuth, template: "/Users/{userId}", status: 200})
		var u struct{ Policy json.RawMessage }
		res.json(t, &u)
		return string(u.Policy)
	}
	alicePolicy := policy(f.alice.ID)
	run(contractCase{name: "update a user's policy", method: "POST", target: "/Users/" + f.alice.ID + "/Policy", body: alicePolicy, header: keyAuth,
		template: "/Users/{userId}/Policy", status: 204})
	run(contractCase{name: "update a user's policy as a user", method: "POST", target: "/Users/" + f.alice.ID + "/Policy", body: alicePolicy, header: aliceAuth,
		template: "/Users/{userId}/Policy", status: 403, differs: "authorization refuses without a body; the document's ProblemDetails is the controller's own 403"})
	run(contractCase{name: "update a user's policy without a token", method: "POST", target: "/Users/" + f.alice.ID + "/Policy", body: alicePolicy,
		template: "/Users/{userId}/Policy", status: 401})
	run(contractCase{name: "update a policy without its providers", method: "POST", target: "/Users/" + f.alice.ID + "/Policy", body: `{"IsDisabled":false}`, header: keyAuth,
		template: "/Users/{userId}/Policy", status: 400})
	run(contractCase{name: "update an unknown user's policy", method: "POST", target: "/Users/" + strings.Repeat("0", 31) + "1/Policy", body: alicePolicy, header: keyAuth,
		template: "/Users/{userId}/Policy", status: 404, undocumented: "the controller's NotFound() for an unknown user"})
	disableAdmin := strings.Replace(policy(f.admin.ID), `"IsDisabled":false`, `"IsDisabled":true`, 1)
	run(contractCase{name: "disable an administrator", method: "POST", target: "/Users/" + f.admin.ID + "/Policy", body: disableAdmin, header: keyAuth,
		template: "/Users/{userId}/Policy", status: 403, differs: "the document declares ProblemDetails; the controller answers its message as a plain string"})
	carol := f.srv.AddUser("carol", "carol-password", false)
	f.srv.SetLoginAttemptsBeforeLockout(carol.ID, 1)
	run(contractCase{name: "the wrong password that locks an account", method: "POST", target: "/Users/AuthenticateByName", body: `{"Username":"carol","Pw":"x"}`, header: []string{"Authorization", web},
		template: "/Users/AuthenticateByName", status: 401, undocumented: "Jellyfin's exception middleware answers a failed sign-in in plain text"})
	run(contractCase{name: "sign in to a disabled account", method: "POST", target: "/Users/AuthenticateByName", body: `{"Username":"carol","Pw":"carol-password"}`, header: []string{"Authorization", web},
		template: "/Users/AuthenticateByName", status: 403, undocumented: "the user manager's SecurityException for a disabled account, answered in plain text"})

	f.srv.AddUser("dave", "dave-password", false)
	var daveAuth authResultView
	run(contractCase{name: "sign in as dave", method: "POST", target: "/Users/AuthenticateByName", body: `{"Username":"dave","Pw":"dave-password"}`, header: []string{"Authorization", web},
		template: "/Users/AuthenticateByName", status: 200}).json(t, &daveAuth)
	daveToken := []string{"Authorization", tokenHeader(daveAuth.AccessToken)}
	run(contractCase{name: "change a password with a wrong current one", method: "POST", target: "/Users/Password", body: `{"CurrentPw":"x","NewPw":"y"}`, header: daveToken,
		template: "/Users/Password", status: 403, differs: "the document declares ProblemDetails; the controller answers its message as a plain string"})
	run(contractCase{name: "change another user's password", method: "POST", target: "/Users/Password?userId=" + f.alice.ID, body: `{"CurrentPw":"x","NewPw":"y"}`, header: daveToken,
		template: "/Users/Password", status: 403, differs: "the document declares ProblemDetails; the controller answers its message as a plain string"})
	run(contractCase{name: "change an unknown user's password", method: "POST", target: "/Users/Password?userId=" + strings.Repeat("0", 31) + "1", body: `{"NewPw":"y"}`, header: keyAuth,
		template: "/Users/Password", status: 404})
	run(contractCase{name: "change a password without a token", method: "POST", target: "/Users/Password", body: `{"NewPw":"y"}`,
		template: "/Users/Password", status: 401})
	run(contractCase{name: "change one's own password", method: "POST", target: "/Users/Password", body: `{"CurrentPw":"dave-password","NewPw":"dave-new"}`, header: daveToken,
		template: "/Users/Password", status: 204})

	f.srv.SetQuickConnect(false)
	run(contractCase{name: "initiate while off", method: "POST", target: "/QuickConnect/Initiate", header: []string{"Authorization", tv}, template: "/QuickConnect/Initiate", status: 401})
	run(contractCase{name: "poll while off", method: "GET", target: "/QuickConnect/Connect?secret=" + qc.Secret, template: "/QuickConnect/Connect", status: 401,
		undocumented: "the controller answers Unauthorized when Quick Connect is off"})
}

// TestContractValidationIsStrict feeds the validator answers that break the
// document in the ways a stand-in bug would, so TestContract cannot pass by
// checking nothing.
func TestContractValidationIsStrict(t *testing.T) {
	t.Parallel()
	d := jellyfinDocument(t)
	f := newFixture(t, Options{})
	alice := f.signIn(t, "alice", alicePassword, "strict")
	good := f.call(t, http.MethodGet, "/Users/Me", nil, "Authorization", tokenHeader(alice.AccessToken))
	c := contractCase{name: "current user", method: "GET", target: "/Users/Me", template: "/Users/Me", status: 200}
	req, _ := http.NewRequest(http.MethodGet, f.ts.URL+"/Users/Me", nil)
	if err := validateResponse(t, d, c, req, good); err != nil {
		t.Fatalf("the good answer fails: %v", err)
	}
	mutations := map[string]func(string) string{
		"unknown property": func(s string) string { return strings.Replace(s, `"Name":`, `"Nickname":"x","Name":`, 1) },
		"malformed GUID":   func(s string) string { return strings.Replace(s, `"Id":"`, `"Id":"z`, 1) },
		"malformed date": func(s string) string {
			return regexp.MustCompile(`"LastLoginDate":"[^"]*"`).ReplaceAllString(s, `"LastLoginDate":"yesterday"`)
		},
		"missing required policy field": func(s string) string { return strings.Replace(s, `"AuthenticationProviderId"`, `"X"`, 1) },
		"bad enum": func(s string) string {
			return strings.Replace(s, `"SubtitleMode":"Default"`, `"SubtitleMode":"Sometimes"`, 1)
		},
	}
	for name, mutate := range mutations {
		bad := good
		bad.body = []byte(mutate(string(good.body)))
		if bytes.Equal(bad.body, good.body) {
			t.Fatalf("%s: the mutation changed nothing", name)
		}
		err := validateResponse(t, d, c, req, bad)
		var resErr *openapi3filter.ResponseError
		if !errors.As(err, &resErr) {
			t.Errorf("%s: validation passed: %v", name, err)
		}
	}
	wrongType := good
	wrongType.header = good.header.Clone()
	wrongType.header.Set("Content-Type", "text/plain")
	if err := validateResponse(t, d, c, req, wrongType); err == nil {
		t.Error("a text/plain answer passes")
	}
}
