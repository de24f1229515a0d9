package web_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/batonbot/baton/adapters/web"
	"github.com/batonbot/baton/bot"
	"github.com/batonbot/baton/bot/bottest"
	"github.com/batonbot/baton/flows"
	"github.com/batonbot/baton/manifests"
)

// consoleRig is the console over the test runtime, called directly (so a
// test sets the client address and the headers a browser would send).
type consoleRig struct {
	t   *testing.T
	rig *bottest.Rig
	c   *web.Console
	h   http.Handler
}

func newConsoleRig(t *testing.T, cfg web.Config) *consoleRig {
	t.Helper()
	rig := bottest.New(t)
	c := web.New(rig.Svc, cfg, rig.Log)
	rig.Use(c.Messenger())
	t.Cleanup(c.Close)
	return &consoleRig{t: t, rig: rig, c: c, h: c.Handler()}
}

// request is one HTTP request to the console, from this machine unless
// remote is set. body, when set, is sent as a form as it is (form is then
// ignored).
type request struct {
	method, path string
	form         url.Values
	body         string
	remote       string
	header       map[string]string
}

func (cr *consoleRig) do(q request) *httptest.ResponseRecorder {
	cr.t.Helper()
	var body *strings.Reader
	switch {
	case q.body != "":
		body = strings.NewReader(q.body)
	case q.form != nil:
		body = strings.NewReader(q.form.Encode())
	default:
		body = strings.NewReader("")
	}
	r := httptest.NewRequest(q.method, "http://127.0.0.1:8080"+q.path, body)
	r.RemoteAddr = "127.0.0.1:50000"
	if q.remote != "" {
		r.RemoteAddr = q.remote
	}
	if q.form != nil || q.body != "" {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range q.header {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	cr.h.ServeHTTP(w, r)
	return w
}

// startPR1 starts a purchase as Alice, delivers its cards, and returns it.
func (cr *consoleRig) startPR1() *flows.Instance {
	cr.t.Helper()
	w := cr.do(request{method: "POST", path: "/console/start/purchase", form: url.Values{"as": {"alice"}, "item": {"Laptop"},
		"amount": {"2500"}, "justification": {"My old one broke down"}}, header: map[string]string{"Sec-Fetch-Site": "same-origin"}})
	if w.Code != http.StatusSeeOther {
		cr.t.Fatalf("start: %d %s", w.Code, w.Body)
	}
	cr.rig.Drain()
	return cr.instance("PR-1")
}

func (cr *consoleRig) instance(id string) *flows.Instance {
	cr.t.Helper()
	in, err := cr.rig.Svc.Instance(cr.t.Context(), id)
	if err != nil {
		cr.t.Fatalf("instance %s: %v", id, err)
	}
	return in
}

// unchanged fails unless the instance is as it was and nothing waits to be delivered.
func (cr *consoleRig) unchanged(before *flows.Instance) {
	cr.t.Helper()
	after := cr.instance(before.ID)
	if after.Version != before.Version || after.AuditSeq != before.AuditSeq || after.Status != before.Status {
		cr.t.Errorf("%s changed: version %d→%d, audit %d→%d, status %s→%s", before.ID, before.Version, after.Version,
			before.AuditSeq, after.AuditSeq, before.Status, after.Status)
	}
	if n := cr.rig.Drain(); n != 0 {
		cr.t.Errorf("%d messages were sent", n)
	}
}

func TestConsoleServesOnlyThisMachine(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		open   bool
		remote string
		host   string
		// proxied names a header a proxy adds, set on the request
		proxied string
		want    int
	}{
		{name: "loopback v4", remote: "127.0.0.1:5000", want: 200},
		{name: "loopback v6", remote: "[::1]:5000", want: 200},
		{name: "localhost name", remote: "127.0.0.1:5000", host: "localhost:8080", want: 200},
		{name: "ipv6 host", remote: "[::1]:5000", host: "[::1]:8080", want: 200},
		{name: "any address host", remote: "127.0.0.1:5000", host: "0.0.0.0:8080", want: 200},
		{name: "other machine", remote: "192.0.2.10:5000", want: 403},
		{name: "private network", remote: "10.1.2.3:5000", want: 403},
		{name: "no address", remote: "garbage", want: 403},
		{name: "rebound name", remote: "127.0.0.1:5000", host: "evil.example:8080", want: 403},
		{name: "open: other machine, public name", open: true, remote: "192.0.2.10:5000", host: "baton.example:8080", want: 200},
		{name: "open: other machine, by address", open: true, remote: "192.0.2.10:5000", host: "192.0.2.1:8080", want: 200},
		// Open is no excuse for answering as another site's name: a page
		// of that site could drive the console (DNS rebinding).
		{name: "open: rebound name", open: true, remote: "127.0.0.1:5000", host: "attacker.test:8080", want: 403},
		// Passed on by a proxy on this machine: anyone's request.
		{name: "through a proxy", remote: "127.0.0.1:5000", host: "localhost:8080", proxied: "X-Forwarded-For", want: 403},
		{name: "through a proxy (Forwarded)", remote: "127.0.0.1:5000", host: "localhost:8080", proxied: "Forwarded", want: 403},
		{name: "through a proxy (Via)", remote: "127.0.0.1:5000", proxied: "Via", want: 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cr := newConsoleRig(t, web.Config{Open: tc.open, PublicHost: "Baton.example"})
			// The outbox mail view holds live approval links: guarded alike.
			cr.c.ShowMail(func() []web.Mail {
				return []web.Mail{{To: "sales@acme.example", Subject: "Approve", Text: "Open /x/secret", Link: "/x/secret"}}
			})
			for _, path := range []string{"/?as=alice", "/console/inbox?as=alice", "/console/mail"} {
				r := httptest.NewRequest("GET", "http://127.0.0.1:8080"+path, nil)
				r.RemoteAddr = tc.remote
				if tc.host != "" {
					r.Host = tc.host
				}
				if tc.proxied != "" {
					r.Header.Set(tc.proxied, "203.0.113.7")
				}
				w := httptest.NewRecorder()
				cr.h.ServeHTTP(w, r)
				if w.Code != tc.want {
					t.Errorf("GET %s from %s (Host %s): %d, want %d: %s", path, tc.remote, r.Host, w.Code, tc.want, w.Body)
				}
				if tc.want == 403 && !strings.Contains(w.Body.String(), "BATON_CONSOLE=open") {
					t.Errorf("the refusal does not say how to open the console: %s", w.Body)
				}
			}
		})
	}

	// A refused post from another machine changes nothing.
	cr := newConsoleRig(t, web.Config{})
	w := cr.do(request{method: "POST", path: "/console/start/purchase", remote: "192.0.2.10:5000",
		form: url.Values{"as": {"alice"}, "item": {"Laptop"}, "amount": {"2500"}, "justification": {"My old one broke down"}}})
	if w.Code != 403 {
		t.Fatalf("post from another machine: %d", w.Code)
	}
	if _, err := cr.rig.Svc.Instance(t.Context(), "PR-1"); !errors.Is(err, flows.ErrNotFound) {
		t.Fatalf("a refused post started a request: %v", err)
	}
}

