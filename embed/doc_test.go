package broker

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
)

// TestOperationsGuideGivesTheseRights: the nats-server configuration in
// docs/operations.md, for an external server, parses and gives a subscriber exactly
// the rights jfguard gives subscribers of its embedded server (with the alert sink
// the example names reserved), and jfguard's own user the rights the cluster test
// runs it with.
func TestOperationsGuideGivesTheseRights(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(doc)
	i := strings.Index(s, "accounts {\n  JFGUARD {")
	if i < 0 {
		t.Fatal("docs/operations.md has no nats-server configuration for jfguard's account")
	}
	conf := s[i : i+strings.Index(s[i:], "```")]
	_, jfguardKey := newUser(t)
	_, siemKey := newUser(t)
	conf = strings.Replace(conf, "UAJFGUARDPUBLICKEY…", jfguardKey, 1)
	conf = strings.Replace(conf, "UASIEMPUBLICKEY…", siemKey, 1)
	path := filepath.Join(t.TempDir(), "nats.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	opts, err := server.ProcessConfigFile(path)
	if err != nil {
		t.Fatalf("the configuration in docs/operations.md: %v", err)
	}
	perms := map[string]*server.Permissions{}
	for _, u := range opts.Nkeys {
		perms[u.Nkey] = u.Permissions
	}
	same := func(what string, got, want *server.SubjectPermission) {
		t.Helper()
		if !slices.Equal(got.Allow, want.Allow) || !slices.Equal(got.Deny, want.Deny) {
			t.Errorf("%s: the guide says %+v, want %+v", what, got, want)
		}
	}
	want := SubscriberPermissions(SubscriberPolicy{Stream: "JFGUARD_EVENTS", Subjects: "jfguard.events.>", Reserved: []string{"jfguard-notify-ntfy"}}, "siem", nil)
	same("subscriber publish", perms[siemKey].Publish, want.Publish)
	same("subscriber subscribe", perms[siemKey].Subscribe, want.Subscribe)
	same("jfguard publish", perms[jfguardKey].Publish, &server.SubjectPermission{Allow: []string{"jfguard.>", "$JS.API.>", "$JS.ACK.>", "$KV.>"}})
	same("jfguard subscribe", perms[jfguardKey].Subscribe, &server.SubjectPermission{Allow: []string{"_INBOX.>"}})
}
