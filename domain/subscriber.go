package domain

import (
	"errors"
	"fmt"
	"strings"

	"github.com/jfguard/jfguard/events"
)

// Subscribers are external systems (a SIEM, home automation, a chat bot) that read
// the event stream over NATS with a credential of their own. The name becomes part of
// NATS subjects (the subscriber's inbox prefix, its durable consumer), so it is held
// to what is safe there.

// Errors of subscriber administration.
var (
	// ErrSubscriberName: the name is not usable (see ValidSubscriberName).
	ErrSubscriberName = errors.New("subscriber name")
	// ErrSubscriberExists: a subscriber of that name, or with that key, exists.
	ErrSubscriberExists = errors.New("subscriber exists")
)

// MaxSubscriberNameLen bounds a subscriber's name.
const MaxSubscriberNameLen = 32

// ValidSubscriberName checks a subscriber's name: 1 to 32 lower-case letters,
// digits, "-" or "_", starting with a letter or digit, and not starting with
// "jfguard" (jfguard's own consumers are named so).
func ValidSubscriberName(name string) error {
	if name == "" || len(name) > MaxSubscriberNameLen {
		return fmt.Errorf("%w %q: use 1 to %d characters", ErrSubscriberName, name, MaxSubscriberNameLen)
	}
	for i, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
		case (r == '-' || r == '_') && i > 0:
		default:
			return fmt.Errorf("%w %q: use lower-case letters, digits, - and _ (starting with a letter or digit), e.g. \"siem\" or \"home-assistant\"", ErrSubscriberName, name)
		}
	}
	if strings.HasPrefix(name, "jfguard") {
		return fmt.Errorf("%w %q: names starting with jfguard are jfguard's own; choose another", ErrSubscriberName, name)
	}
	return nil
}

// SubscriberInbox is the inbox prefix a subscriber's client must use: its replies
// arrive only there (the NATS server refuses it every other inbox).
func SubscriberInbox(name string) string { return "_INBOX_" + name }

// DecideSubscriberAdd adds a subscriber with its public key to the current ones
// (name → public key). Names and keys are unique: a second system gets its own.
func DecideSubscriberAdd(current map[string]string, name, publicKey string) ([]events.Payload, error) {
	if err := ValidSubscriberName(name); err != nil {
		return nil, err
	}
	if _, ok := current[name]; ok {
		return nil, fmt.Errorf("%w: %q is already a subscriber; remove it first to give it a new key", ErrSubscriberExists, name)
	}
	for other, key := range current {
		if key == publicKey {
			return nil, fmt.Errorf("%w: subscriber %q has this public key; every subscriber needs its own", ErrSubscriberExists, other)
		}
	}
	return []events.Payload{&events.SubscriberAdded{Name: name, PublicKey: publicKey}}, nil
}

// DecideSubscriberRemove removes a subscriber.
func DecideSubscriberRemove(current map[string]string, name string) ([]events.Payload, error) {
	if _, ok := current[name]; !ok {
		return nil, fmt.Errorf("%w: no subscriber %q", ErrNotFound, name)
	}
	return []events.Payload{&events.SubscriberRemoved{Name: name}}, nil
}