func TestConsoleRefusesCrossSitePosts(t *testing.T) {
	t.Parallel()
	cr := newConsoleRig(t, web.Config{})
	form := url.Values{"as": {"alice"}, "item": {"Laptop"}, "amount": {"2500"}, "justification": {"My old one broke down"}}
	for _, h := range []map[string]string{
		{"Sec-Fetch-Site": "cross-site"},
		{"Sec-Fetch-Site": "same-site"}, // another port or subdomain is another origin
		{"Origin": "https://evil.example"},
	} {
		w := cr.do(request{method: "POST", path: "/console/start/purchase", form: form, header: h})
		if w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), "another site") {
			t.Errorf("POST with %v: %d %s, want 403", h, w.Code, w.Body)
		}
	}
	if _, err := cr.rig.Svc.Instance(t.Context(), "PR-1"); !errors.Is(err, flows.ErrNotFound) {
		t.Fatalf("a cross-site post started a request: %v", err)
	}
	// Reading is not a change: a link from elsewhere opens the page.
	if w := cr.do(request{method: "GET", path: "/?as=alice", header: map[string]string{"Sec-Fetch-Site": "cross-site"}}); w.Code != 200 {
		t.Errorf("GET from a link on another site: %d", w.Code)
	}
	// The same post from the console's own page, or from a non-browser client, works.
	in := cr.startPR1()
	w := cr.do(request{method: "POST", path: "/console/act", header: map[string]string{"Origin": "http://127.0.0.1:8080"},
		form: url.Values{"as": {"bob"}, "action": {"approve"}, "instance": {in.ID}, "step": {"manager"}, "round": {"1"}}})
	if w.Code != http.StatusSeeOther {
		t.Fatalf("same-origin approve: %d %s", w.Code, w.Body)
	}
}

func TestConsoleRefusesUnknownPeople(t *testing.T) {
	t.Parallel()
	cr := newConsoleRig(t, web.Config{})
	in := cr.startPR1()
	for _, q := range []request{
		{method: "GET", path: "/?as=mallory"},
		{method: "GET", path: "/console/inbox?as=mallory"},
		{method: "GET", path: "/console/events?as=mallory"},
		{method: "POST", path: "/console/act", form: url.Values{"as": {"mallory"}, "action": {"approve"}, "instance": {in.ID}, "step": {"manager"}, "round": {"1"}}},
		{method: "POST", path: "/console/command", form: url.Values{"as": {"mallory"}, "text": {"cancel PR-1"}}},
	} {
		w := cr.do(q)
		if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "not in the people directory") {
			t.Errorf("%s %s: %d %s, want 400", q.method, q.path, w.Code, w.Body)
		}
		if c := w.Result().Cookies(); len(c) > 0 {
			t.Errorf("%s %s set a cookie for an unknown person: %v", q.method, q.path, c)
		}
	}
	cr.unchanged(in)

	// A known person is remembered in a cookie.
	w := cr.do(request{method: "GET", path: "/?as=bob"})
	var remembered string
	for _, c := range w.Result().Cookies() {
		if c.Name == "baton_as" {
			remembered = c.Value
		}
	}
	if w.Code != 200 || remembered != "bob" {
		t.Fatalf("GET /?as=bob: %d, cookie %q", w.Code, remembered)
	}
	r := httptest.NewRequest("GET", "http://127.0.0.1:8080/", nil)
	r.RemoteAddr = "127.0.0.1:5000"
	r.AddCookie(&http.Cookie{Name: "baton_as", Value: "bob"})
	w = httptest.NewRecorder()
	cr.h.ServeHTTP(w, r)
	if !strings.Contains(w.Body.String(), `data-as="bob"`) {
		t.Fatalf("the cookie was not used: %s", w.Body)
	}
	// A cookie naming someone the directory no longer has is ignored.
	r = httptest.NewRequest("GET", "http://127.0.0.1:8080/", nil)
	r.RemoteAddr = "127.0.0.1:5000"
	r.AddCookie(&http.Cookie{Name: "baton_as", Value: "mallory"})
	w = httptest.NewRecorder()
	cr.h.ServeHTTP(w, r)
	if w.Code != 200 || !strings.Contains(w.Body.String(), `data-as="alice"`) {
		t.Fatalf("a stale cookie: %d, want the first person's page", w.Code)
	}
}

