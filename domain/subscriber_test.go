package domain

import (
	"testing"

	"github.com/jfguard/jfguard/events"
)

// TestSubscriberNames: a name goes into NATS subjects (the inbox prefix, the durable
// consumer), so only what is safe there is accepted.
func TestSubscriberNames(t *testing.T) {
	for name, ok := range map[string]bool{
		"siem": true, "home-assistant": true, "bot_2": true, "0day": true, "a": true,
		"abcdefghijklmnopqrstuvwxyz012345": true, "abcdefghijklmnopqrstuvwxyz0123456": false,
		"": false, "Siem": false, "si.em": false, "si em": false, "si*": false, "si>": false,
		"-siem": false, "_siem": false, "jfguard": false, "jfguard-notify-x": false, "sïem": false,
	} {
		err := ValidSubscriberName(name)
		if ok && err != nil {
			t.Errorf("%q refused: %v", name, err)
		}
		if !ok {
			thenErr(t, err, ErrSubscriberName)
		}
	}
}

// TestSubscriberDecisions: names and keys are unique; only a subscriber that exists
// can be removed.
func TestSubscriberDecisions(t *testing.T) {
	current := map[string]string{"siem": "UKEY1"}
	for _, tc := range []struct {
		name    string
		decide  func() ([]events.Payload, error)
		want    []events.Payload
		wantErr error
	}{
		{"add", func() ([]events.Payload, error) { return DecideSubscriberAdd(current, "bot", "UKEY2") },
			[]events.Payload{&events.SubscriberAdded{Name: "bot", PublicKey: "UKEY2"}}, nil},
		{"add a name twice", func() ([]events.Payload, error) { return DecideSubscriberAdd(current, "siem", "UKEY2") }, nil, ErrSubscriberExists},
		{"add a key twice", func() ([]events.Payload, error) { return DecideSubscriberAdd(current, "bot", "UKEY1") }, nil, ErrSubscriberExists},
		{"add a bad name", func() ([]events.Payload, error) { return DecideSubscriberAdd(current, "Bot", "UKEY2") }, nil, ErrSubscriberName},
		{"remove", func() ([]events.Payload, error) { return DecideSubscriberRemove(current, "siem") },
			[]events.Payload{&events.SubscriberRemoved{Name: "siem"}}, nil},
		{"remove an unknown one", func() ([]events.Payload, error) { return DecideSubscriberRemove(current, "bot") }, nil, ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.decide()
			if tc.wantErr != nil {
				thenErr(t, err, tc.wantErr)
				return
			}
			thenErr(t, err, nil)
			thenEvents(t, got, tc.want...)
		})
	}
}
