package events_test

import (
	"testing"

	"github.com/jfguard/jfguard/events"
)

// TestIPAggregateID: addresses and prefixes become subject-safe aggregate ids (no
// dot, no slash, no wildcard) and IPFromAggregateID gives them back as netip writes them.
func TestIPAggregateID(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ ip, id string }{
		{"192.0.2.1", "192_0_2_1"},
		{"192.0.2.0/24", "192_0_2_0_24"},
		{"2001:db8::1", "2001:db8::1"},
		{"2001:db8:1:2::/64", "2001:db8:1:2::_64"},
		{"2001:db8::/48", "2001:db8::_48"},
		{"::/64", "::_64"},
	} {
		id := events.IPAggregateID(tc.ip)
		if id != tc.id {
			t.Errorf("IPAggregateID(%q) = %q, want %q", tc.ip, id, tc.id)
		}
		if !events.ValidAggregateID(id) {
			t.Errorf("IPAggregateID(%q) = %q is not subject-safe", tc.ip, id)
		}
		if back := events.IPFromAggregateID(id); back != tc.ip {
			t.Errorf("IPFromAggregateID(%q) = %q, want %q", id, back, tc.ip)
		}
	}
}