// TestConsoleRefusesBadRequests: a bad action, an unknown request or a
// request that is not yours gets a clear 4xx (as a page, or as JSON when
// asked for) and changes nothing.
func TestConsoleRefusesBadRequests(t *testing.T) {
	t.Parallel()
	cr := newConsoleRig(t, web.Config{})
	in := cr.startPR1()
	act := func(kv ...string) url.Values {
		f := url.Values{"as": {"bob"}, "action": {"approve"}, "instance": {"PR-1"}, "step": {"manager"}, "round": {"1"}}
		for i := 0; i+1 < len(kv); i += 2 {
			f.Set(kv[i], kv[i+1])
		}
		return f
	}
	for _, tc := range []struct {
		name string
		q    request
		code int
		says string
	}{
		{"unknown action", request{method: "POST", path: "/console/act", form: act("action", "explode")}, 400, `Unknown action "explode"`},
		{"no action", request{method: "POST", path: "/console/act", form: act("action", "")}, 400, "Unknown action"},
		{"no instance", request{method: "POST", path: "/console/act", form: act("instance", "")}, 400, "Say which request"},
		{"bad round", request{method: "POST", path: "/console/act", form: act("round", "two")}, 400, `round "two"`},
		{"unknown instance", request{method: "POST", path: "/console/act", form: act("instance", "PR-99")}, 404, "no such request"},
		{"unknown status", request{method: "GET", path: "/console/status/PR-99?as=alice"}, 404, "no such request"},
		{"not your request's status", request{method: "GET", path: "/console/status/PR-1?as=gus"}, 200, "not one of your requests"},
		{"unknown flow", request{method: "GET", path: "/console/start/purchse?as=alice"}, 404, `Did you mean "purchase"?`},
		{"resubmit someone else's", request{method: "GET", path: "/console/resubmit/PR-1?as=bob"}, 403, "Only Alice Martin"},
		{"resubmit unknown", request{method: "GET", path: "/console/resubmit/PR-99?as=alice"}, 404, "no such request"},
		{"post resubmit someone else's", request{method: "POST", path: "/console/resubmit/PR-1", form: url.Values{"as": {"bob"}, "item": {"Car"}}}, 403, "Only Alice Martin"},
		{"static file not there", request{method: "GET", path: "/console/static/secrets.txt"}, 404, ""},
		{"unknown page", request{method: "GET", path: "/admin"}, 404, ""},
		{"wrong method", request{method: "GET", path: "/console/act?as=bob"}, 405, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := cr.do(tc.q)
			if tc.code == 200 { // a refusal shown on the person's page
				if w.Code != http.StatusSeeOther {
					t.Fatalf("%d %s, want a redirect to the page with a note", w.Code, w.Body)
				}
				page := cr.do(request{method: "GET", path: w.Header().Get("Location")})
				if !strings.Contains(html.UnescapeString(page.Body.String()), tc.says) {
					t.Fatalf("the page lacks %q:\n%s", tc.says, page.Body)
				}
				return
			}
			if w.Code != tc.code || !strings.Contains(html.UnescapeString(w.Body.String()), tc.says) {
				t.Fatalf("%d, want %d saying %q:\n%s", w.Code, tc.code, tc.says, w.Body)
			}
			if ct := w.Header().Get("Content-Type"); tc.says != "" && strings.HasPrefix(ct, "text/html") &&
				!strings.Contains(w.Header().Get("Content-Security-Policy"), "script-src 'self'") {
				t.Errorf("an HTML answer without the content security policy")
			}
			// The same request asking for JSON gets a JSON error.
			if tc.q.method == "POST" {
				q := tc.q
				q.header = map[string]string{"Accept": "application/json"}
				w := cr.do(q)
				var out struct {
					OK    bool   `json:"ok"`
					Error string `json:"error"`
				}
				if err := json.NewDecoder(w.Body).Decode(&out); err != nil || w.Code != tc.code || out.OK || !strings.Contains(out.Error, tc.says) {
					t.Fatalf("as JSON: %d %+v (%v)", w.Code, out, err)
				}
			}
		})
	}
	cr.unchanged(in)

	// A stale "Edit and resubmit" (the request is no longer sent back) leads
	// to a note, not a form that would be refused.
	w := cr.do(request{method: "GET", path: "/console/resubmit/pr-1?as=alice"})
	if w.Code != http.StatusSeeOther {
		t.Fatalf("stale resubmit: %d %s", w.Code, w.Body)
	}
	page := cr.do(request{method: "GET", path: w.Header().Get("Location")})
	if !strings.Contains(html.UnescapeString(page.Body.String()), "PR-1 is running; only a request sent back to you can be resubmitted.") {
		t.Fatalf("no note about the stale resubmit:\n%s", page.Body)
	}
	cr.unchanged(in)
}

// TestConsoleFormErrors: a refused start form comes back as a page (422)
// with every field's problem and what was typed; the same as JSON lists the
// fields.
func TestConsoleFormErrors(t *testing.T) {
	t.Parallel()
	cr := newConsoleRig(t, web.Config{})
	form := url.Values{"as": {"alice"}, "item": {"Laptop <b>"}, "amount": {"-5"}}
	w := cr.do(request{method: "POST", path: "/console/start/purchase", form: form})
	body := w.Body.String()
	if w.Code != http.StatusUnprocessableEntity || w.Header().Get("Content-Type") != "text/html; charset=utf-8" ||
		w.Header().Get("Content-Security-Policy") == "" {
		t.Fatalf("refused form: %d %v", w.Code, w.Header())
	}
	for _, want := range []string{"Total amount must be at least 1", `value="Laptop &lt;b&gt;"`, `id="form-error"`, `aria-invalid="true"`} {
		if !strings.Contains(body, want) {
			t.Errorf("the refused form lacks %q", want)
		}
	}
	w = cr.do(request{method: "POST", path: "/console/start/purchase", form: form, header: map[string]string{"Accept": "application/json"}})
	var out struct {
		Fields map[string]string `json:"fields"`
	}
	if err := json.NewDecoder(w.Body).Decode(&out); err != nil || w.Code != 422 || out.Fields["amount"] == "" || out.Fields["justification"] == "" {
		t.Fatalf("as JSON: %d %+v %v", w.Code, out, err)
	}
	if _, err := cr.rig.Svc.Instance(t.Context(), "PR-1"); !errors.Is(err, flows.ErrNotFound) {
		t.Fatalf("a refused form started a request: %v", err)
	}
}

