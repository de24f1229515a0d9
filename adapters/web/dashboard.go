package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"html/template"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/batonbot/baton/flows"
)

// DashboardService is what the dashboard needs (bot.Service has it).
type DashboardService interface {
	Now() time.Time
	Overview(ctx context.Context) (flows.Overview, error)
}

// DashboardConfig configures the dashboard.
type DashboardConfig struct {
	// Authenticate checks a sign-in: user is the person id typed in,
	// token the secret. It returns whether they may see the dashboard.
	// Nil: nobody can sign in (unless Local).
	Authenticate func(ctx context.Context, user, token string) (bool, error)
	// SessionKey signs session cookies (HMAC-SHA256). Required.
	SessionKey []byte
	// Local opens the dashboard without sign-in to clients on this machine
	// calling it by a local name, as the console is: local console mode
	// (no chat platform configured).
	Local bool
	// SessionTTL is how long a sign-in lasts (default 12 h).
	SessionTTL time.Duration
	// Still says, at every page, whether a session's sign-in still holds:
	// user is still an admin and the token they signed in with is still
	// good, not revoked. signedInWith says whether a token, given by its
	// hex SHA-256, is the one (the session keeps only a keyed mark of it,
	// so a leaked cookie tells nothing of the token). Nil: a session holds
	// until it expires.
	Still func(ctx context.Context, user string, signedInWith func(tokenHash string) bool) (bool, error)
	// SignedOut keeps the sessions signed out before they expire, so that
	// a copy of the cookie is no use either. Nil: signing out only drops
	// the browser's cookie.
	SignedOut SignedOut
	// Dead counts the deliveries given up on (baton dead), which the page
	// warns of. Nil: not shown.
	Dead func(ctx context.Context) (int64, error)
}

// SignedOut keeps values until they expire (the store's shared values).
type SignedOut interface {
	GetValue(ctx context.Context, ns, key string) (string, bool, error)
	SetValue(ctx context.Context, ns, key, value string, ttl time.Duration) error
}

// signedOutNS is the namespace of signed-out sessions in SignedOut.
const signedOutNS = "dashboard-signed-out"

// Dashboard is the operations dashboard at /dashboard: requests by status,
// the overdue ones, where each open request stands and who owns its
// current step, and cycle time per step. Server-rendered, no script.
type Dashboard struct {
	svc  DashboardService
	cfg  DashboardConfig
	log  *slog.Logger
	tmpl *template.Template
	csrf *http.CrossOriginProtection
}

// NewDashboard builds the dashboard. It does no I/O.
func NewDashboard(svc DashboardService, cfg DashboardConfig, log *slog.Logger) *Dashboard {
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	return &Dashboard{svc: svc, cfg: cfg, log: log, tmpl: pageTemplates("/dashboard/static/"), csrf: http.NewCrossOriginProtection()}
}

const sessionCookie = "baton_dashboard"

// Handler serves the dashboard. Mount it at "/dashboard" and "/dashboard/".
func (d *Dashboard) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /dashboard/static/{name}", static)
	mux.HandleFunc("GET /dashboard", d.page)
	mux.HandleFunc("GET /dashboard/{$}", d.page)
	mux.HandleFunc("POST /dashboard/login", d.login)
	mux.HandleFunc("POST /dashboard/logout", d.logout)
	d.csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "The dashboard refuses forms posted from another site (cross-origin request).", http.StatusForbidden)
	}))
	protected := d.csrf.Handler(mux)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
		protected.ServeHTTP(w, r)
	})
}

// local reports whether the request may see the dashboard without sign-in.
func (d *Dashboard) local(r *http.Request) bool {
	return d.cfg.Local && fromThisMachine(r) && localHost(r.Host)
}

type dashData struct {
	flows.Overview
	User   string
	Local  bool
	Error  string
	CanIn  bool // sign-in is configured
	Totals map[string]int
	Dead   int64 // deliveries given up on
}

func (d *Dashboard) page(w http.ResponseWriter, r *http.Request) {
	sess, ok := d.session(r)
	user := sess.user
	local := d.local(r)
	if !ok && !local {
		d.loginPage(w, http.StatusOK, "")
		return
	}
	o, err := d.svc.Overview(r.Context())
	if err != nil {
		d.log.Error("dashboard", "err", err)
		http.Error(w, "The dashboard could not read the requests; the error was logged.", http.StatusInternalServerError)
		return
	}
	data := dashData{Overview: o, User: user, Local: local && !ok}
	if d.cfg.Dead != nil {
		if data.Dead, err = d.cfg.Dead(r.Context()); err != nil { // the rest of the page still holds
			d.log.Error("dashboard: count the dead letters", "err", err)
		}
	}
	renderPage(w, d.log, d.tmpl, http.StatusOK, "dashboard", data)
}

func (d *Dashboard) loginPage(w http.ResponseWriter, code int, msg string) {
	renderPage(w, d.log, d.tmpl, code, "login", dashData{Error: msg, CanIn: d.cfg.Authenticate != nil})
}

