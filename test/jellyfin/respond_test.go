package jellyfin

import (
	"net/http/httptest"
	"strings"
	"testing"
)

func TestReadJSONObject(t *testing.T) {
	t.Parallel()
	tests := []struct {
		body, contentType string
		wantErr           bool
		username          string
	}{
		{`{"Username":"a"}`, "application/json", false, "a"},
		{`{"username":"a","USERNAME":"b"}`, "application/json; charset=utf-8", false, "b"},
		{`{"Username":"a"}`, "text/json", false, "a"},
		{`{"Username":"a"}`, "application/vnd.api+json", false, "a"},
		{`{"Username":"a"}`, "text/plain", true, ""},
		{`{"Username":"a"}`, "", true, ""},
		{``, "application/json", true, ""},
		{`null`, "application/json", true, ""},
		{`[]`, "application/json", true, ""},
		{`{"Username":"a"} {}`, "application/json", true, ""},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("POST", "/", strings.NewReader(tt.body))
		r.Header.Set("Content-Type", tt.contentType)
		obj, err := readJSONObject(r)
		if (err != nil) != tt.wantErr {
			t.Errorf("%q as %q: error %v, want error %v", tt.body, tt.contentType, err, tt.wantErr)
			continue
		}
		if err == nil {
			if got, _, _ := obj.stringField("Username"); got != tt.username {
				t.Errorf("%q: Username %q, want %q", tt.body, got, tt.username)
			}
		}
	}
}

// FuzzReadJSONObject checks that no request body makes the reader panic.
func FuzzReadJSONObject(f *testing.F) {
	for _, seed := range []string{`{"Username":"a","Pw":null}`, `{"a":{"b":[1,2]}}`, `{`, `"x"`, `{"Secret":1}`} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest("POST", "/", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		obj, err := readJSONObject(r)
		if err == nil {
			_, _, _ = obj.stringField("Username")
		}
	})
}
