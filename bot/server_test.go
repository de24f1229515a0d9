package bot_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/batonbot/baton/bot"
)

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newServer returns a server whose readiness is ready, with its metrics
// registered on a registry of its own.
func newServer(t *testing.T, addr string, ready func(context.Context) error) (*bot.Server, *bot.Metrics, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m := bot.NewMetrics(reg)
	return bot.NewServer(addr, discard(), m, reg, ready), m, reg
}

func get(t *testing.T, h http.Handler, path string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// metricValue returns a counter's (or a histogram's sample count) value
// with exactly these labels, or -1 when there is none.
func metricValue(t *testing.T, g prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel())*2 != len(labels) {
				continue
			}
			for i := 0; i < len(labels); i += 2 {
				if !hasLabel(m, labels[i], labels[i+1]) {
					continue metrics
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount())
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			}
		}
	}
	return -1
}

func hasLabel(m *dto.Metric, name, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}

func TestServerHealthz(t *testing.T) {
	s, _, reg := newServer(t, ":0", func(context.Context) error { return errors.New("redis down") })
	rec := get(t, s.Handler(), "/healthz")
	if rec.Code != http.StatusOK || strings.TrimSpace(rec.Body.String()) != "ok" {
		t.Fatalf("/healthz: %d %q (liveness must not depend on readiness)", rec.Code, rec.Body)
	}
	if got := metricValue(t, reg, "baton_http_requests_total", "route", "GET /healthz", "code", "200"); got != 1 {
		t.Errorf("requests counted %v, want 1", got)
	}
	if got := metricValue(t, reg, "baton_http_request_seconds", "route", "GET /healthz"); got != 1 {
		t.Errorf("latency observations %v, want 1", got)
	}
	rec = httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/healthz", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /healthz: %d, want 405", rec.Code)
	}
}

func TestServerReadyz(t *testing.T) {
	var fail error
	var deadline bool
	s, _, reg := newServer(t, ":0", func(ctx context.Context) error {
		_, deadline = ctx.Deadline()
		return fail
	})
	h := s.Handler()
	if rec := get(t, h, "/readyz"); rec.Code != http.StatusOK || strings.TrimSpace(rec.Body.String()) != "ready" {
		t.Fatalf("/readyz while ready: %d %q", rec.Code, rec.Body)
	}
	if !deadline {
		t.Error("the readiness check should get a context with a deadline, so a hung Redis cannot hang probes")
	}
	fail = errors.New("dial tcp 127.0.0.1:6379: connection refused")
	rec := get(t, h, "/readyz")
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "Redis is unreachable") ||
		strings.Contains(rec.Body.String(), "127.0.0.1:6379") {
		t.Fatalf("/readyz while not ready: %d %q, want 503 without Redis's address", rec.Code, rec.Body)
	}
	if got := metricValue(t, reg, "baton_http_requests_total", "route", "GET /readyz", "code", "503"); got != 1 {
		t.Errorf("503s counted %v, want 1", got)
	}
	fail = nil
	if rec := get(t, h, "/readyz"); rec.Code != http.StatusOK {
		t.Fatalf("/readyz after recovery: %d", rec.Code)
	}
}

