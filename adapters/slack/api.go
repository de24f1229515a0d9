package slack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	slackgo "github.com/slack-go/slack"
	"golang.org/x/time/rate"

	"github.com/batonbot/baton/bot"
)

// webAPI is the one shared Web API client: timeouts on every call,
// chat.postMessage paced per channel, and rate limits shared by every
// caller of a method (after a 429 nobody calls that method again before
// Retry-After has passed). Errors come back classified for the dispatcher:
// *bot.RetryAfterError for rate limits, bot.Permanent for errors retrying
// cannot fix (with what to do about them), anything else is retried.
type webAPI struct {
	client  *slackgo.Client
	http    *http.Client
	apiURL  *url.URL
	cfg     Config
	metrics *metrics

	calls chan struct{} // one per delivery call in flight (MaxCalls)

	mu       sync.Mutex
	channels map[string]*rate.Limiter // chat.postMessage pace per channel
	gates    map[string]time.Time     // method -> not before (after a 429)
}

func newWebAPI(cfg Config, m *metrics) *webAPI {
	w := &webAPI{cfg: cfg, metrics: m, calls: make(chan struct{}, cfg.MaxCalls),
		channels: map[string]*rate.Limiter{}, gates: map[string]time.Time{}}
	w.apiURL, _ = url.Parse(cfg.APIURL) // validated by Config.Validate
	// One host (slack.com) takes every call: keep enough idle connections
	// to it for a burst of deliveries to reuse them.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 256, 64
	w.http = &http.Client{Timeout: cfg.HTTPTimeout, Transport: &measured{next: tr, api: w.apiURL, m: m}}
	opts := []slackgo.Option{slackgo.OptionHTTPClient(w.http), slackgo.OptionAPIURL(cfg.APIURL)}
	if cfg.AppToken != "" {
		opts = append(opts, slackgo.OptionAppLevelToken(cfg.AppToken))
	}
	w.client = slackgo.New(cfg.BotToken, opts...)
	return w
}

// measured times each Web API call by method (the last part of the path).
type measured struct {
	next http.RoundTripper
	api  *url.URL
	m    *metrics
}

func (t *measured) RoundTrip(r *http.Request) (*http.Response, error) {
	method := "response_url"
	if r.URL.Host == t.api.Host {
		if m := strings.TrimPrefix(r.URL.Path, t.api.Path); !strings.Contains(m, "/") {
			method = m // a Web API method; anything else would grow the label set
		}
	}
	began := time.Now()
	resp, err := t.next.RoundTrip(r)
	t.m.callTime.WithLabelValues(method).Observe(time.Since(began).Seconds())
	return resp, err
}

