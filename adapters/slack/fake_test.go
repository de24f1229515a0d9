package slack

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

// fakeSlack stands in for the Slack Web API (and for response_url
// endpoints) through SLACK_API_URL. It answers the methods Baton calls,
// including the ones slacktest lacks (chat.update, views.*,
// conversations.open), records every call, and can rate limit
// chat.postMessage the way Slack does: 429 with Retry-After.
type fakeSlack struct {
	t   testing.TB
	srv *httptest.Server

	mu       sync.Mutex
	calls    []apiCall
	seq      int
	tz       map[string]string           // user id -> timezone for users.info
	fail     map[string][]string         // method -> error codes to answer next, in order
	postPace *rate.Limiter               // chat.postMessage pace (nil: unlimited)
	retry    string                      // Retry-After to send with a 429
	handlers map[string]http.HandlerFunc // extra or replaced endpoints
	wait     chan struct{}               // closed and replaced on every call
	patience time.Duration               // how long waitFor waits (default 10 s)
}

// apiCall is one request the stand-in received.
type apiCall struct {
	Method string
	Params map[string]any // form values (one string each) or the JSON body
	Token  string         // the token it carried (form field or bearer)
	At     time.Time
	Status int
	TS     string // chat.postMessage: the ts the stand-in assigned
}

func newFakeSlack(t testing.TB) *fakeSlack {
	f := &fakeSlack{t: t, tz: map[string]string{}, fail: map[string][]string{}, handlers: map[string]http.HandlerFunc{},
		retry: "1", wait: make(chan struct{})}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// URL is the SLACK_API_URL to use (it ends with "/").
func (f *fakeSlack) URL() string { return f.srv.URL + "/" }

// responseURL is a response_url that lands on the stand-in.
func (f *fakeSlack) responseURL(name string) string { return f.srv.URL + "/response/" + name }

func (f *fakeSlack) serve(w http.ResponseWriter, r *http.Request) {
	method := strings.TrimPrefix(r.URL.Path, "/")
	body, _ := io.ReadAll(r.Body)
	c := apiCall{Method: method, Params: map[string]any{}, At: time.Now()}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		_ = json.Unmarshal(body, &c.Params)
	} else {
		v, _ := url.ParseQuery(string(body))
		for k := range v {
			c.Params[k] = v.Get(k)
		}
	}
	c.Token, _ = c.Params["token"].(string)
	delete(c.Params, "token")
	if auth := r.Header.Get("Authorization"); auth != "" {
		c.Token = strings.TrimPrefix(auth, "Bearer ")
	}
	f.mu.Lock()
	h := f.handlers[method]
	var fail string
	if codes := f.fail[method]; len(codes) > 0 {
		fail, f.fail[method] = codes[0], codes[1:]
	}
	limited := method == "chat.postMessage" && f.postPace != nil && !f.postPace.Allow()
	f.mu.Unlock()
	switch {
	case h != nil && fail == "":
		h(w, r)
		c.Status = http.StatusOK
	case limited:
		w.Header().Set("Retry-After", f.retry)
		w.WriteHeader(http.StatusTooManyRequests)
		c.Status = http.StatusTooManyRequests
	case fail == "429":
		w.Header().Set("Retry-After", f.retry)
		w.WriteHeader(http.StatusTooManyRequests)
		c.Status = http.StatusTooManyRequests
	case fail == "500":
		w.WriteHeader(http.StatusInternalServerError)
		c.Status = http.StatusInternalServerError
	case fail != "":
		f.json(w, map[string]any{"ok": false, "error": fail})
		c.Status = http.StatusOK
	default:
		c.Status = http.StatusOK
		c.TS = f.answer(w, method, c.Params)
	}
	f.mu.Lock()
	f.calls = append(f.calls, c)
	close(f.wait)
	f.wait = make(chan struct{})
	f.mu.Unlock()
}

func (f *fakeSlack) json(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeSlack) answer(w http.ResponseWriter, method string, p map[string]any) (ts string) {
	str := func(k string) string { s, _ := p[k].(string); return s }
	switch {
	case method == "chat.postMessage":
		f.mu.Lock()
		f.seq++
		ts = fmt.Sprintf("1764147600.%06d", f.seq)
		f.mu.Unlock()
		f.json(w, map[string]any{"ok": true, "channel": str("channel"), "ts": ts, "message": map[string]any{"ts": ts}})
	case method == "chat.update":
		f.json(w, map[string]any{"ok": true, "channel": str("channel"), "ts": str("ts")})
	case method == "chat.postEphemeral":
		f.json(w, map[string]any{"ok": true, "message_ts": "1764147600.999999"})
	case method == "conversations.open":
		f.json(w, map[string]any{"ok": true, "channel": map[string]any{"id": "D" + strings.TrimPrefix(str("users"), "U")}})
	case strings.HasPrefix(method, "views."):
		f.json(w, map[string]any{"ok": true, "view": map[string]any{"id": "V" + strings.ToUpper(strings.TrimPrefix(method, "views."))}})
	case method == "users.info":
		f.mu.Lock()
		tz := f.tz[str("user")]
		f.mu.Unlock()
		f.json(w, map[string]any{"ok": true, "user": map[string]any{"id": str("user"), "name": strings.ToLower(str("user")), "real_name": "Real " + str("user"), "tz": tz}})
	case method == "auth.test":
		f.json(w, map[string]any{"ok": true, "team": "Baton Test", "team_id": "T0BATON", "user_id": "U0BATONBOT", "bot_id": "B0BATON"})
	case strings.HasPrefix(method, "response/"):
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "ok")
	default:
		f.json(w, map[string]any{"ok": false, "error": "unknown_method"})
	}
	return ts
}