func TestServerMetrics(t *testing.T) {
	s, m, _ := newServer(t, ":0", func(context.Context) error { return nil })
	h := s.Handler()
	// Touch the vectors, which only appear once they have a child.
	m.Events.WithLabelValues("approve", "ok").Inc()
	m.EventTime.WithLabelValues("approve").Observe(0.01)
	m.Transitions.Inc()
	m.Deliveries.WithLabelValues("slack", "notify", "ok").Inc()
	m.DeliverTime.WithLabelValues("slack").Observe(0.02)
	m.TimerLag.Observe(0.3)
	m.TimersFired.WithLabelValues("ok").Inc()
	m.Failures.WithLabelValues("outbox").Inc()
	get(t, h, "/healthz")

	rec := get(t, h, "/metrics")
	if rec.Code != http.StatusOK {
		t.Fatalf("/metrics: %d", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type %q, want the Prometheus text format", ct)
	}
	body := rec.Body.String()
	for _, name := range []string{"baton_events_total", "baton_event_seconds", "baton_transitions_total", "baton_deliveries_total",
		"baton_delivery_seconds", "baton_timer_lag_seconds", "baton_timers_fired_total", "baton_failures_total",
		"baton_http_requests_total", "baton_http_request_seconds"} {
		if !strings.Contains(body, "# TYPE "+name+" ") || !strings.Contains(body, "# HELP "+name+" ") {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	for _, line := range []string{
		`baton_events_total{kind="approve",result="ok"} 1`,
		`baton_transitions_total 1`,
		`baton_deliveries_total{effect="notify",platform="slack",result="ok"} 1`,
		`baton_timers_fired_total{result="ok"} 1`,
		`baton_failures_total{component="outbox"} 1`,
		`baton_http_requests_total{code="200",route="GET /healthz"} 1`,
	} {
		if !strings.Contains(body, line+"\n") {
			t.Errorf("/metrics lacks the line %s", line)
		}
	}
}

func TestNewMetricsRegistersOnce(t *testing.T) {
	reg := prometheus.NewRegistry()
	bot.NewMetrics(reg)
	defer func() {
		if recover() == nil {
			t.Error("registering Baton's metrics twice on one registry should panic, not go unnoticed")
		}
	}()
	bot.NewMetrics(reg)
}

func TestServerRequestID(t *testing.T) {
	s, _, _ := newServer(t, ":0", func(context.Context) error { return nil })
	var seen string
	s.Handle("GET /echo", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = bot.RequestID(r.Context()) }))
	h := s.Handler()

	rec := get(t, h, "/echo")
	id := rec.Header().Get("X-Request-Id")
	if !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(id) || seen != id {
		t.Errorf("generated id %q, handler saw %q", id, seen)
	}
	if again := get(t, h, "/echo").Header().Get("X-Request-Id"); again == id {
		t.Errorf("two requests got the same id %q", id)
	}

	rec = get(t, h, "/echo", "X-Request-Id", "lb-7f3a")
	if got := rec.Header().Get("X-Request-Id"); got != "lb-7f3a" || seen != "lb-7f3a" {
		t.Errorf("an incoming id should be kept: header %q, handler %q", got, seen)
	}

	long := strings.Repeat("x", 65)
	rec = get(t, h, "/echo", "X-Request-Id", long)
	if got := rec.Header().Get("X-Request-Id"); got == long || len(got) != 16 {
		t.Errorf("an over-long incoming id should be replaced, got %q", got)
	}
	if bot.RequestID(context.Background()) != "" {
		t.Error("RequestID of a bare context should be empty")
	}
}

func TestServerRecoversPanics(t *testing.T) {
	s, _, reg := newServer(t, ":0", func(context.Context) error { return nil })
	s.Handle("GET /boom", http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }))
	rec := get(t, s.Handler(), "/boom")
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("a panicking handler answered %d, want 500", rec.Code)
	}
	if got := metricValue(t, reg, "baton_failures_total", "component", "http"); got != 1 {
		t.Errorf("http failures %v, want 1", got)
	}
	if got := metricValue(t, reg, "baton_http_requests_total", "route", "GET /boom", "code", "500"); got != 1 {
		t.Errorf("500s counted %v, want 1", got)
	}
	// Unknown paths share one label, so scanners cannot blow up the series count.
	get(t, s.Handler(), "/wp-admin")
	get(t, s.Handler(), "/.env")
	if got := metricValue(t, reg, "baton_http_requests_total", "route", "unmatched", "code", "404"); got != 2 {
		t.Errorf("unmatched 404s counted %v, want 2", got)
	}
}

// TestServerListenError: an address Baton cannot listen on is refused with
// what is wrong with it, named as the setting it comes from.
func TestServerListenError(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	for _, tc := range []struct{ addr, want string }{
		{taken.Addr().String(), "is in use (another Baton, or another program"},
		{"nosuchhost.invalid:0", `the host "nosuchhost.invalid" cannot be resolved; write an address of this machine`},
		{"192.0.2.1:0", "192.0.2.1 is not an address of this machine"}, // TEST-NET-1: nobody's
	} {
		s, _, _ := newServer(t, tc.addr, func(context.Context) error { return nil })
		_, err := s.Listen()
		if err == nil || !strings.HasPrefix(err.Error(), `BATON_HTTP_ADDR (-http-addr) "`+tc.addr+`": `) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("listening on %s: %v; want an error naming BATON_HTTP_ADDR that says %q", tc.addr, err, tc.want)
		}
		if err := s.Run(t.Context()); err == nil {
			t.Errorf("Run on %s should fail", tc.addr)
		}
	}
}