// TestConsoleRendersWhileCardsChange: a card updated (buttons removed,
// outcome shown) while someone's page renders it is no data race (run
// with -race).
func TestConsoleRendersWhileCardsChange(t *testing.T) {
	t.Parallel()
	rig := bottest.New(t)
	c := web.New(rig.Svc, web.Config{}, rig.Log)
	t.Cleanup(c.Close)
	m := c.Messenger()
	msg := func(outcome string) *flows.Message {
		return &flows.Message{Kind: flows.MsgTask, Instance: "PR-1", Title: "Purchase request PR-1", Outcome: outcome}
	}
	ref, err := m.Send(t.Context(), bot.Address{Person: "bob", ID: "bob"}, msg(""), "")
	if err != nil {
		t.Fatal(err)
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := m.Update(t.Context(), ref, msg(fmt.Sprintf("Approved (%d)", i))); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	h := c.Handler()
	for range 50 {
		r := httptest.NewRequest("GET", "http://127.0.0.1:8080/console/inbox?as=bob", nil)
		r.RemoteAddr = "127.0.0.1:5000"
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 200 || !strings.Contains(w.Body.String(), "Purchase request PR-1") {
			t.Fatalf("inbox: %d %s", w.Code, w.Body)
		}
	}
	close(stop)
	<-done
}

// TestConsoleUpdateOfAGoneCard: an update of a card the console no longer
// has (sent before it restarted) is done, not a failed delivery: given up
// on, it would raise the dead-letter alarm for an ordinary restart. A card
// it has is updated.
func TestConsoleUpdateOfAGoneCard(t *testing.T) {
	t.Parallel()
	rig := bottest.New(t)
	before := web.New(rig.Svc, web.Config{}, rig.Log)
	msg := &flows.Message{Kind: flows.MsgTask, Instance: "PR-1", Title: "Purchase request PR-1"}
	ref, err := before.Messenger().Send(t.Context(), bot.Address{Person: "bob", ID: "bob"}, msg, "")
	if err != nil {
		t.Fatal(err)
	}
	before.Close()
	after := web.New(rig.Svc, web.Config{}, rig.Log) // the console restarted
	t.Cleanup(after.Close)
	if err := after.Messenger().Update(t.Context(), ref, &flows.Message{Kind: flows.MsgTask, Instance: "PR-1", Outcome: "Approved"}); err != nil {
		t.Errorf("update of a card sent before the restart: %v", err)
	}
}

// TestConsoleRefusesOversizedForms: a form over the size limit is answered
// 413 saying the limit, and one that does not parse 400, as a page or as
// JSON; neither reaches a handler with its values lost (acting as the
// cookie's person, or on no action), and nothing changes.
func TestConsoleRefusesOversizedForms(t *testing.T) {
	t.Parallel()
	cr := newConsoleRig(t, web.Config{})
	in := cr.startPR1()
	big := strings.Repeat("x", 70<<10)
	cookie := map[string]string{"Cookie": "baton_as=alice"}
	var multi strings.Builder
	mw := multipart.NewWriter(&multi)
	for k, v := range map[string]string{"as": "bob", "action": "reject", "instance": "PR-1", "step": "manager", "round": "1", "reason": big} {
		if err := mw.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	mw.Close()
	for _, tc := range []struct {
		name string
		q    request
		code int
		says string
	}{
		{"command", request{method: "POST", path: "/console/command", form: url.Values{"text": {"cancel PR-1 " + big}}, header: cookie}, 413,
			"Request too large: at most 64 KB"},
		{"act", request{method: "POST", path: "/console/act", form: url.Values{"as": {"bob"}, "action": {"reject"}, "instance": {"PR-1"},
			"step": {"manager"}, "round": {"1"}, "reason": {big}}}, 413, "Request too large: at most 64 KB"},
		{"start", request{method: "POST", path: "/console/start/purchase", form: url.Values{"as": {"alice"}, "item": {"Laptop"},
			"amount": {"2500"}, "justification": {big}}}, 413, "Request too large: at most 64 KB"},
		{"act multipart", request{method: "POST", path: "/console/act", body: multi.String(), header: map[string]string{"Content-Type": mw.FormDataContentType()}}, 413,
			"Request too large: at most 64 KB"},
		{"command not a form", request{method: "POST", path: "/console/command", body: "text=cancel%zzPR-1", header: cookie}, 400,
			"The form could not be read"},
		{"act not a form", request{method: "POST", path: "/console/act", body: "as=bob&action=approve&instance=PR-1&step=manager&round=1&reason=%zz"}, 400,
			"The form could not be read"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := cr.do(tc.q)
			if w.Code != tc.code || !strings.Contains(html.UnescapeString(w.Body.String()), tc.says) ||
				!strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") || w.Header().Get("Content-Security-Policy") == "" {
				t.Errorf("%d %v, want a %d page saying %q:\n%.2000s", w.Code, w.Header(), tc.code, tc.says, w.Body)
			}
			q := tc.q
			q.header = map[string]string{"Accept": "application/json", "Cookie": "baton_as=alice"}
			if ct := tc.q.header["Content-Type"]; ct != "" {
				q.header["Content-Type"] = ct
			}
			w = cr.do(q)
			var out struct {
				OK    *bool  `json:"ok"`
				Error string `json:"error"`
			}
			if err := json.NewDecoder(w.Body).Decode(&out); err != nil || w.Code != tc.code || out.OK == nil || *out.OK || !strings.Contains(out.Error, tc.says) {
				t.Errorf("as JSON: %d %+v (%v), want %d saying %q", w.Code, out, err, tc.code, tc.says)
			}
		})
	}
	cr.unchanged(in)
	if _, err := cr.rig.Svc.Instance(t.Context(), "PR-2"); !errors.Is(err, flows.ErrNotFound) {
		t.Fatalf("an oversized form started a request: %v", err)
	}
}

// post sends a form asking for a JSON answer and decodes it.
func (cr *consoleRig) post(path string, form url.Values) (int, map[string]any) {
	cr.t.Helper()
	w := cr.do(request{method: "POST", path: path, form: form, header: map[string]string{"Accept": "application/json"}})
	var out map[string]any
	if err := json.NewDecoder(w.Body).Decode(&out); err != nil {
		cr.t.Fatalf("POST %s: %d, undecodable answer: %v", path, w.Code, err)
	}
	return w.Code, out
}

// note returns the opening tag and the text of the note a redirect to the
// person's page shows.
func (cr *consoleRig) note(w *httptest.ResponseRecorder) (tag, text string) {
	cr.t.Helper()
	if w.Code != http.StatusSeeOther {
		cr.t.Fatalf("%d %s, want a redirect to the page with a note", w.Code, w.Body)
	}
	page := html.UnescapeString(cr.do(request{method: "GET", path: w.Header().Get("Location")}).Body.String())
	i := strings.Index(page, `id="note"`)
	if i < 0 {
		cr.t.Fatalf("the page has no note:\n%s", page)
	}
	text, _, _ = strings.Cut(page[i:], "</div>")
	return page[strings.LastIndex(page[:i], "<div "):i], text
}