// delivering waits while method is rate limited, then takes one of the
// MaxCalls slots for a delivery's call, and returns its release. Delivery
// calls (cards, updates, DMs, Home tabs) are capped so that a burst of them
// (a flow fanning out to hundreds of people) leaves the CPU to acknowledging
// requests, whose 3 s deadline is hard; answers to a click (modals, private
// replies) never wait for a slot.
func (w *webAPI) delivering(ctx context.Context, method string) (func(), error) {
	if err := w.waitGate(ctx, method); err != nil {
		return nil, err
	}
	select {
	case w.calls <- struct{}{}:
		return func() { <-w.calls }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// waitGate blocks while method is rate limited.
func (w *webAPI) waitGate(ctx context.Context, method string) error {
	w.mu.Lock()
	until := w.gates[method]
	w.mu.Unlock()
	if d := time.Until(until); d > 0 {
		return bot.Sleep(ctx, d)
	}
	return nil
}

// pace blocks until channel may take another chat.postMessage: Slack
// allows about one a second per channel, with short bursts. Nothing is
// dropped; callers queue up.
func (w *webAPI) pace(ctx context.Context, channel string) error {
	w.mu.Lock()
	lim := w.channels[channel]
	if lim == nil {
		if len(w.channels) >= 10_000 { // forget idle channels
			now := time.Now()
			for ch, l := range w.channels {
				if l.TokensAt(now) >= float64(w.cfg.PostBurst) {
					delete(w.channels, ch)
				}
			}
		}
		lim = rate.NewLimiter(rate.Every(w.cfg.PostInterval), w.cfg.PostBurst)
		w.channels[channel] = lim
	}
	w.mu.Unlock()
	return lim.Wait(ctx)
}

// permanent Slack error codes, with what to do about them.
var permanentCodes = map[string]string{
	"channel_not_found":       "Slack does not know this channel, or the app cannot see it: check its Slack id in the directory and invite the app to private channels",
	"not_in_channel":          "the app is not in this channel: invite it (/invite @Baton)",
	"is_archived":             "the channel is archived",
	"user_not_found":          "Slack does not know this user: check the person's Slack id in the directory",
	"users_not_found":         "Slack does not know this user: check the person's Slack id in the directory",
	"user_disabled":           "this Slack account is deactivated",
	"account_inactive":        "the app's account is deactivated: reinstall the app and update SLACK_BOT_TOKEN",
	"cannot_dm_bot":           "this Slack id is a bot's: check the person's Slack id in the directory",
	"invalid_auth":            "SLACK_BOT_TOKEN is not valid: copy the Bot User OAuth Token again",
	"not_authed":              "SLACK_BOT_TOKEN is missing",
	"token_revoked":           "SLACK_BOT_TOKEN was revoked: reinstall the app and update it",
	"token_expired":           "SLACK_BOT_TOKEN expired: reinstall the app and update it",
	"missing_scope":           "the app lacks a scope: update it from manifests/slack/app-manifest.yaml and reinstall",
	"no_permission":           "the app is not allowed to do this here",
	"restricted_action":       "a workspace setting prevents the app from posting here",
	"message_not_found":       "the message was deleted",
	"cant_update_message":     "the message can no longer be updated",
	"edit_window_closed":      "the message can no longer be edited",
	"msg_too_long":            "the message is too long",
	"no_text":                 "the message is empty",
	"invalid_blocks":          "Slack refused the card's blocks",
	"invalid_blocks_format":   "Slack refused the card's blocks",
	"invalid_arguments":       "Slack refused the call's arguments",
	"invalid_trigger_id":      "the click is too old to open a form (over 3 s): click again",
	"expired_trigger_id":      "the click is too old to open a form (over 3 s): click again",
	"exchanged_trigger_id":    "this click already opened a form",
	"view_too_large":          "the view is too large",
	"not_enabled":             "the App Home tab is off: turn it on in the app's settings (see manifests/slack/app-manifest.yaml)",
	"team_access_not_granted": "the app is not installed in this workspace",
}

// formProblem is why a form did not open, as the person who clicked is
// told it: Slack's reason where it is theirs to act on, without the call's
// details (which go to the log); "" when there is nothing to tell (a
// repeated click whose form is already open).
func formProblem(err error) string {
	var se slackgo.SlackErrorResponse
	var ra *bot.RetryAfterError
	switch {
	case errors.As(err, &se) && se.Err == "exchanged_trigger_id":
		return ""
	case errors.As(err, &se) && strings.HasSuffix(se.Err, "_trigger_id"):
		return "The click is too old to open a form (over 3 s): click again."
	case errors.As(err, &ra):
		return "Slack is busy right now: try again in a few seconds."
	}
	return "Slack did not open it: try again. If it keeps failing, tell whoever runs Baton."
}

// classify turns a Web API error into one the dispatcher understands, and
// counts it. what says what was being done ("chat.postMessage to D123").
func (w *webAPI) classify(method, what string, err error) error {
	if err == nil {
		w.metrics.calls.WithLabelValues(method, "ok").Inc()
		return nil
	}
	var rl *slackgo.RateLimitedError
	var sc slackgo.StatusCodeError
	var se slackgo.SlackErrorResponse
	wrapped := fmt.Errorf("slack %s: %w", what, err)
	switch {
	case errors.As(err, &rl):
		return w.limited(method, rl.RetryAfter, wrapped)
	case errors.As(err, &sc) && sc.Code == http.StatusTooManyRequests:
		return w.limited(method, time.Second, wrapped)
	case errors.As(err, &se) && se.Err == "ratelimited":
		return w.limited(method, time.Second, wrapped)
	case errors.As(err, &se):
		if hint, ok := permanentCodes[se.Err]; ok {
			w.metrics.calls.WithLabelValues(method, "permanent").Inc()
			if se.Needed != "" {
				hint += " (needed: " + se.Needed + ")"
			}
			if msgs := se.ResponseMetadata.Messages; len(msgs) > 0 { // which block was refused, and why
				hint += " (" + strings.Join(msgs, "; ") + ")"
			}
			return bot.Permanent(fmt.Errorf("%w: %s", wrapped, hint))
		}
	case errors.As(err, &sc) && sc.Code >= 400 && sc.Code < 500 && sc.Code != http.StatusRequestTimeout:
		w.metrics.calls.WithLabelValues(method, "permanent").Inc()
		return bot.Permanent(fmt.Errorf("%w: check SLACK_API_URL (%s)", wrapped, w.cfg.APIURL))
	}
	w.metrics.calls.WithLabelValues(method, "error").Inc()
	return wrapped
}

// limited records a 429: callers of method wait until it has passed.
func (w *webAPI) limited(method string, after time.Duration, err error) error {
	after = max(after, time.Second)
	w.metrics.calls.WithLabelValues(method, "rate_limited").Inc()
	// The first 429 closes the gate for Retry-After. The 429s of calls that
	// were already on their way do not push it further: Slack's window
	// opens when it said, and every caller should be there when it does.
	w.mu.Lock()
	if now := time.Now(); !now.Before(w.gates[method]) {
		w.gates[method] = now.Add(after)
	}
	w.mu.Unlock()
	return &bot.RetryAfterError{After: after, Err: err}
}

// postMessage posts blocks to channel (in the thread of threadTS when set)
// and returns the channel and ts Slack assigned.
func (w *webAPI) postMessage(ctx context.Context, channel string, blocks []slackgo.Block, text, threadTS string, broadcast bool) (string, string, error) {
	const method = "chat.postMessage"
	if err := w.pace(ctx, channel); err != nil {
		return "", "", err
	}
	release, err := w.delivering(ctx, method)
	if err != nil {
		return "", "", err
	}
	defer release()
	opts := []slackgo.MsgOption{slackgo.MsgOptionBlocks(blocks...), slackgo.MsgOptionText(text, false), slackgo.MsgOptionDisableLinkUnfurl()}
	if threadTS != "" {
		opts = append(opts, slackgo.MsgOptionTS(threadTS))
		if broadcast {
			opts = append(opts, slackgo.MsgOptionBroadcast())
		}
	}
	ch, ts, err := w.client.PostMessageContext(ctx, channel, opts...)
	if err = w.classify(method, method+" to "+channel, err); err != nil {
		return "", "", err
	}
	return ch, ts, nil
}

func (w *webAPI) updateMessage(ctx context.Context, channel, ts string, blocks []slackgo.Block, text string) error {
	const method = "chat.update"
	release, err := w.delivering(ctx, method)
	if err != nil {
		return err
	}
	defer release()
	_, _, _, err = w.client.UpdateMessageContext(ctx, channel, ts, slackgo.MsgOptionBlocks(blocks...), slackgo.MsgOptionText(text, false))
	return w.classify(method, method+" of "+channel+"/"+ts, err)
}

// postEphemeral shows blocks to user alone, in channel (in the thread of
// threadTS when set).
func (w *webAPI) postEphemeral(ctx context.Context, channel, user string, blocks []slackgo.Block, text, threadTS string) error {
	const method = "chat.postEphemeral"
	if err := w.waitGate(ctx, method); err != nil {
		return err
	}
	opts := []slackgo.MsgOption{slackgo.MsgOptionBlocks(blocks...), slackgo.MsgOptionText(text, false)}
	if threadTS != "" {
		opts = append(opts, slackgo.MsgOptionTS(threadTS))
	}
	_, err := w.client.PostEphemeralContext(ctx, channel, user, opts...)
	return w.classify(method, method+" to "+user+" in "+channel, err)
}

// openDM opens (or finds) the direct message conversation with user.
func (w *webAPI) openDM(ctx context.Context, user string) (string, error) {
	const method = "conversations.open"
	release, err := w.delivering(ctx, method)
	if err != nil {
		return "", err
	}
	defer release()
	ch, _, _, err := w.client.OpenConversationContext(ctx, &slackgo.OpenConversationParameters{Users: []string{user}})
	if err = w.classify(method, method+" with "+user, err); err != nil {
		return "", err
	}
	if ch == nil || ch.ID == "" {
		return "", fmt.Errorf("slack conversations.open with %s: no channel in the answer", user)
	}
	return ch.ID, nil
}

func (w *webAPI) openView(ctx context.Context, trigger string, v slackgo.ModalViewRequest) error {
	const method = "views.open"
	// No waiting on a gate here: a trigger expires in 3 s, so a rate
	// limited open fails now and the person is told to click again.
	_, err := w.client.OpenViewContext(ctx, trigger, v)
	return w.classify(method, method, err)
}

func (w *webAPI) publishHome(ctx context.Context, user string, v slackgo.HomeTabViewRequest) error {
	const method = "views.publish"
	release, err := w.delivering(ctx, method)
	if err != nil {
		return err
	}
	defer release()
	_, err = w.client.PublishViewContext(ctx, slackgo.PublishViewContextRequest{UserID: user, View: v})
	return w.classify(method, method+" for "+user, err)
}

func (w *webAPI) userInfo(ctx context.Context, user string) (*slackgo.User, error) {
	const method = "users.info"
	if err := w.waitGate(ctx, method); err != nil {
		return nil, err
	}
	u, err := w.client.GetUserInfoContext(ctx, user)
	if err = w.classify(method, method+" of "+user, err); err != nil {
		return nil, err
	}
	return u, nil
}

func (w *webAPI) authTest(ctx context.Context) (*slackgo.AuthTestResponse, error) {
	const method = "auth.test"
	r, err := w.client.AuthTestContext(ctx)
	if err = w.classify(method, method, err); err != nil {
		return nil, err
	}
	return r, nil
}

// respond posts a private answer to a response_url. Only Slack's own hosts
// (and the configured API host, for proxies and tests) are called: the
// URL arrives in a request, and Baton must not be made to call elsewhere.
func (w *webAPI) respond(ctx context.Context, responseURL string, blocks []slackgo.Block, text string) error {
	const method = "response_url"
	u, err := url.Parse(responseURL)
	if err != nil || !w.slackHost(u) {
		return bot.Permanent(fmt.Errorf("response_url %.80q is not a Slack URL; not calling it", responseURL))
	}
	msg := &slackgo.WebhookMessage{Text: text, ResponseType: slackgo.ResponseTypeEphemeral}
	if len(blocks) > 0 {
		msg.Blocks = &slackgo.Blocks{BlockSet: blocks}
	}
	return w.classify(method, method, slackgo.PostWebhookCustomHTTPContext(ctx, responseURL, w.http, msg))
}

func (w *webAPI) slackHost(u *url.URL) bool {
	if u.Host == w.apiURL.Host && u.Scheme == w.apiURL.Scheme {
		return true
	}
	host := u.Hostname()
	return u.Scheme == "https" && (host == "slack.com" || strings.HasSuffix(host, ".slack.com") || strings.HasSuffix(host, ".slack-gov.com")) &&
		net.ParseIP(host) == nil
}