func (d *Dashboard) login(w http.ResponseWriter, r *http.Request) {
	user := strings.TrimSpace(r.PostFormValue("user"))
	token := strings.TrimSpace(r.PostFormValue("token"))
	if d.cfg.Authenticate == nil {
		d.loginPage(w, http.StatusServiceUnavailable, "Sign-in is not configured: set BATON_DASHBOARD_TOKEN (or create an admin API token) and list admins in BATON_ADMINS.")
		return
	}
	if user == "" || token == "" {
		d.loginPage(w, http.StatusUnauthorized, "Give your person id and your admin token.")
		return
	}
	ok, err := d.cfg.Authenticate(r.Context(), user, token)
	if err != nil {
		d.log.Error("dashboard sign-in", "user", loggableUser(user), "err", err)
		d.loginPage(w, http.StatusServiceUnavailable, "Sign-in could not be checked just now; the error was logged. Try again.")
		return
	}
	if !ok {
		d.log.Warn("dashboard sign-in refused", "user", loggableUser(user))
		d.loginPage(w, http.StatusUnauthorized, "That person is not an admin, or the token is wrong.")
		return
	}
	exp := d.svc.Now().Add(d.cfg.SessionTTL)
	sum := sha256.Sum256([]byte(token))
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	sess := session{user: user, exp: exp, tokenMark: d.tokenMark(hex.EncodeToString(sum[:])), id: hex.EncodeToString(id)}
	// Max-Age, not Expires: the browser counts it from when it gets the
	// cookie, whatever its clock says (the session's own expiry, signed in
	// the value, is checked here on our clock).
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: d.sign(sess), Path: "/dashboard", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: secure(r), MaxAge: int(d.cfg.SessionTTL / time.Second)})
	http.Redirect(w, r, "/dashboard", http.StatusSeeOther)
}

// loggableUser is the typed-in person id as the log may show it: not when
// it may be a token typed into the wrong field (an API token, or one as
// long as BATON_DASHBOARD_TOKEN must be).
func loggableUser(user string) string {
	if len(user) >= 32 || strings.HasPrefix(user, "baton_") {
		return "(withheld: it may be a token)"
	}
	return user
}

func (d *Dashboard) logout(w http.ResponseWriter, r *http.Request) {
	// Any genuine, unexpired session is recorded as signed out, whether or
	// not it would be let in now (Redis unreadable, its token revoked for a
	// while): a kept copy must not work once it would be again.
	if sess, ok := d.parse(r); ok && d.cfg.SignedOut != nil {
		if err := d.cfg.SignedOut.SetValue(r.Context(), signedOutNS, sess.id, "1", sess.exp.Sub(d.svc.Now())); err != nil {
			d.log.Error("dashboard sign-out", "user", sess.user, "err", err)
			http.Error(w, "Signing out could not be recorded just now; the error was logged. Try again.", http.StatusServiceUnavailable)
			return
		}
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/dashboard", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: secure(r), MaxAge: -1})
	http.Redirect(w, r, "/dashboard", http.StatusSeeOther)
}

// secure reports whether the browser reached us over TLS (directly or
// through a proxy that says so): then the cookie is Secure.
func secure(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// session is a sign-in: who, until when, with which token (a keyed mark of
// its hash, for Still), and its own id (for SignedOut).
type session struct {
	user      string
	exp       time.Time
	tokenMark string
	id        string
}

// sign makes a session's cookie value: its fields, signed.
func (d *Dashboard) sign(s session) string {
	p := strings.Join([]string{base64.RawURLEncoding.EncodeToString([]byte(s.user)), strconv.FormatInt(s.exp.Unix(), 10), s.tokenMark, s.id}, ".")
	return p + "." + base64.RawURLEncoding.EncodeToString(d.mac(p))
}

// tokenMark is what a session keeps of the token it was signed in with.
func (d *Dashboard) tokenMark(tokenHash string) string {
	m := hmac.New(sha256.New, d.cfg.SessionKey)
	m.Write([]byte("baton-dashboard-token."))
	m.Write([]byte(tokenHash))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

func (d *Dashboard) mac(p string) []byte {
	m := hmac.New(sha256.New, d.cfg.SessionKey)
	m.Write([]byte("baton-dashboard-session-v3."))
	m.Write([]byte(p))
	return m.Sum(nil)
}

// session returns the signed-in session, if the cookie is genuine and
// fresh (parse), was not signed out, and its sign-in still holds.
func (d *Dashboard) session(r *http.Request) (session, bool) {
	s, ok := d.parse(r)
	if !ok {
		return session{}, false
	}
	if d.cfg.SignedOut != nil {
		_, out, err := d.cfg.SignedOut.GetValue(r.Context(), signedOutNS, s.id)
		if err != nil {
			d.log.Error("dashboard session", "user", s.user, "err", err)
		}
		if out || err != nil {
			return session{}, false
		}
	}
	if d.cfg.Still != nil {
		still, err := d.cfg.Still(r.Context(), s.user, func(tokenHash string) bool {
			return hmac.Equal([]byte(d.tokenMark(tokenHash)), []byte(s.tokenMark))
		})
		if err != nil {
			d.log.Error("dashboard session", "user", s.user, "err", err)
		}
		if !still || err != nil {
			return session{}, false
		}
	}
	return s, true
}

// parse reads the session cookie: signed by us and not expired.
func (d *Dashboard) parse(r *http.Request) (session, bool) {
	ck, err := r.Cookie(sessionCookie)
	if err != nil || len(d.cfg.SessionKey) == 0 {
		return session{}, false
	}
	i := strings.LastIndexByte(ck.Value, '.')
	if i < 0 {
		return session{}, false
	}
	p, sig := ck.Value[:i], ck.Value[i+1:]
	got, err := base64.RawURLEncoding.Strict().DecodeString(sig)
	if err != nil || !hmac.Equal(got, d.mac(p)) {
		return session{}, false
	}
	f := strings.Split(p, ".")
	if len(f) != 4 {
		return session{}, false
	}
	exp, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil || !d.svc.Now().Before(time.Unix(exp, 0)) {
		return session{}, false
	}
	user, err := base64.RawURLEncoding.DecodeString(f[0])
	if err != nil {
		return session{}, false
	}
	return session{user: string(user), exp: time.Unix(exp, 0), tokenMark: f[2], id: f[3]}, true
}
