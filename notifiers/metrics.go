package notifiers

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics count deliveries per sink, so a dashboard shows a receiver that stopped
// answering before anyone misses an alert.
type metrics struct {
	sent    *prometheus.CounterVec
	retried *prometheus.CounterVec
	failed  *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jfguard_notify_sent_total", Help: "Alerts delivered, by sink.",
		}, []string{"sink"}),
		retried: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jfguard_notify_retried_total", Help: "Failed delivery attempts that will be retried, by sink.",
		}, []string{"sink"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jfguard_notify_failed_total", Help: "Alerts given up after the retry budget, by sink.",
		}, []string{"sink"}),
	}
	if reg == nil {
		return m
	}
	m.sent = register(reg, m.sent)
	m.retried = register(reg, m.retried)
	m.failed = register(reg, m.failed)
	return m
}

// register adds c to reg, or returns the collector already registered under its name
// (a second Notifiers in one process, as after a settings reload, shares the series).
func register(reg prometheus.Registerer, c *prometheus.CounterVec) *prometheus.CounterVec {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
				return existing
			}
		}
	}
	return c
}
