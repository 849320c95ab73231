package usecase

import (
	"context"
	"maps"
	"time"

	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/projections"
)

// The facts jfguard records about itself, on system aggregates: a node started, the
// settings file changed a policy key, an alert could not be delivered.

// actorJFGuard is the actor of what jfguard records on its own account.
const actorJFGuard = "jfguard"

// execSystem records facts on a system aggregate (see projections.SystemAggregate):
// they depend on no state, so they are appended as they are.
func (s *Service) execSystem(ctx context.Context, name string, ec events.Context, evs ...events.Payload) error {
	_, err := projections.Exec(ctx, s.d.Projector, projections.SystemAggregate(name), ec, func(struct{}, time.Time) ([]events.Payload, error) {
		return evs, nil
	})
	return err
}

// RecordNodeStarted records that a node of jfguard started, with its version: the
// audit log shows every start, and which version wrote what followed.
func (s *Service) RecordNodeStarted(ctx context.Context, node, version string) error {
	return s.execSystem(ctx, "node", events.Context{Actor: actorJFGuard}, &events.NodeStarted{Node: node, Version: version})
}

// RecordFileSettings records, as settings_changed events, the policy keys whose value
// in the settings file differs from what the file said last time (see
// domain.DecideFileSetting). Values set later by an administrator win until the file
// changes that key again.
func (s *Service) RecordFileSettings(ctx context.Context, settings []domain.FileSetting) error {
	var file, current map[string]string
	s.read(func(st *projections.State) {
		file, current = maps.Clone(st.FileSettings), maps.Clone(st.Settings)
	})
	for _, f := range settings {
		evs := domain.DecideFileSetting(f, file, current)
		if len(evs) == 0 {
			continue
		}
		if err := s.execSystem(ctx, "settings", events.Context{Actor: "settings file"}, evs...); err != nil {
			return err
		}
	}
	return nil
}

// RecordNotificationFailed records an alert given up after its retries, so the
// administrator sees it (notify.status, the audit log) and the undelivered event is
// not lost from view.
func (s *Service) RecordNotificationFailed(ctx context.Context, f *events.NotificationFailed) error {
	return s.execSystem(ctx, "notifications", events.Context{Actor: actorJFGuard}, f)
}