// TestConsoleTypedRefusalsAreNotOK: a typed command refused (cancel by
// someone not allowed, or of no such request) answers ok false and shows
// as a warning, as the same refusal from a button does; information
// (help, tasks, requests, status) and a cancel that happens are ok.
func TestConsoleTypedRefusalsAreNotOK(t *testing.T) {
	t.Parallel()
	cr := newConsoleRig(t, web.Config{})
	in := cr.startPR1()
	command := func(as, text string) url.Values { return url.Values{"as": {as}, "text": {text}} }
	for _, tc := range []struct {
		as, text string
		ok       bool
		says     string
	}{
		{"carol", "cancel PR-1 not needed", false, "Only the flow owner (Olivia Brown) or an admin can cancel PR-1"},
		{"carol", "cancel PR-99", false, "There is no request PR-99."},
		{"alice", "help", true, "start"},
		{"bob", "tasks", true, "PR-1"},
		{"alice", "requests", true, "PR-1"},
		{"alice", "status PR-1", true, "Manager approval"},
		{"alice", "status PR-99", false, "There is no request PR-99."},
	} {
		code, out := cr.post("/console/command", command(tc.as, tc.text))
		got, _ := json.Marshal(out)
		if code != http.StatusOK || out["ok"] != tc.ok || !strings.Contains(string(got), tc.says) {
			t.Errorf("%s types %q: %d %s, want ok %v saying %q", tc.as, tc.text, code, got, tc.ok, tc.says)
		}
		tag, text := cr.note(cr.do(request{method: "POST", path: "/console/command", form: command(tc.as, tc.text)}))
		if warn := strings.Contains(tag, `class="note warn"`); warn == tc.ok || !strings.Contains(text, tc.says) {
			t.Errorf("%s types %q: the note is %s%s, want a warning %v saying %q", tc.as, tc.text, tag, text, !tc.ok, tc.says)
		}
	}
	// The timeline typed leads to the status page, where its actions are.
	w := cr.do(request{method: "POST", path: "/console/command", form: command("alice", "status PR-1")})
	page := html.UnescapeString(cr.do(request{method: "GET", path: w.Header().Get("Location")}).Body.String())
	note, _, _ := strings.Cut(page[strings.Index(page, `id="note"`):], `id="pending"`)
	if !strings.Contains(note, `href="/console/status/PR-1?as=alice" class="status-link">Open PR-1's status page`) {
		t.Errorf("the status answer does not lead to the status page: %s", note)
	}
	// The same refusal from a button.
	code, out := cr.post("/console/act", url.Values{"as": {"carol"}, "action": {"cancel"}, "instance": {"PR-1"}, "reason": {"not needed"}})
	if code != http.StatusOK || out["ok"] != false {
		t.Errorf("cancel button by carol: %d %v", code, out)
	}
	if got := cr.instance(in.ID); got.Status != flows.StatusRunning {
		t.Fatalf("refused cancels changed %s: %s", in.ID, got.Status)
	}

	// A cancel that happens, typed by the flow's owner.
	code, out = cr.post("/console/command", command("olivia", "cancel pr-1 budget frozen"))
	if code != http.StatusOK || out["ok"] != true {
		t.Fatalf("cancel by olivia: %d %v", code, out)
	}
	if got := cr.instance(in.ID); got.Status != flows.StatusCancelled {
		t.Fatalf("%s after olivia's cancel: %s", in.ID, got.Status)
	}
}

// TestConsoleKeysArePerPerson: the key a form is sent with makes sending
// it twice act once, for that person only: someone else sending the same
// key starts their own request (or decides for themselves), and is never
// answered with another's.
func TestConsoleKeysArePerPerson(t *testing.T) {
	t.Parallel()
	cr := newConsoleRig(t, web.Config{})
	start := func(as, item string) map[string]any {
		t.Helper()
		code, out := cr.post("/console/start/purchase", url.Values{"as": {as}, "key": {"form-1"}, "item": {item}, "amount": {"2500"},
			"justification": {"My old one broke down"}})
		if code != http.StatusOK || out["ok"] != true {
			t.Fatalf("%s starts with key form-1: %d %v", as, code, out)
		}
		cr.rig.Drain()
		return out
	}
	first := start("alice", "Laptop")
	if id := first["message"].(map[string]any)["instance"]; id != "PR-1" {
		t.Fatalf("alice's request: %v", first)
	}
	bobs := start("bob", "Monitor")
	if id := bobs["message"].(map[string]any)["instance"]; id != "PR-2" || !strings.Contains(bobs["text"].(string), "Started PR-2") {
		t.Fatalf("bob with alice's key: %v, want his own PR-2", bobs)
	}
	if in := cr.instance("PR-2"); in.Requester != "bob" || in.Data["item"] != "Monitor" {
		t.Fatalf("PR-2: requester %s, item %v", in.Requester, in.Data["item"])
	}
	pr1 := cr.instance("PR-1")
	again := start("alice", "Laptop")
	if again["text"] != first["text"] || again["message"].(map[string]any)["instance"] != "PR-1" {
		t.Fatalf("alice sending her form again: %v, want her first answer %v", again, first)
	}
	cr.unchanged(pr1)
	if _, err := cr.rig.Svc.Instance(t.Context(), "PR-3"); !errors.Is(err, flows.ErrNotFound) {
		t.Fatalf("alice's repeated form started another request: %v", err)
	}

	// A card's button: Carol's approval with the key of Bob's is hers.
	act := func(as, step string) map[string]any {
		t.Helper()
		code, out := cr.post("/console/act", url.Values{"as": {as}, "key": {"click-1"}, "action": {"approve"}, "instance": {"PR-1"},
			"step": {step}, "round": {"1"}})
		if code != http.StatusOK || out["ok"] != true {
			t.Fatalf("%s approves %s with key click-1: %d %v", as, step, code, out)
		}
		cr.rig.Drain()
		return out
	}
	bobFirst := act("bob", "manager")
	if in := cr.instance("PR-1"); in.Step != "finance" {
		t.Fatalf("after bob's approval PR-1 is at %s", in.Step)
	}
	pr1 = cr.instance("PR-1")
	if again := act("bob", "manager"); again["text"] != bobFirst["text"] {
		t.Fatalf("bob clicking again: %v, want his first answer %v", again, bobFirst)
	}
	cr.unchanged(pr1)
	act("carol", "finance")
	if in := cr.instance("PR-1"); in.Status != flows.StatusCompleted ||
		!slices.ContainsFunc(in.History, func(h flows.StepRecord) bool { return h.Step == "finance" && h.By == "carol" }) {
		t.Fatalf("carol's approval with bob's key: PR-1 %s at %s, history %+v", in.Status, in.Step, in.History)
	}
}

