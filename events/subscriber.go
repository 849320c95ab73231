package events

// SubscribersAggregate is the system aggregate id of subscriber administration:
// its events are published on jfguard.events.system.subscribers.<type>.
const SubscribersAggregate = "subscribers"

// SubscriberAdded gives an external system a NATS credential to read the event
// stream: its name and the public half of its nkey (the seed is never stored).
type SubscriberAdded struct {
	Name      string `json:"name"`
	PublicKey string `json:"public_key"`
}

// SubscriberRemoved takes a subscriber's credential away; its connections are cut.
type SubscriberRemoved struct {
	Name string `json:"name"`
}

// EventType implementations tie each payload to its catalog name.
func (*SubscriberAdded) EventType() Type   { return TypeSubscriberAdded }
func (*SubscriberRemoved) EventType() Type { return TypeSubscriberRemoved }
