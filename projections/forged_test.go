package projections

import (
	"strconv"
	"testing"
	"time"

	"github.com/jfguard/jfguard/events"
)

// TestForgedEventsAreNeverApplied: the fold refuses an event whose MAC is missing or
// wrong (here, "security.enabled=false" and a session for a stolen token), remembers
// it until a forged_event_detected names it, and keeps the aggregate's position so
// the next real append to that aggregate is not blocked.
func TestForgedEventsAreNeverApplied(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	st := NewState()
	seq := uint64(0)
	apply := func(auth events.Auth, aggID string, p events.Payload) events.Event {
		seq++
		ev := events.Must(aggID, at, events.Context{}, p)
		ev.Seq, ev.Subject, ev.Auth = seq, ev.PublishSubject(), auth
		st.Apply(ev)
		return ev
	}
	apply(events.AuthValid, "u1", &events.UserDiscovered{Name: "alice"})
	apply(events.AuthMissing, "settings", &events.SettingsChanged{Key: "security.enabled", Old: "true", New: "false", Where: "control_api"})
	apply(events.AuthInvalid, "u1", &events.SessionVerified{TokenHash: "stolen", Reason: "challenge", Assurance: "aal2"})

	if _, ok := st.Settings["security.enabled"]; ok {
		t.Error("a forged settings_changed was applied")
	}
	if st.Users["u1"].Sessions["stolen"] != nil || st.Tokens["stolen"].Status != 0 {
		t.Error("a forged session_verified was applied")
	}
	if len(st.Forged) != 2 || st.ForgedTotal != 2 || st.Forged[2].Reason != "missing" || st.Forged[3].Reason != "invalid" {
		t.Fatalf("forged %+v (total %d)", st.Forged, st.ForgedTotal)
	}
	if v := st.AggregateVersion(events.AggUser, "u1", st.Users["u1"].Version); v != 3 {
		t.Errorf("the next append to u1 expects %d, want 3 (the forged event's place)", v)
	}
	apply(events.AuthValid, "integrity", &events.ForgedEventDetected{Seq: 2, Subject: "s", Type: "settings_changed", Reason: "missing"})
	if _, ok := st.Forged[2]; ok || len(st.Forged) != 1 {
		t.Errorf("after its detection was recorded: forged %+v", st.Forged)
	}
	// A store without an authenticator (tools on a copy, tests) folds what it reads.
	apply(events.AuthUnchecked, "settings", &events.SettingsChanged{Key: "security.require_all", Old: "false", New: "true", Where: "file"})
	if st.Settings["security.require_all"] != "true" {
		t.Error("an unchecked event was not applied")
	}
}

// TestReplayedEventsAreRefused: an authentic event (a valid MAC) appended again by
// someone with write access to NATS is refused, whether the copy comes long after
// the original (by its age) or minutes later (by its id), so it cannot repeat a past
// decision such as turning jfguard off.
func TestReplayedEventsAreRefused(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	st := NewState()
	seq := uint64(0)
	store := func(ev events.Event, stored time.Time) {
		seq++
		ev.Seq, ev.Subject, ev.Auth, ev.Stored = seq, ev.PublishSubject(), events.AuthValid, stored
		st.Apply(ev)
	}
	off := events.Must("settings", at, events.Context{Actor: "admin"}, &events.SettingsChanged{Key: "security.enabled", Old: "true", New: "false", Where: "control_api"})
	on := events.Must("settings", at.Add(time.Minute), events.Context{Actor: "admin"}, &events.SettingsChanged{Key: "security.enabled", Old: "false", New: "true", Where: "control_api"})
	store(off, at.Add(5*time.Millisecond))
	store(on, at.Add(time.Minute+5*time.Millisecond))
	if st.Settings["security.enabled"] != "true" {
		t.Fatal("the authentic events were not applied in order")
	}
	store(off, at.Add(3*time.Minute)) // the same event again, minutes later
	store(off, at.Add(48*time.Hour))  // and days later, once its id is forgotten
	if st.Settings["security.enabled"] != "true" {
		t.Error("a replayed settings_changed turned jfguard off")
	}
	if len(st.Forged) != 2 || st.Forged[3].Reason != "replayed" || st.Forged[4].Reason != "replayed" {
		t.Errorf("forged %+v", st.Forged)
	}
	// An event stored a little after its time (a slow publish, clock skew) is fine.
	late := events.Must("settings", at.Add(48*time.Hour), events.Context{}, &events.SettingsChanged{Key: "security.require_all", Old: "false", New: "true", Where: "control_api"})
	store(late, at.Add(48*time.Hour+10*time.Minute))
	if st.Settings["security.require_all"] != "true" {
		t.Error("an event stored ten minutes after its time was refused")
	}
	if st.Replays.Len() != 1 {
		t.Errorf("%d ids remembered two days on, want the window's only", st.Replays.Len())
	}
}

// TestApplyAllFoldsAsApply: folding a rebuild's batches (the replay guard warmed a
// group at a time) refuses the same copies and applies the same events as folding
// one event at a time, copies within one group and across groups alike.
func TestApplyAllFoldsAsApply(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	var evs []events.Event
	add := func(ev events.Event, stored time.Time) {
		ev.Seq, ev.Subject, ev.Auth, ev.Stored = uint64(len(evs)+1), ev.PublishSubject(), events.AuthValid, stored
		evs = append(evs, ev)
	}
	var originals []events.Event
	for i := 0; i < 3*applyGroup; i++ {
		when := at.Add(time.Duration(i) * time.Second)
		ev := events.Must("settings", when, events.Context{}, &events.SettingsChanged{Key: "k", Old: "", New: strconv.Itoa(i), Where: "control_api"})
		originals = append(originals, ev)
		add(ev, when)
		if i%7 == 3 {
			add(originals[i], when.Add(time.Millisecond)) // a copy in the same group
		}
		if i%11 == 5 && i > applyGroup {
			add(originals[i-applyGroup], when) // a copy of an event of an earlier group
		}
	}
	one, all := NewState(), NewState()
	for _, ev := range evs {
		one.Apply(ev)
	}
	all.ApplyAll(evs)
	if one.ForgedTotal == 0 || all.ForgedTotal != one.ForgedTotal || len(all.Forged) != len(one.Forged) {
		t.Fatalf("ApplyAll refused %d, Apply %d", all.ForgedTotal, one.ForgedTotal)
	}
	for seq, f := range one.Forged {
		if all.Forged[seq] != f {
			t.Errorf("event %d: %+v one at a time, %+v in batches", seq, f, all.Forged[seq])
		}
	}
	if all.Settings["k"] != one.Settings["k"] || all.LastSeq != one.LastSeq {
		t.Errorf("settings %q / %q, last %d / %d", all.Settings["k"], one.Settings["k"], all.LastSeq, one.LastSeq)
	}
}