// An admin who moves a task of a step several people hold picks whose on
// the request's page; the task they pick moves, not the first.
func TestConsoleAdminPicksWhoseTask(t *testing.T) {
	t.Parallel()
	cr := newConsoleRig(t, web.Config{})
	in := cr.startPR1()
	same := map[string]string{"Sec-Fetch-Site": "same-origin"}
	act := func(form url.Values) *httptest.ResponseRecorder {
		t.Helper()
		form.Set("key", "k-"+form.Get("as")+"-"+form.Get("action")+"-"+form.Get("from"))
		w := cr.do(request{method: "POST", path: "/console/act", form: form, header: same})
		cr.rig.Drain()
		return w
	}
	act(url.Values{"as": {"bob"}, "action": {"approve"}, "instance": {"PR-1"}, "step": {in.Step}, "round": {"1"}})
	in = cr.instance("PR-1")
	if len(in.Tasks) < 2 {
		t.Fatalf("finance tasks %+v", in.Tasks)
	}
	page := cr.do(request{method: "GET", path: "/console/status/PR-1?as=olivia"}).Body.String()
	second := in.Tasks[1].Assignee
	if !strings.Contains(page, `<select name="from" required><option value="">Pick whose</option>`) || !strings.Contains(page, `<option value="`+second+`">`) {
		t.Fatalf("the page offers no choice of whose task:\n%s", page)
	}
	// Whom to: neither the requester (who may not approve her own request)
	// nor anyone already on the step is offered.
	_, to, _ := strings.Cut(page, "<label>Reassign to <select")
	to, _, _ = strings.Cut(to, "</select>")
	if !strings.Contains(to, `<option value="hana">`) {
		t.Fatalf("the reassign list lacks hana: %s", to)
	}
	for _, p := range []string{in.Requester, in.Tasks[0].Assignee, second} {
		if strings.Contains(to, `<option value="`+p+`">`) {
			t.Errorf("the reassign list offers %s: %s", p, to)
		}
	}
	// Someone on the step moves only their own: no choice offered.
	if page := cr.do(request{method: "GET", path: "/console/status/PR-1?as=" + in.Tasks[0].Assignee}).Body.String(); strings.Contains(page, `name="from"`) {
		t.Errorf("%s, on the step, is offered others' tasks", in.Tasks[0].Assignee)
	}
	act(url.Values{"as": {"olivia"}, "action": {"reassign"}, "instance": {"PR-1"}, "step": {in.Step}, "round": {"1"}, "from": {second}, "target": {"hana"}})
	after := cr.instance("PR-1")
	if after.Tasks[1].Assignee != "hana" || after.Tasks[1].Original != second || after.Tasks[0].Assignee != in.Tasks[0].Assignee {
		t.Fatalf("tasks after olivia moved %s's: %+v", second, after.Tasks)
	}

	// An admin on the step (the first task is now hers) picks whose too.
	first := in.Tasks[0].Assignee
	act(url.Values{"as": {"olivia"}, "action": {"reassign"}, "instance": {"PR-1"}, "step": {in.Step}, "round": {"1"}, "from": {first}, "target": {"olivia"}})
	page = cr.do(request{method: "GET", path: "/console/status/PR-1?as=olivia"}).Body.String()
	if !strings.Contains(page, `data-action="move-PR-1"`) || !strings.Contains(page, `<option value="olivia">Olivia Brown (yours)</option>`) {
		t.Fatalf("olivia, on the step, is offered no choice of whose task:\n%s", page)
	}
	act(url.Values{"as": {"olivia"}, "action": {"reassign"}, "instance": {"PR-1"}, "step": {in.Step}, "round": {"1"}, "from": {"hana"}, "target": {"gus"}})
	if after := cr.instance("PR-1"); after.Tasks[0].Assignee != "olivia" || after.Tasks[1].Assignee != "gus" {
		t.Fatalf("tasks after olivia, on the step, moved hana's: %+v", after.Tasks)
	}
}

// A request sent back offers its requester Edit and resubmit on its status
// page, as on the card that told them.
func TestConsoleStatusOffersResubmit(t *testing.T) {
	t.Parallel()
	cr := newConsoleRig(t, web.Config{})
	in := cr.startPR1()
	w := cr.do(request{method: "POST", path: "/console/act", header: map[string]string{"Sec-Fetch-Site": "same-origin"},
		form: url.Values{"as": {"bob"}, "action": {"changes"}, "instance": {"PR-1"}, "step": {in.Step}, "round": {"1"}, "reason": {"which vendor?"}, "key": {"k1"}}})
	if w.Code != http.StatusSeeOther {
		t.Fatalf("request changes: %d %s", w.Code, w.Body)
	}
	cr.rig.Drain()
	page := cr.do(request{method: "GET", path: "/console/status/PR-1?as=alice"}).Body.String()
	if !strings.Contains(page, "Edit and resubmit") {
		t.Fatalf("alice's status page offers no Edit and resubmit:\n%s", page)
	}
}

// A person field naming the request's approver does not offer the
// requester, who may not approve their own request; others are offered.
func TestConsoleStartFormLeavesOutTheRequesterAsApprover(t *testing.T) {
	t.Parallel()
	cr := newConsoleRig(t, web.Config{})
	page := cr.do(request{method: "GET", path: "/console/start/content?as=alice"}).Body.String()
	_, editor, ok := strings.Cut(page, `<select id="f-editor"`)
	editor, _, _ = strings.Cut(editor, "</select>")
	if !ok || !strings.Contains(editor, `<option value="bob">`) || strings.Contains(editor, `<option value="alice">`) {
		t.Fatalf("alice's editor choices: %s", editor)
	}
	page = cr.do(request{method: "GET", path: "/console/start/content?as=bob"}).Body.String()
	if _, editor, _ = strings.Cut(page, `<select id="f-editor"`); !strings.Contains(editor, `<option value="alice">`) {
		t.Fatalf("bob is not offered alice as editor: %s", editor)
	}
}

// A task card's Reassign offers whom the engine would take: not the
// requester, nor the card's reader, nor anyone else already on the step.
func TestConsoleCardReassignOffersTakers(t *testing.T) {
	t.Parallel()
	cr := newConsoleRig(t, web.Config{})
	in := cr.startPR1()
	w := cr.do(request{method: "POST", path: "/console/act", header: map[string]string{"Sec-Fetch-Site": "same-origin"},
		form: url.Values{"as": {"bob"}, "action": {"approve"}, "instance": {"PR-1"}, "step": {in.Step}, "round": {"1"}, "key": {"k1"}}})
	if w.Code != http.StatusSeeOther {
		t.Fatalf("approve: %d %s", w.Code, w.Body)
	}
	cr.rig.Drain()
	in = cr.instance("PR-1")
	if len(in.Tasks) < 2 {
		t.Fatalf("finance tasks %+v", in.Tasks)
	}
	reader, other := in.Tasks[0].Assignee, in.Tasks[1].Assignee
	page := cr.do(request{method: "GET", path: "/console/inbox?as=" + reader}).Body.String()
	_, to, ok := strings.Cut(page, `value="reassign">`)
	to, _, _ = strings.Cut(to, "</select>")
	if !ok || !strings.Contains(to, `<option value="hana">`) {
		t.Fatalf("%s's card offers no reassignment to hana: %s", reader, to)
	}
	for _, p := range []string{"alice", reader, other} {
		if strings.Contains(to, `<option value="`+p+`">`) {
			t.Errorf("%s's card offers %s: %s", reader, p, to)
		}
	}
}

