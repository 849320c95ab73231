package gateway

import (
	"testing"
	"time"

	"github.com/jfguard/jfguard/events"
)

func TestEventViewNamesTheAddressOfAnAddressBlock(t *testing.T) {
	cases := map[string]string{
		"192_0_2_7":         "192.0.2.7",
		"192_0_2_0_24":      "192.0.2.0/24",
		"2001:db8:1:2::_64": "2001:db8:1:2::/64",
		"2001:db8::1":       "2001:db8::1",
	}
	for id, want := range cases {
		// given an event of an address block
		ev := events.Must(id, time.Now(), events.Context{}, &events.IPBanned{Reason: "test"})
		// when readers see it
		v := eventView(ev)
		// then it names the address or prefix as written, not the subject-safe id
		if v["address"] != want {
			t.Errorf("address of %s = %v, want %s", id, v["address"], want)
		}
	}
	// and a user's event names none
	ev := events.Must("u1", time.Now(), events.Context{}, &events.UserDiscovered{Name: "alice"})
	if _, ok := eventView(ev)["address"]; ok {
		t.Error("a user's event has an address")
	}
}
