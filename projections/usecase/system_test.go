package usecase_test

import (
	"context"
	"slices"
	"testing"

	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/projections"
)

func TestNodeStartIsRecordedWithItsVersion(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	// when a node starts
	if err := w.app.RecordNodeStarted(context.Background(), "node-1", "1.2.3"); err != nil {
		t.Fatal(err)
	}
	// then the start is recorded by jfguard, with the node and version
	evs := w.events("node")
	if len(evs) != 1 || evs[0].Type != events.TypeNodeStarted || evs[0].Actor != "jfguard" {
		t.Fatalf("events = %v", types(evs))
	}
	p, err := events.Decode(evs[0])
	if err != nil {
		t.Fatal(err)
	}
	if s := p.(*events.NodeStarted); s.Node != "node-1" || s.Version != "1.2.3" {
		t.Fatalf("node_started = %+v", s)
	}
}

func TestFileSettingsAreRecordedWhenTheFileChangesThem(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	file := []domain.FileSetting{
		{Key: "security.ban_threshold", Value: "5", Default: "20"},
		{Key: "security.lan_bypass", Value: "true", Default: "true"},
	}
	// when the program starts with a file that sets one key away from its default
	if err := w.app.RecordFileSettings(ctx, file); err != nil {
		t.Fatal(err)
	}
	// then that key alone is recorded, from the file, and is in force
	evs := w.events("settings")
	if len(evs) != 1 || evs[0].Type != events.TypeSettingsChanged || evs[0].Actor != "settings file" {
		t.Fatalf("events = %v", types(evs))
	}
	var v string
	w.proj.Read(func(st *projections.State) { v = st.Settings["security.ban_threshold"] })
	if v != "5" {
		t.Fatalf("setting = %q", v)
	}
	// when it starts again with the same file, nothing new is recorded
	if err := w.app.RecordFileSettings(ctx, file); err != nil {
		t.Fatal(err)
	}
	if n := len(w.events("settings")); n != 1 {
		t.Fatalf("%d settings events after a second start with the same file", n)
	}
	// when an administrator changes the key and the file changes it too, the file's
	// change is recorded over the administrator's value
	if _, err := w.app.SetSetting(ctx, root, "security.ban_threshold", "5", "7"); err != nil {
		t.Fatal(err)
	}
	file[0].Value = "9"
	if err := w.app.RecordFileSettings(ctx, file); err != nil {
		t.Fatal(err)
	}
	evs = w.events("settings")
	p, err := events.Decode(evs[len(evs)-1])
	if err != nil {
		t.Fatal(err)
	}
	if c := p.(*events.SettingsChanged); c.Old != "7" || c.New != "9" || c.Where != "file" {
		t.Fatalf("settings_changed = %+v", c)
	}
}

func TestUndeliveredAlertIsRecorded(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	// when an alert is given up after its retries
	f := &events.NotificationFailed{Sink: "ntfy", EventID: "e1", Attempts: 5, Error: "timeout"}
	if err := w.app.RecordNotificationFailed(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	// then the failure is recorded for the administrator to see
	if got := types(w.events("notifications")); !slices.Equal(got, []events.Type{events.TypeNotificationFailed}) {
		t.Fatalf("events = %v", got)
	}
}
