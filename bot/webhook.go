package bot

import (
	"bytes"
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jonboulle/clockwork"

	"github.com/batonbot/baton/flows"
)

// Webhooks makes webhook steps' calls: a JSON POST signed with HMAC-SHA256,
// retried with exponential backoff on network errors, 429 and 5xx.
//
// Signature: header X-Baton-Signature is "v1=" + hex(HMAC-SHA256(secret,
// timestamp + "." + body)) and X-Baton-Timestamp the unix seconds, so a
// receiver can check both the body and its age. Idempotency-Key names the
// installation and the step round, so a receiver can drop repeats.
type Webhooks struct {
	client   *http.Client
	secrets  map[string]string // by the name a step gives
	clock    clockwork.Clock
	sleep    func(context.Context, time.Duration) error
	backoff  time.Duration
	attempts HookLog // records outbound event deliveries, or nil (hooks.go)
	// installation starts every Idempotency-Key (SetInstallation, hooks.go)
	installation string
}

// NewWebhooks returns a caller. secrets maps secret names to values.
func NewWebhooks(client *http.Client, secrets map[string]string, clock clockwork.Clock) *Webhooks {
	if client == nil {
		client = &http.Client{Timeout: 15 * time.Second}
	}
	// A copy that follows no redirect: the signed request, its headers and
	// (in a Referer) the URL, whose path or query may be a secret, would go
	// to an address nobody configured, and a 301, 302 or 303 would turn the
	// POST into a bodiless GET that passes for a delivered call. A redirect
	// fails the call, naming where it pointed (redirected).
	c := *client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	client = &c
	if clock == nil {
		clock = clockwork.NewRealClock()
	}
	return &Webhooks{client: client, secrets: secrets, clock: clock, sleep: Sleep, backoff: time.Second}
}

// Sign returns the signature header value for body sent at ts.
func Sign(secret string, ts int64, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "%d.", ts)
	mac.Write(body)
	return "v1=" + hex.EncodeToString(mac.Sum(nil))
}

// Call makes the call, retrying up to call.Retries times.
func (w *Webhooks) Call(ctx context.Context, instance string, call *flows.WebhookCall) flows.WebhookResult {
	return w.CallWhile(ctx, instance, call, nil)
}

// errNotWanted ends the attempts of a call its request no longer waits for.
var errNotWanted = errors.New("the request no longer waits for this call")

// CallWhile makes the call as Call does, while wanted (if not nil) says
// before each attempt that the request still waits for it: a request that
// was cancelled, or whose step timed out, is not called again. No attempt
// runs past the step's due time (call.Due).
func (w *Webhooks) CallWhile(ctx context.Context, instance string, call *flows.WebhookCall, wanted func(context.Context) bool) flows.WebhookResult {
	secret, err := w.hookSecret(call.Secret)
	if err != nil {
		return flows.WebhookResult{Error: err.Error()}
	}
	body, err := json.Marshal(call.Body)
	if err != nil {
		return flows.WebhookResult{Error: "encode body: " + err.Error()}
	}
	backoff := w.backoff
	var last flows.WebhookResult
	for attempt := 0; attempt <= call.Retries; attempt++ {
		if wanted != nil && !wanted(ctx) {
			return flows.WebhookResult{Error: errNotWanted.Error()}
		}
		var retryAfter time.Duration
		last, retryAfter = w.postBefore(ctx, instance, call, secret, body)
		if last.OK || retryAfter < 0 || attempt == call.Retries {
			break
		}
		wait := cmp.Or(retryAfter, backoff/2+rand.N(backoff/2+1))
		backoff = min(2*backoff, 5*time.Minute)
		if !call.Due.IsZero() && !w.clock.Now().Add(wait).Before(call.Due) {
			// The next attempt would start at or after the step's due
			// time, when its reply would come too late.
			last.Error += fmt.Sprintf("; not retried: the next attempt, in %s, would come after the step's due time", wait.Round(time.Second))
			break
		}
		if w.sleep(ctx, wait) != nil {
			break
		}
	}
	return last
}

// postBefore makes one attempt, cut short at the step's due time: its
// reply would come too late.
func (w *Webhooks) postBefore(ctx context.Context, instance string, call *flows.WebhookCall, secret string, body []byte) (flows.WebhookResult, time.Duration) {
	if call.Due.IsZero() {
		return w.post(ctx, instance, call, secret, body)
	}
	left := call.Due.Sub(w.clock.Now())
	tooLate := flows.WebhookResult{Error: fmt.Sprintf("webhook to %s: no reply before the step's due time", flows.HookTarget(call.URL))}
	if left <= 0 {
		return tooLate, -1
	}
	actx, cancel := context.WithTimeout(ctx, left)
	defer cancel()
	res, retryAfter := w.post(actx, instance, call, secret, body)
	if !res.OK && ctx.Err() == nil && actx.Err() != nil {
		return tooLate, -1
	}
	return res, retryAfter
}

