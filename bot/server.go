package bot

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Server is Baton's HTTP server: /healthz, /readyz, /metrics, and whatever
// the adapters mount.
type Server struct {
	addr    string
	mux     *http.ServeMux
	log     *slog.Logger
	metrics *Metrics
	ln      net.Listener
	drain   time.Duration // how long the shutdown waits for requests in flight
}

// NewServer builds the server. ready reports whether Baton can serve
// (Redis reachable); gatherer serves /metrics.
func NewServer(addr string, log *slog.Logger, metrics *Metrics, gatherer prometheus.Gatherer, ready func(context.Context) error) *Server {
	s := &Server{addr: addr, mux: http.NewServeMux(), log: log, metrics: metrics, drain: 20 * time.Second}
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	s.mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := ready(ctx); err != nil {
			// The why goes to the log: the answer is open to anyone, and the
			// error names Redis's address.
			s.log.Warn("not ready", "err", err)
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "not ready: Redis is unreachable (the log says why)")
			return
		}
		fmt.Fprintln(w, "ready")
	})
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	return s
}

// Handle mounts an adapter's handler on a ServeMux pattern.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// Handler returns the server's handler with request ids, metrics, access
// logging and panic recovery around every route.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		began := time.Now()
		id := r.Header.Get("X-Request-Id")
		if id == "" || len(id) > 64 {
			b := make([]byte, 8)
			_, _ = rand.Read(b)
			id = hex.EncodeToString(b)
		}
		w.Header().Set("X-Request-Id", id)
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		_, route := s.mux.Handler(r)
		if route == "" {
			route = "unmatched"
		}
		req := r.WithContext(WithRequestID(r.Context(), id))
		defer func() {
			// The innermost pattern: a handler with a mux of its own (the
			// console, the dashboard, the API) sets the one it matched.
			if req.Pattern != "" {
				route = req.Pattern
			}
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.metrics.Failures.WithLabelValues("http").Inc()
				s.log.Error("handler panic", "request", id, "route", route, "panic", p)
				if !rec.wrote {
					http.Error(rec, "internal error", http.StatusInternalServerError)
				}
			}
			s.metrics.HTTP.WithLabelValues(route, strconv.Itoa(rec.code)).Inc()
			s.metrics.HTTPTime.WithLabelValues(route).Observe(time.Since(began).Seconds())
			s.log.Debug("http", "request", id, "method", r.Method, "route", route, "code", rec.code, "took", time.Since(began))
		}()
		s.mux.ServeHTTP(rec, req)
	})
}

type statusRecorder struct {
	http.ResponseWriter
	code  int
	wrote bool
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.wrote {
		r.code, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.ResponseWriter.Write(b)
}

// Flush lets streaming handlers (server-sent events) flush through the recorder.
func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		r.wrote = true
		f.Flush()
	}
}

// Unwrap gives http.ResponseController access to the underlying writer.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

type requestIDKey struct{}

// WithRequestID stores a request id in ctx.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID returns the request id stored in ctx, if any.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// Listen binds the server's address, unless it was given a listener
// (UseListener), and returns the address it listens on (a caller learns
// the port before Run).
func (s *Server) Listen() (net.Addr, error) {
	if s.ln == nil {
		ln, err := Listen(s.addr)
		if err != nil {
			return nil, err
		}
		s.ln = ln
	}
	return s.ln.Addr(), nil
}

// UseListener makes the server serve on ln, bound beforehand with Listen:
// Baton binds its address before anything else starts, so that an address
// it cannot listen on stops it as a bad setting does.
func (s *Server) UseListener(ln net.Listener) { s.ln = ln }

// Listen binds addr, BATON_HTTP_ADDR, for the HTTP server. Its error says
// what is wrong with the address and how to fix it: a host that does not
// resolve or is not this machine's, a port in use or that needs privileges.
func Listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err == nil {
		return ln, nil
	}
	host, port, _ := net.SplitHostPort(addr)
	var fix string
	var dns *net.DNSError
	switch {
	case errors.As(err, &dns):
		fix = fmt.Sprintf("the host %q cannot be resolved; write an address of this machine, e.g. :%s (every interface) or 127.0.0.1:%s (this machine only)", host, port, port)
	case errors.Is(err, syscall.EADDRINUSE):
		fix = fmt.Sprintf("port %s is in use (another Baton, or another program: ss -ltnp shows which); stop it, or choose a free port, e.g. :8081", port)
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		fix = fmt.Sprintf("%s is not an address of this machine; write one of its addresses, or :%s (every interface)", host, port)
	case errors.Is(err, syscall.EACCES):
		fix = fmt.Sprintf("port %s needs privileges Baton does not have; choose a port above 1023, e.g. :8080", port)
	default:
		fix = "write an address this machine can listen on, e.g. :8080"
	}
	return nil, fmt.Errorf("BATON_HTTP_ADDR (-http-addr) %q: %s (%w)", addr, fix, err)
}

// Run serves until ctx is cancelled, then stops accepting requests and
// waits (up to 20 s) for the ones in flight; it closes the connections of
// those still running then, and returns nil.
func (s *Server) Run(ctx context.Context) error {
	if s.ln == nil {
		if _, err := s.Listen(); err != nil {
			return err
		}
	}
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(s.ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.drain)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		// Requests still in flight (a handler waiting on a hung Redis):
		// their connections are closed. What they had committed stays;
		// what they had not, their senders see fail (Slack and Teams send
		// again). Not a failure of the shutdown asked for.
		s.log.Warn("shutdown: requests still in flight after the drain timeout are cut off; their senders see the connection close", "timeout", s.drain, "err", err)
		_ = srv.Close()
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