// failNext makes the next calls of method fail with codes, in order:
// a Slack error code, "429" (with Retry-After) or "500".
func (f *fakeSlack) failNext(method string, codes ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail[method] = append(f.fail[method], codes...)
}

// pacePosts lets chat.postMessage through at perSecond (bursting up to
// burst) and answers 429 with Retry-After beyond that. The bucket starts
// empty, so the first second gets no head start.
func (f *fakeSlack) pacePosts(perSecond float64, burst int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.postPace = rate.NewLimiter(rate.Limit(perSecond), burst)
	f.postPace.AllowN(time.Now(), burst)
}

func (f *fakeSlack) handle(method string, h http.HandlerFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.handlers[method] = h
}

// Calls returns the calls received so far.
func (f *fakeSlack) Calls() []apiCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// take returns the calls received since the last take.
func (f *fakeSlack) take(from *int) []apiCall {
	all := f.Calls()
	out := all[*from:]
	*from = len(all)
	return out
}

// waitFor blocks until cond holds for the calls received (or fails the
// test after 10 s): for work Slack triggers in the background.
func (f *fakeSlack) waitFor(what string, cond func([]apiCall) bool) []apiCall {
	f.t.Helper()
	patience := f.patience
	if patience == 0 {
		patience = 10 * time.Second
	}
	deadline := time.NewTimer(patience)
	defer deadline.Stop()
	for {
		f.mu.Lock()
		calls, wait := slices.Clone(f.calls), f.wait
		f.mu.Unlock()
		if cond(calls) {
			return calls
		}
		select {
		case <-wait:
		case <-deadline.C:
			f.t.Fatalf("waited %s for %s; Slack received:\n%s", patience, what, summarize(calls))
		}
	}
}

func (c apiCall) str(k string) string {
	switch v := c.Params[k].(type) {
	case string:
		return v
	case nil:
		return ""
	default:
		b, _ := json.Marshal(v)
		return string(b)
	}
}

// blocks returns the call's blocks (form field or JSON, message or view).
func (c apiCall) blocks() []map[string]any {
	var raw any
	switch {
	case c.Params["blocks"] != nil:
		raw = c.Params["blocks"]
		if s, ok := raw.(string); ok {
			_ = json.Unmarshal([]byte(s), &raw)
		}
	case c.Params["view"] != nil:
		raw = c.Params["view"].(map[string]any)["blocks"]
	}
	var out []map[string]any
	b, _ := json.Marshal(raw)
	_ = json.Unmarshal(b, &out)
	return out
}

// text is everything a person would read in the call's blocks, on one
// line: the words of every text object and the labels of the buttons.
func (c apiCall) text() string {
	var words []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for _, k := range slices.Sorted(maps.Keys(x)) {
				if s, ok := x[k].(string); ok && k == "text" {
					words = append(words, s)
				} else {
					walk(x[k])
				}
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	for _, b := range c.blocks() {
		walk(map[string]any(b))
	}
	return strings.Join(words, " | ")
}

// buttons lists the values of the call's buttons.
func (c apiCall) buttons() []string {
	var out []string
	for _, b := range c.blocks() {
		if b["type"] != "actions" {
			continue
		}
		for _, e := range b["elements"].([]any) {
			if v, ok := e.(map[string]any)["value"].(string); ok {
				out = append(out, v)
			}
		}
	}
	return out
}

// summary is one readable line per call, for logs and golden files. It
// leaves out what varies from run to run: message timestamps (timers that
// fire together commit in any order) and App Home contents (a refresh may
// fold several changes).
func (c apiCall) summary() string {
	s := c.Method
	switch {
	case c.Status == http.StatusTooManyRequests:
		return s + " → 429"
	case c.Method == "chat.postMessage":
		s += " " + c.str("channel")
		if c.str("thread_ts") != "" {
			s += " in thread"
		}
		if c.str("reply_broadcast") == "true" {
			s += " broadcast"
		}
		s += ": " + c.str("text")
	case c.Method == "chat.update":
		s += " " + c.str("channel") + ": " + c.str("text")
	case c.Method == "chat.postEphemeral":
		s += " " + c.str("channel") + " to " + c.str("user") + ": " + c.str("text")
	case c.Method == "conversations.open":
		s += " " + c.str("users")
	case c.Method == "views.publish":
		return s + " " + c.str("user_id")
	case c.Method == "views.open":
		v := c.Params["view"].(map[string]any)
		s += fmt.Sprintf(" %v %q", v["callback_id"], v["title"].(map[string]any)["text"])
	case strings.HasPrefix(c.Method, "response/"):
		s = "response_url " + strings.TrimPrefix(c.Method, "response/") + ": " + c.str("text")
	case c.Method == "users.info":
		s += " " + c.str("user")
	}
	if b := c.buttons(); len(b) > 0 {
		s += " [" + strings.Join(b, " ") + "]"
	}
	return s
}

func summarize(calls []apiCall) string {
	var lines []string
	for _, c := range calls {
		lines = append(lines, c.summary())
	}
	return strings.Join(lines, "\n")
}