// A task card's date output is offered within its bounds, from the today
// of whoever views the card (who marks it done): Erin, in Seoul, is a day
// ahead of London.
func TestTaskOutputDateBoundsFromTheViewersToday(t *testing.T) {
	t.Parallel()
	defs, err := flows.LoadDefinitions(manifests.Flows, "flows")
	if err != nil {
		t.Fatal(err)
	}
	ship, err := flows.ParseDefinition("ship.yaml", []byte(`
id: ship
name: Shipping
owner: olivia
form:
  - {name: what, required: true}
steps:
  - id: send
    name: Send it
    type: task
    assignees: [person:erin]
    outputs:
      - {name: shipped, label: Shipped on, type: date, min: -7, max: 0}
`))
	if err != nil {
		t.Fatal(err)
	}
	dir, err := flows.ParseDirectory("directory.yaml", manifests.Directory)
	if err != nil {
		t.Fatal(err)
	}
	rig := bottest.NewWith(t, append(defs, ship), dir, []string{"olivia"})
	c := web.New(rig.Svc, web.Config{}, rig.Log)
	rig.Use(c.Messenger())
	t.Cleanup(c.Close)
	cr := &consoleRig{t: t, rig: rig, c: c, h: c.Handler()}
	rig.Clock.Advance(bottest.T0.Add(16 * time.Hour).Sub(rig.Clock.Now())) // 16:00 in London, 01:00 the next day in Seoul
	w := cr.do(request{method: "POST", path: "/console/start/ship", form: url.Values{"as": {"alice"}, "what": {"a laptop"}},
		header: map[string]string{"Sec-Fetch-Site": "same-origin"}})
	if w.Code != http.StatusSeeOther {
		t.Fatalf("start: %d %s", w.Code, w.Body)
	}
	rig.Drain()
	page := cr.do(request{method: "GET", path: "/?as=erin"}).Body.String()
	want := `name="shipped" value="" min="2026-11-20" max="2026-11-27"`
	if !strings.Contains(page, want) {
		i := strings.Index(page, `name="shipped"`)
		t.Fatalf("Erin's card: want %s, got %q", want, page[max(i, 0):min(max(i, 0)+120, len(page))])
	}
}

// A channel's card, which everyone on the console sees, links to no status
// page (most could not open it); a person's own cards do.
func TestStatusLinkOnOwnCardsOnly(t *testing.T) {
	t.Parallel()
	cr := newConsoleRig(t, web.Config{})
	cr.startPR1() // 2500: the manager, then finance
	if code, out := cr.post("/console/act", url.Values{"as": {"bob"}, "action": {"approve"}, "instance": {"PR-1"}, "step": {"manager"}}); code != http.StatusOK || out["ok"] != true {
		t.Fatalf("approve: %d %v", code, out)
	}
	if code, out := cr.post("/console/act", url.Values{"as": {"carol"}, "action": {"approve"}, "instance": {"PR-1"}, "step": {"finance"}}); code != http.StatusOK || out["ok"] != true {
		t.Fatalf("approve: %d %v", code, out)
	}
	cr.rig.Drain()
	ivan := html.UnescapeString(cr.do(request{method: "GET", path: "/?as=ivan"}).Body.String())
	if !strings.Contains(ivan, "may go ahead") || strings.Contains(ivan, "/console/status/PR-1") {
		t.Errorf("ivan's page: the #procurement notice missing, or linking to a status page he may not see")
	}
	if alice := html.UnescapeString(cr.do(request{method: "GET", path: "/?as=alice"}).Body.String()); !strings.Contains(alice, `href="/console/status/PR-1?as=alice"`) {
		t.Errorf("alice's own cards link to no status page")
	}
}

// Acting on a request's status page comes back to it, with the answer.
func TestStatusPageActsInPlace(t *testing.T) {
	t.Parallel()
	cr := newConsoleRig(t, web.Config{})
	cr.startPR1()
	page := cr.do(request{method: "GET", path: "/console/status/PR-1?as=alice"}).Body.String()
	if !strings.Contains(page, `name="back" value="status"`) {
		t.Fatalf("the status page's forms do not say where to come back to")
	}
	w := cr.do(request{method: "POST", path: "/console/act", form: url.Values{"as": {"alice"}, "instance": {"PR-1"}, "action": {"comment"},
		"text": {"any news?"}, "reason": {"any news?"}, "back": {"status"}}, header: map[string]string{"Sec-Fetch-Site": "same-origin"}})
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/console/status/PR-1?as=alice" {
		t.Fatalf("after the comment: %d to %q", w.Code, w.Header().Get("Location"))
	}
	if back := html.UnescapeString(cr.do(request{method: "GET", path: w.Header().Get("Location")}).Body.String()); !strings.Contains(back, "Comment added to PR-1.") {
		t.Errorf("the status page does not show the answer")
	}
	// Its card's own buttons (Withdraw) come back too; the inbox's do not.
	if !strings.Contains(page, `<input type="hidden" name="back" value="status"><input type="hidden" name="as" value="alice"><input type="hidden" name="instance" value="PR-1"><input type="hidden" name="step" value=""><input type="hidden" name="round" value="0">`) {
		t.Errorf("the status page's Withdraw does not come back to it")
	}
	if inbox := cr.do(request{method: "GET", path: "/?as=alice"}).Body.String(); strings.Contains(inbox, `name="back"`) {
		t.Errorf("the inbox's buttons would go to a status page")
	}
	// Only to a request's page: anything else goes to the inbox.
	w = cr.do(request{method: "POST", path: "/console/act", form: url.Values{"as": {"alice"}, "instance": {"//evil.example/x"}, "action": {"comment"},
		"reason": {"hi"}, "back": {"status"}}, header: map[string]string{"Sec-Fetch-Site": "same-origin"}})
	if loc := w.Header().Get("Location"); strings.Contains(loc, "evil") {
		t.Errorf("redirected to %q", loc)
	}
}

