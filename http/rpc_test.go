package gateway

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/jfguard/jfguard/docs"
)

// TestOpenRPCDocumentMatchesTheServedMethods holds the control API to its contract:
// every method the server answers is described in docs/openrpc.json, and every
// method the document describes is served. The document is read from the docs
// package, the same bytes the binary embeds and rpc.discover returns.
func TestOpenRPCDocumentMatchesTheServedMethods(t *testing.T) {
	spec, err := LoadOpenRPC(docs.OpenRPC)
	if err != nil {
		t.Fatal(err)
	}
	var documented []string
	for _, m := range spec.Methods {
		if slices.Contains(documented, m.Name) {
			t.Errorf("%s is described twice", m.Name)
		}
		documented = append(documented, m.Name)
	}
	served := (&Server{}).RPCMethods()
	for _, m := range served {
		if !slices.Contains(documented, m) {
			t.Errorf("%s is served but not in docs/openrpc.json", m)
		}
	}
	for _, m := range documented {
		if !slices.Contains(served, m) {
			t.Errorf("%s is in docs/openrpc.json but not served", m)
		}
	}
}

// TestOpenRPCNamesTheAuditorsMethods: the document tells the auditor token's holder
// which methods it may call; that list is the served read-only methods.
func TestOpenRPCNamesTheAuditorsMethods(t *testing.T) {
	spec, err := LoadOpenRPC(docs.OpenRPC)
	if err != nil {
		t.Fatal(err)
	}
	desc := spec.Info.Description
	i := strings.Index(desc, "may call the read-only methods (")
	if i < 0 {
		t.Fatal("the document's description does not list the auditor token's methods")
	}
	listed := desc[i+len("may call the read-only methods ("):]
	listed = listed[:strings.Index(listed, ")")]
	names := strings.Split(listed, ", ")
	sort.Strings(names)
	if want := (&Server{}).ReadOnlyRPCMethods(); !slices.Equal(names, want) {
		t.Fatalf("the document lists %v for the auditor token; the read-only methods are %v", names, want)
	}
}

// TestRPCRefusesABodyOverTheLimit: a control API request larger than the limit is
// not read to its end; it gets a parse error that says the body is too large, and a
// body within the limit is still served.
func TestRPCRefusesABodyOverTheLimit(t *testing.T) {
	s := newAdminServer(t)
	call := func(body []byte) (int, string) {
		t.Helper()
		req := httptest.NewRequest(http.MethodPost, "/jfguard/rpc", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+testAdminToken)
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		var resp struct {
			Error *struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
			t.Fatalf("%v: %s", err, rec.Body)
		}
		if resp.Error == nil {
			return 0, ""
		}
		return resp.Error.Code, resp.Error.Message
	}
	request := func(size int) []byte {
		head := []byte(`{"jsonrpc":"2.0","id":1,"method":"system.status","params":{}}`)
		return append(head, bytes.Repeat([]byte(" "), size-len(head))...)
	}
	if code, msg := call(request(rpcMaxBody)); code != 0 {
		t.Fatalf("a body of exactly the limit: error %d %q", code, msg)
	}
	code, msg := call(request(rpcMaxBody + 1))
	if code != rpcParseError || !strings.Contains(msg, "too large") {
		t.Fatalf("a body over the limit: error %d %q, want %d saying it is too large", code, msg, rpcParseError)
	}
}