// post makes one attempt. retryAfter < 0 means do not retry. Its errors
// name the receiver by scheme and host only (flows.HookTarget): the URL's
// user, password, path or query may be credentials, and the error goes into
// the audit trail, subscribers' events and logs.
func (w *Webhooks) post(ctx context.Context, instance string, call *flows.WebhookCall, secret string, body []byte) (flows.WebhookResult, time.Duration) {
	ts := w.clock.Now().Unix()
	target := flows.HookTarget(call.URL)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, call.URL, bytes.NewReader(body))
	if err != nil {
		return flows.WebhookResult{Error: fmt.Sprintf("webhook to %s: the step's url %s", target, cmp.Or(flows.HookURLProblem(call.URL), "is not valid"))}, -1
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Baton-Webhook/1")
	req.Header.Set("X-Baton-Timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("X-Baton-Signature", Sign(secret, ts, body))
	req.Header.Set("Idempotency-Key", w.idempotencyKey(fmt.Sprintf("%s:%s:%d", instance, call.Step, call.Round)))
	resp, err := w.client.Do(req)
	if err != nil {
		return flows.WebhookResult{Error: fmt.Sprintf("webhook to %s: %v", target, withoutURL(err))}, 0
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxReply+1))
	res := flows.WebhookResult{Status: resp.StatusCode}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		res.OK = true
		// What the reply is when it is no JSON object, said after "its
		// reply is": a step that stores from it fails, saying so.
		kind := ""
		if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err == nil {
			kind = " (" + mt + ")"
		}
		switch {
		case len(raw) > maxReply:
			res.NotJSON = fmt.Sprintf("over %d MiB%s, more than Baton reads", maxReply>>20, kind)
		case len(bytes.TrimSpace(raw)) == 0:
			res.NotJSON = "empty" + kind
		case json.Unmarshal(raw, &res.Reply) != nil || res.Reply == nil: // null is no object either
			res.Reply = nil
			res.NotJSON = "not a JSON object" + kind
		}
		if res.NotJSON != "" {
			res.Body = replyStart(raw, call.URL, secret)
		}
		return res, 0
	}
	res.Error = fmt.Sprintf("HTTP %d from %s", resp.StatusCode, target)
	res.Body = replyStart(raw, call.URL, secret)
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		res.Error += redirected(resp) + "; set the step's url to the address to POST to"
		return res, -1
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return res, retryAfter(resp.Header)
	default:
		return res, -1 // a 4xx will not get better
	}
}

// maxReply bounds how much of a reply is read: a larger one is no reply a
// step can store from.
const maxReply = 1 << 20

// replyChars bounds how much of a failed call's reply is kept: enough for
// a receiver's error message, not its whole page.
const replyChars = 300

// replyStart is the start of a failed call's reply as people read it in
// the timeline, the audit trail, subscribers' events and the log: at most
// replyChars characters on one line (control characters and line breaks
// read as a space, spaces run together, text-direction controls dropped),
// with
// "[hidden]" for anything of ours the receiver may echo back, which the
// step's URL may hold (its user, password, path, query and each query
// value) and the signing secret.
func replyStart(raw []byte, rawURL, secret string) string {
	// One line, and nothing invisible (that would also let an echo of ours
	// pass for something else).
	s := strings.Map(func(r rune) rune {
		switch {
		case unicode.Is(unicode.Bidi_Control, r):
			return -1
		case unicode.IsControl(r) || r == '\u2028' || r == '\u2029':
			return ' '
		}
		return r
	}, strings.ToValidUTF8(string(raw), "\uFFFD"))
	ours := []string{secret} // always hidden; the URL's parts only from 4 characters: shorter, they are no secret and would hide half the text
	if u, err := url.Parse(rawURL); err == nil {
		if p, ok := u.User.Password(); ok {
			ours = append(ours, p)
		}
		parts := []string{rawURL, u.User.Username(), u.RawQuery, u.RawPath, u.Path}
		for _, vs := range u.Query() {
			parts = append(parts, vs...)
		}
		for _, p := range parts {
			if utf8.RuneCountInString(p) >= 4 {
				ours = append(ours, p)
			}
		}
	}
	// Each also as JSON and a URL would write it; the longest first, so
	// that a part is not hidden before the whole.
	var hide []string
	for _, o := range ours {
		if o == "" {
			continue
		}
		j, _ := json.Marshal(o)
		hide = append(hide, o, string(j[1:len(j)-1]), url.QueryEscape(o), url.PathEscape(o))
	}
	slices.SortFunc(hide, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	for _, h := range hide {
		s = strings.ReplaceAll(s, h, "[hidden]")
	}
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) > replyChars {
		s = string([]rune(s)[:replyChars]) + "…"
	}
	return s
}

// redirected says where a redirect pointed, by scheme and host only (as
// flows.HookTarget names a receiver), and that it was not followed.
func redirected(resp *http.Response) string {
	to := "another address"
	if loc, err := resp.Location(); err == nil {
		to = flows.HookTarget(loc.String())
	}
	return fmt.Sprintf(" redirecting to %s (Baton follows no redirect)", to)
}

// withoutURL returns the error a failed request's *url.Error wraps: its own
// text names the whole URL, credentials included.
func withoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		return ue.Err
	}
	return err
}
