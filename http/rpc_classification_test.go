package gateway

import (
	"slices"
	"sort"
	"testing"
)

// TestRPCMethodsReadOnlyOrChangingState pins which control API methods only read
// (the auditor token may call them, and a weak administrator session needs no
// step-up for them) and which change state. The lists are exact: a new method, or
// one moved from changing to reading, fails here until someone decides and writes
// it down, so a state change cannot silently become callable by the auditor.
func TestRPCMethodsReadOnlyOrChangingState(t *testing.T) {
	readOnly := []string{
		"api_keys.usage",
		"audit.public_key",
		"audit.query",
		"audit.verify",
		"bans.list",
		"challenges.list",
		"notify.status",
		"replay.at",
		"rpc.discover",
		"settings.get",
		"subscribers.list",
		"system.doctor",
		"system.status",
		"users.get",
		"users.list",
	}
	changing := []string{
		"app_passwords.revoke",
		"audit.checkpoint",
		"bans.add",
		"bans.remove",
		"challenges.end",
		"devices.preapprove",
		"devices.revoke",
		"keys.rotate",
		"notify.test",
		"notify.test_email",
		"pairings.answer",
		"passwords.release",
		"sessions.adopt",
		"sessions.revoke",
		"settings.set",
		"subscribers.add",
		"subscribers.remove",
		"users.forget",
		"users.reset",
		"users.revoke_all",
		"users.set_networks",
	}
	var gotRead, gotChange []string
	for name, m := range (&Server{}).rpcTable() {
		if m.readOnly {
			gotRead = append(gotRead, name)
		} else {
			gotChange = append(gotChange, name)
		}
	}
	sort.Strings(gotRead)
	sort.Strings(gotChange)
	if !slices.Equal(gotRead, readOnly) {
		t.Errorf("read-only methods %v,\nwant %v", gotRead, readOnly)
	}
	if !slices.Equal(gotChange, changing) {
		t.Errorf("state-changing methods %v,\nwant %v", gotChange, changing)
	}
	if want := (&Server{}).ReadOnlyRPCMethods(); !slices.Equal(want, readOnly) {
		t.Errorf("ReadOnlyRPCMethods() = %v, want %v", want, readOnly)
	}
}