// TestConsoleNoteGoesOutOfDate: a note (the answer to what someone just
// did) stays while the cards its own action sends arrive, and is said out
// of date (X-Baton-Note: stale, the page then drops it) once what it talks
// about has changed: the request acted on, the requests a list names, or,
// for a list, a card about a request it lacks.
func TestConsoleNoteGoesOutOfDate(t *testing.T) {
	t.Parallel()
	cr := newConsoleRig(t, web.Config{})
	cr.startPR1()
	// noteOf follows the redirect w to the person's page and returns what
	// its note was made of (data-seen, data-since).
	noteOf := func(w *httptest.ResponseRecorder) url.Values {
		t.Helper()
		_, text := cr.note(w) // from id="note"
		tag, _, _ := strings.Cut(text, ">")
		q := url.Values{}
		for _, attr := range []string{"seen", "since"} {
			if _, v, ok := strings.Cut(tag, "data-"+attr+`="`); ok {
				v, _, _ = strings.Cut(v, `"`)
				q.Set(attr, v)
			}
		}
		return q
	}
	stale := func(as string, note url.Values) bool {
		t.Helper()
		note.Set("as", as)
		w := cr.do(request{method: "GET", path: "/console/inbox?" + note.Encode()})
		if w.Code != http.StatusOK {
			t.Fatalf("inbox of %s: %d %s", as, w.Code, w.Body)
		}
		return w.Header().Get("X-Baton-Note") == "stale"
	}
	act := func(as, action, step string) url.Values {
		return url.Values{"as": {as}, "action": {action}, "instance": {"PR-1"}, "step": {step}, "round": {"1"}}
	}
	command := func(as, text string) url.Values { return url.Values{"as": {as}, "text": {text}} }

	// Bob approves: "Approved PR-1. Waiting on Carol Diaz and Frank Osei".
	approved := noteOf(cr.do(request{method: "POST", path: "/console/act", form: act("bob", "approve", "manager")}))
	if !strings.HasPrefix(approved.Get("seen"), "PR-1@") || approved.Has("since") {
		t.Fatalf("Bob's note is made of %v, want PR-1 as it was, and no list", approved)
	}
	// Carol lists her tasks (PR-1, with its buttons); Dana has none.
	carolTasks := noteOf(cr.do(request{method: "POST", path: "/console/command", form: command("carol", "tasks")}))
	danaTasks := noteOf(cr.do(request{method: "POST", path: "/console/command", form: command("dana", "tasks")}))
	if !strings.HasPrefix(carolTasks.Get("seen"), "PR-1@") || !carolTasks.Has("since") || !danaTasks.Has("since") {
		t.Fatalf("the task lists' notes are made of %v and %v, want PR-1 for Carol and the feed's count", carolTasks, danaTasks)
	}
	// The cards Bob's approval sends (his own closed, finance's) arrive
	// after his note: they do not make it stale.
	if cr.rig.Drain() == 0 {
		t.Fatal("Bob's approval sent nothing")
	}
	if stale("bob", approved) || stale("carol", carolTasks) || stale("dana", danaTasks) {
		t.Fatal("the cards of the action a note answers made it out of date")
	}
	// A list counted by an earlier run of the console (restarted, its page
	// still open) is out of date: that run's count means nothing now.
	restarted := url.Values{"seen": carolTasks["seen"], "since": {"earlier1:" + strings.SplitN(carolTasks.Get("since"), ":", 2)[1]}}
	if !stale("carol", restarted) {
		t.Error("a list counted before a restart is not out of date")
	}

	// Another request, a minute later: it is not what Bob's or Carol's
	// note is about; Dana's list ("nothing is waiting on you") lacks it
	// once its card comes to her.
	cr.rig.Clock.Advance(time.Minute)
	if out, err := cr.rig.Svc.Handle(t.Context(), flows.Event{Kind: flows.EventStart, Key: "t:pr-2", Actor: "erin", Platform: "web",
		Flow: "purchase", Data: map[string]string{"item": "Desk", "amount": "300", "justification": "Standing desk for my back"}}); err != nil || !out.OK {
		t.Fatalf("erin starts PR-2: %v %+v", err, out)
	}
	cr.rig.Drain()
	if stale("bob", approved) || stale("carol", carolTasks) {
		t.Error("a note was said out of date by a change to another request")
	}
	if !stale("dana", danaTasks) {
		t.Error("Dana's empty task list is not out of date once a task came to her")
	}

	// Frank approves PR-1: Bob's "waiting on Carol and Frank" and Carol's
	// Approve button are out of date.
	cr.rig.Clock.Advance(time.Minute)
	cr.do(request{method: "POST", path: "/console/act", form: act("frank", "approve", "finance")})
	cr.rig.Drain()
	if !stale("bob", approved) || !stale("carol", carolTasks) {
		t.Error("a note is not out of date once the request it is about changed")
	}
	// A page without a note is never told to drop one.
	if stale("bob", url.Values{}) {
		t.Error("an inbox fetched without a note says it is stale")
	}
}

// TestConsoleWritesBatonByName: what Baton did by itself is written
// "Baton" on the status page and in the status answer, as people are by
// name; the audit trail keeps its id.
func TestConsoleWritesBatonByName(t *testing.T) {
	t.Parallel()
	cr := newConsoleRig(t, web.Config{})
	cr.startPR1()
	status := html.UnescapeString(cr.do(request{method: "GET", path: "/console/status/PR-1?as=alice"}).Body.String())
	w := cr.do(request{method: "POST", path: "/console/command", form: url.Values{"as": {"alice"}, "text": {"status PR-1"}}})
	page := html.UnescapeString(cr.do(request{method: "GET", path: w.Header().Get("Location")}).Body.String())
	_, answer, _ := strings.Cut(page, `id="note"`)
	answer, _, _ = strings.Cut(answer, `id="pending"`)
	for name, page := range map[string]string{"the status page": status, "the status answer": answer} {
		if !strings.Contains(page, "GMT · Baton assigned</strong>") || strings.Contains(page, "· baton ") {
			t.Errorf("%s does not write Baton by name:\n%s", name, page)
		}
	}
	audit, err := cr.rig.Store.Audit(t.Context(), "PR-1")
	if err != nil {
		t.Fatal(err)
	}
	if i := slices.IndexFunc(audit, func(a flows.AuditEntry) bool { return a.Action == "assigned" }); i < 0 || audit[i].Actor != "baton" {
		t.Errorf("the audit trail's assignment is not kept as by %q: %+v", "baton", audit)
	}
}

// TestConsoleLabelsEndingInPunctuation: a form's label that asks a question
// ("What are you buying?") is followed by its value, not by another colon,
// on the status page.
func TestConsoleLabelsEndingInPunctuation(t *testing.T) {
	t.Parallel()
	cr := newConsoleRig(t, web.Config{})
	cr.startPR1()
	page := html.UnescapeString(cr.do(request{method: "GET", path: "/console/status/PR-1?as=alice"}).Body.String())
	if !strings.Contains(page, "<div>What are you buying? Laptop · Total amount: 2500 · Currency: EUR · Why is it needed? My old one broke down</div>") ||
		strings.Contains(page, "?:") {
		t.Errorf("the status page doubles a label's question mark:\n%s", page)
	}
}