// TestServerRunGracefulShutdown: cancelling Run's context stops new
// connections but lets a request in flight finish.
func TestServerRunGracefulShutdown(t *testing.T) {
	s, _, _ := newServer(t, "127.0.0.1:0", func(context.Context) error { return nil })
	started, release := make(chan struct{}), make(chan struct{})
	s.Handle("GET /slow", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		io.WriteString(w, "finished")
	}))
	addr, err := s.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ran := make(chan error, 1)
	go func() { ran <- s.Run(ctx) }()

	base := "http://" + addr.String()
	if resp, err := http.Get(base + "/healthz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /healthz over the network: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	type result struct {
		body string
		err  error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := http.Get(base + "/slow")
		if err != nil {
			got <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		got <- result{string(b), err}
	}()
	wait(t, started, "the slow request to start")
	cancel()
	select {
	case err := <-ran:
		t.Fatalf("Run returned (%v) with a request in flight", err)
	default:
	}
	close(release)
	if r := recv(t, got, "the slow response"); r.err != nil || r.body != "finished" {
		t.Fatalf("the request in flight during shutdown got %q, %v", r.body, r.err)
	}
	if err := recv(t, ran, "Run to return"); err != nil {
		t.Fatalf("Run: %v", err)
	}
	c := http.Client{Timeout: 5 * time.Second}
	if resp, err := c.Get(base + "/healthz"); err == nil {
		resp.Body.Close()
		t.Fatal("the server still answers after Run returned")
	}
}

// TestServerRunShutdownCutsAHungRequest: a request still in flight when the
// drain timeout passes (its handler waiting on a hung Redis) has its
// connection closed; Run returns nil, as for any shutdown, and says so.
func TestServerRunShutdownCutsAHungRequest(t *testing.T) {
	logs := &syncBuffer{}
	reg := prometheus.NewRegistry()
	s := bot.NewServer("127.0.0.1:0", slog.New(slog.NewTextHandler(logs, nil)), bot.NewMetrics(reg), reg, func(context.Context) error { return nil })
	s.SetDrain(10 * time.Millisecond)
	started, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	s.Handle("GET /hung", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
	}))
	addr, err := s.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ran := make(chan error, 1)
	go func() { ran <- s.Run(ctx) }()
	got := make(chan error, 1)
	go func() {
		resp, err := http.Get("http://" + addr.String() + "/hung")
		if err == nil {
			resp.Body.Close()
		}
		got <- err
	}()
	wait(t, started, "the request to start")
	cancel()
	if err := recv(t, ran, "Run to return"); err != nil {
		t.Fatalf("Run: %v; want nil: the shutdown was asked for", err)
	}
	if err := recv(t, got, "the cut-off request to end"); err == nil {
		t.Error("the request in flight got an answer; want its connection closed")
	}
	if !strings.Contains(logs.String(), "shutdown: requests still in flight after the drain timeout are cut off") {
		t.Errorf("the log does not say requests were cut off:\n%s", logs)
	}
}

// recv waits for a value, failing the test if none comes in a long while
// (a hang, not a timing assumption).
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(30 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

func wait(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	recv(t, ch, what)
}

// A handler with a mux of its own (the console, at /) is counted and
// logged by the pattern it matched, not all under its mount point.
func TestServerLabelsInnerRoutes(t *testing.T) {
	s, _, reg := newServer(t, ":0", func(context.Context) error { return nil })
	inner := http.NewServeMux()
	inner.HandleFunc("GET /console/inbox", func(http.ResponseWriter, *http.Request) {})
	s.Handle("/", inner)
	get(t, s.Handler(), "/console/inbox")
	get(t, s.Handler(), "/nothing-here")
	if got := metricValue(t, reg, "baton_http_requests_total", "route", "GET /console/inbox", "code", "200"); got != 1 {
		t.Errorf("the inner route counted %v, want 1", got)
	}
	if got := metricValue(t, reg, "baton_http_requests_total", "route", "/", "code", "404"); got != 1 {
		t.Errorf("a path the inner mux lacks counted %v under its mount point, want 1", got)
	}
}
