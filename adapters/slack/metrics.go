package slack

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the adapter's Prometheus metrics, next to the runtime's
// (baton_deliveries_total counts deliveries and their retries).
type metrics struct {
	calls    *prometheus.CounterVec   // Web API calls by method and result
	callTime *prometheus.HistogramVec // by method
	inbound  *prometheus.CounterVec   // requests from Slack by kind and result
	ackTime  *prometheus.HistogramVec // time to acknowledge, by kind
	socket   *prometheus.CounterVec   // Socket Mode connection events
}

func newMetrics(reg prometheus.Registerer) *metrics {
	lat := []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
	m := &metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "baton_slack_api_calls_total",
			Help: "Slack Web API calls, by method and result (ok, rate_limited, error, permanent)."}, []string{"method", "result"}),
		callTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "baton_slack_api_seconds",
			Help: "Slack Web API call latency, by method.", Buckets: lat}, []string{"method"}),
		inbound: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "baton_slack_requests_total",
			Help: "Requests from Slack, by kind (command, interaction, event) and result (ok, unauthorized, bad_request, too_large, in_progress: a repeat of an event being handled, error)."}, []string{"kind", "result"}),
		ackTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "baton_slack_ack_seconds",
			Help: "Time from receiving a Slack request to acknowledging it, by kind (Slack's limit is 3 s).", Buckets: lat}, []string{"kind"}),
		socket: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "baton_slack_socket_events_total",
			Help: "Socket Mode connection events (connected, disconnected, error)."}, []string{"event"}),
	}
	if reg != nil {
		reg.MustRegister(m.calls, m.callTime, m.inbound, m.ackTime, m.socket)
	}
	return m
}
