package bot

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/batonbot/baton/flows"
)

// Metrics are Baton's Prometheus metrics.
type Metrics struct {
	Events      *prometheus.CounterVec   // by event kind and result
	EventTime   *prometheus.HistogramVec // by event kind
	Transitions prometheus.Counter
	Deliveries  *prometheus.CounterVec   // by platform, effect kind and result
	DeliverTime *prometheus.HistogramVec // by platform
	TimerLag    prometheus.Histogram     // how late timers fire
	TimersFired *prometheus.CounterVec   // by result
	Failures    *prometheus.CounterVec   // by component
	Digests     *prometheus.CounterVec   // by platform and result
	HTTP        *prometheus.CounterVec   // by route and status code
	HTTPTime    *prometheus.HistogramVec // by route
}

// NewMetrics creates the metrics and registers them with reg (nil: not
// registered, e.g. in tests that build several services).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	lat := []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}
	m := &Metrics{
		Events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "baton_events_total",
			Help: "Events handled, by kind and result (ok, refused, duplicate, noop, invalid, error)."}, []string{"kind", "result"}),
		EventTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "baton_event_seconds",
			Help: "Time to handle an event, including its commit to Redis.", Buckets: lat}, []string{"kind"}),
		Transitions: prometheus.NewCounter(prometheus.CounterOpts{Name: "baton_transitions_total",
			Help: "State transitions committed."}),
		Deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "baton_deliveries_total",
			Help: "Outbox deliveries, by platform, effect and result (ok, failed, retry, dead, unreachable, no_card)."}, []string{"platform", "effect", "result"}),
		DeliverTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "baton_delivery_seconds",
			Help: "Time to deliver one effect to a platform, retries included.", Buckets: lat}, []string{"platform"}),
		TimerLag: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "baton_timer_lag_seconds",
			Help: "How long after its due time a timer fired.", Buckets: []float64{.1, .5, 1, 2, 5, 10, 30, 60, 300}}),
		TimersFired: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "baton_timers_fired_total",
			Help: "Timers fired, by result: ok; duplicate (fired already); noop (nothing left to do, e.g. decided since); error (fires again after its lease)."}, []string{"result"}),
		Failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "baton_failures_total",
			Help: "Failures, by component (dispatcher, timers, outbox, http, webhook, schedule, digest)."}, []string{"component"}),
		Digests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "baton_digests_total",
			Help: "Daily digests sent, by platform and result (ok, failed)."}, []string{"platform", "result"}),
		HTTP: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "baton_http_requests_total",
			Help: "HTTP requests, by route and status code."}, []string{"route", "code"}),
		HTTPTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "baton_http_request_seconds",
			Help: "HTTP request latency, by route.", Buckets: lat}, []string{"route"}),
	}
	if reg != nil {
		reg.MustRegister(m.Events, m.EventTime, m.Transitions, m.Deliveries, m.DeliverTime, m.TimerLag, m.TimersFired, m.Failures, m.Digests, m.HTTP, m.HTTPTime)
	}
	return m
}

func (m *Metrics) observeEvent(kind flows.EventKind, result string, d time.Duration) {
	m.Events.WithLabelValues(string(kind), result).Inc()
	m.EventTime.WithLabelValues(string(kind)).Observe(d.Seconds())
}
