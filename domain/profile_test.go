package domain

import (
	"testing"

	"github.com/jfguard/jfguard/events"
)

func TestDecideProfile(t *testing.T) {
	met := story([]events.Payload{&events.UserDiscovered{Name: "alice", Admin: false}})
	cases := []struct {
		name  string
		given []events.Payload
		// when Jellyfin names the user so
		userName string
		admin    bool
		then     []events.Payload
	}{
		{"a user met for the first time is discovered", nil, "alice", true,
			[]events.Payload{&events.UserDiscovered{Name: "alice", Admin: true}}},
		{"a known user as jfguard knows them changes nothing", met, "alice", false, nil},
		{"a renamed user's profile changed", met, "alice2", false,
			[]events.Payload{&events.UserProfileChanged{Name: "alice2", Admin: false}}},
		{"a user made administrator's profile changed", met, "alice", true,
			[]events.Payload{&events.UserProfileChanged{Name: "alice", Admin: true}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := given(t, testUserID, tc.given...)
			thenEvents(t, DecideProfile(u, tc.userName, tc.admin), tc.then...)
		})
	}
}
