package teams

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/infracloudio/msbotbuilder-go/connector/client"
	"github.com/infracloudio/msbotbuilder-go/schema"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"golang.org/x/time/rate"

	"github.com/batonbot/baton/bot"
)

// APIError is an error answer of the Bot Connector.
type APIError struct {
	Method, URL string
	Status      int
	Code        string // the connector's error code, e.g. ConversationNotFound
	Message     string
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("%s %s: HTTP %d", e.Method, e.URL, e.Status)
	if e.Code != "" || e.Message != "" {
		msg += fmt.Sprintf(" %s: %s", e.Code, e.Message)
	}
	return msg
}

// outActivity is what we send. The library's schema.Activity marshals
// zero-valued structs and times (defect D21), so outbound activities are
// our own minimal shape.
type outActivity struct {
	Type        string              `json:"type"`
	ID          string              `json:"id,omitempty"`
	Text        string              `json:"text,omitempty"`
	TextFormat  string              `json:"textFormat,omitempty"`
	Summary     string              `json:"summary,omitempty"`
	ReplyToID   string              `json:"replyToId,omitempty"`
	Attachments []schema.Attachment `json:"attachments,omitempty"`
}

// conversationParams is the body of a create-conversation call (the
// library's ConversationParameters also carries a zero Activity).
type conversationParams struct {
	IsGroup     bool                    `json:"isGroup"`
	Bot         schema.ChannelAccount   `json:"bot"`
	Members     []schema.ChannelAccount `json:"members"`
	TenantID    string                  `json:"tenantId,omitempty"`
	ChannelData map[string]any          `json:"channelData,omitempty"`
}

// connector calls the Bot Connector REST API (v3) of a serviceUrl. It
// replaces the library's ConnectorClient (defects D1, D12–D18): tokens come
// from the tenant's endpoint through a cached, mutex-guarded token source;
// every call has a context and a timeout; 429/412/502/504 are retried
// honouring Retry-After; sends are paced per conversation; and the new
// activity's id is returned. It is safe for concurrent use.
type connector struct {
	tokens   oauth2.TokenSource
	tokenURL string
	http     *http.Client
	timeout  time.Duration
	attempts int
	maxWait  time.Duration
	pace     *pacer
	log      *slog.Logger
	sleep    func(ctx context.Context, d time.Duration) error
}

var _ client.Client = (*connector)(nil)

func newConnector(cfg Config, log *slog.Logger) *connector {
	cc := &clientcredentials.Config{ClientID: cfg.AppID, ClientSecret: cfg.AppPassword, TokenURL: cfg.TokenURL,
		Scopes: []string{cfg.Scope}, AuthStyle: oauth2.AuthStyleInParams}
	hc := cfg.HTTPClient
	timeout := cfg.Timeout
	// ReuseTokenSourceWithExpiry serialises refreshes behind a mutex (no
	// stampede) and renews 5 minutes before expiry, so no request leaves with
	// a token that expires in flight.
	fetch := tokenFunc(func() (*oauth2.Token, error) {
		ctx, cancel := context.WithTimeout(context.WithValue(context.Background(), oauth2.HTTPClient, hc), timeout)
		defer cancel()
		return cc.Token(ctx)
	})
	return &connector{tokens: oauth2.ReuseTokenSourceWithExpiry(nil, fetch, 5*time.Minute), tokenURL: cfg.TokenURL,
		http: hc, timeout: timeout, attempts: cfg.Attempts, maxWait: cfg.MaxRetryWait,
		pace: newPacer(cfg.Pace, cfg.Burst, cfg.GlobalPace), log: log, sleep: bot.Sleep}
}

type tokenFunc func() (*oauth2.Token, error)

func (f tokenFunc) Token() (*oauth2.Token, error) { return f() }

func conversationURL(serviceURL, conv string, rest ...string) (string, error) {
	u, err := url.Parse(serviceURL)
	if err != nil || u.Host == "" {
		return "", bot.Permanent(fmt.Errorf("service URL %q is not a URL", serviceURL))
	}
	// The bearer token goes to this host: refuse anything but https, except
	// on this machine (tests and local tunnels).
	if u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname())) {
		return "", bot.Permanent(fmt.Errorf("service URL %q is not https", serviceURL))
	}
	p := strings.TrimRight(serviceURL, "/") + "/v3/conversations"
	if conv != "" {
		p += "/" + url.PathEscape(conv)
	}
	for _, r := range rest {
		p += "/" + url.PathEscape(r)
	}
	return p, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// send posts an activity to a conversation and returns its id.
func (c *connector) send(ctx context.Context, serviceURL, conv string, act *outActivity) (string, error) {
	u, err := conversationURL(serviceURL, conv, "activities")
	if err != nil {
		return "", err
	}
	var res schema.ResourceResponse
	err = c.do(ctx, http.MethodPost, u, conv, act, &res)
	return res.ID, err
}

// reply posts an activity as a reply to another (in its thread, in a
// channel) and returns its id. The library posts replies as new messages
// (defect D18).
func (c *connector) reply(ctx context.Context, serviceURL, conv, replyTo string, act *outActivity) (string, error) {
	u, err := conversationURL(serviceURL, conv, "activities", replyTo)
	if err != nil {
		return "", err
	}
	act.ReplyToID = replyTo
	var res schema.ResourceResponse
	err = c.do(ctx, http.MethodPost, u, conv, act, &res)
	return res.ID, err
}

// update replaces an activity.
func (c *connector) update(ctx context.Context, serviceURL, conv, id string, act *outActivity) error {
	u, err := conversationURL(serviceURL, conv, "activities", id)
	if err != nil {
		return err
	}
	act.ID = id
	return c.do(ctx, http.MethodPut, u, conv, act, nil)
}

// createConversation opens (or finds: Teams returns the same one again) the
// 1:1 chat of the bot with a user and returns its id.
func (c *connector) createConversation(ctx context.Context, serviceURL string, p conversationParams) (string, error) {
	u, err := conversationURL(serviceURL, "")
	if err != nil {
		return "", err
	}
	var res schema.ConversationResourceResponse
	if err := c.do(ctx, http.MethodPost, u, "create:"+p.TenantID, p, &res); err != nil {
		return "", err
	}
	if res.ID == "" {
		return "", fmt.Errorf("create a conversation at %s: the answer has no conversation id", serviceURL)
	}
	return res.ID, nil
}

// encode is v as JSON without HTML escapes: "<", ">" and "&" would take
// six bytes each of a message whose size Teams limits.
func encode(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// do makes one API call with retries. Errors retrying cannot fix are
// bot.Permanent; a rate limit longer than maxWait, or still there after the
// last attempt, is a *bot.RetryAfterError for the dispatcher to wait out.
func (c *connector) do(ctx context.Context, method, u, conv string, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = encode(in); err != nil {
			return bot.Permanent(fmt.Errorf("%s %s: %w", method, u, err))
		}
	}
	backoff := 500 * time.Millisecond
	for attempt := 1; ; attempt++ {
		if err := c.pace.wait(ctx, conv, c.sleep); err != nil {
			return err
		}
		status, wait, err := c.once(ctx, method, u, body, out)
		if err == nil {
			return nil
		}
		retryable := status == http.StatusTooManyRequests || status == http.StatusPreconditionFailed ||
			status == http.StatusBadGateway || status == http.StatusGatewayTimeout
		if !retryable {
			return err
		}
		if wait <= 0 {
			wait = backoff/2 + rand.N(backoff/2+1)
			backoff *= 2
		}
		if attempt >= c.attempts || wait > c.maxWait {
			if status == http.StatusTooManyRequests {
				return &bot.RetryAfterError{After: wait, Err: err}
			}
			return err
		}
		c.log.DebugContext(ctx, "teams: connector call will be retried", "platform", "teams", "status", status, "in", wait, "attempt", attempt)
		if err := c.sleep(ctx, wait); err != nil {
			return err
		}
	}
}

// once makes one HTTP request. It returns the status (0 without an
// answer) and the Retry-After the connector asked for.
func (c *connector) once(ctx context.Context, method, u string, body []byte, out any) (int, time.Duration, error) {
	tok, err := c.tokens.Token()
	if err != nil {
		return 0, 0, c.tokenError(err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return 0, 0, bot.Permanent(fmt.Errorf("%s %s: %w", method, u, err))
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, 0, fmt.Errorf("%s %s: %w", method, u, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, 0, fmt.Errorf("%s %s: read the answer: %w", method, u, err)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if out != nil && len(bytes.TrimSpace(data)) > 0 {
			if err := json.Unmarshal(data, out); err != nil {
				return resp.StatusCode, 0, fmt.Errorf("%s %s: decode the answer: %w", method, u, err)
			}
		}
		return resp.StatusCode, 0, nil
	}
	apiErr := &APIError{Method: method, URL: u, Status: resp.StatusCode}
	var e schema.ErrorResponse
	if json.Unmarshal(data, &e) == nil {
		apiErr.Code, apiErr.Message = e.Error.Code, e.Error.Message
	}
	wait := retryAfter(resp.Header.Get("Retry-After"), time.Now())
	switch {
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 || resp.StatusCode == http.StatusPreconditionFailed:
		return resp.StatusCode, wait, apiErr
	case resp.StatusCode == http.StatusRequestTimeout:
		return resp.StatusCode, wait, apiErr
	}
	// Other 4xx (bad request, bot not in the conversation, blocked by the
	// user, conversation gone, credentials refused) do not heal by retrying.
	return resp.StatusCode, 0, bot.Permanent(apiErr)
}

// tokenError explains a failed token request. A refusal of the
// credentials is permanent; an unreachable or failing endpoint is not.
func (c *connector) tokenError(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode >= 400 && re.Response.StatusCode < 500 {
		return bot.Permanent(fmt.Errorf("get a Bot Framework token from %s: %s %s; check MicrosoftAppId, MicrosoftAppPassword, "+
			"MicrosoftAppTenantId and MicrosoftAppType", c.tokenURL, re.ErrorCode, re.ErrorDescription))
	}
	return fmt.Errorf("get a Bot Framework token from %s: %w", c.tokenURL, err)
}

// retryAfter reads a Retry-After header: seconds or an HTTP date.
func retryAfter(h string, now time.Time) time.Duration {
	if h == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(h)); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// The library's client.Client, so that the composed BotFrameworkAdapter is
// complete. Baton's own paths call send, reply and update, which take a
// context and return the activity id; these use a timeout instead.

// Post implements client.Client.
func (c *connector) Post(u url.URL, act schema.Activity) error {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout*time.Duration(c.attempts))
	defer cancel()
	return c.do(ctx, http.MethodPost, u.String(), act.Conversation.ID, fromSchema(act), nil)
}

// Put implements client.Client.
func (c *connector) Put(u url.URL, act schema.Activity) error {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout*time.Duration(c.attempts))
	defer cancel()
	return c.do(ctx, http.MethodPut, u.String(), act.Conversation.ID, fromSchema(act), nil)
}

// Delete implements client.Client.
func (c *connector) Delete(u url.URL, act schema.Activity) error {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout*time.Duration(c.attempts))
	defer cancel()
	return c.do(ctx, http.MethodDelete, u.String(), act.Conversation.ID, nil, nil)
}

func fromSchema(a schema.Activity) *outActivity {
	return &outActivity{Type: string(a.Type), ID: a.ID, Text: a.Text, TextFormat: string(a.TextFormat), Summary: a.Summary,
		ReplyToID: a.ReplyToID, Attachments: a.Attachments}
}

// pacer keeps sends within Teams' limits: a token bucket per conversation
// (Teams counts per bot and thread) and one overall.
type pacer struct {
	limit  rate.Limit
	burst  int
	global *rate.Limiter

	mu    sync.Mutex
	convs map[string]*convLimiter
}

type convLimiter struct {
	lim  *rate.Limiter
	used time.Time
}

func newPacer(limit rate.Limit, burst int, global rate.Limit) *pacer {
	globalBurst := 1
	if global != rate.Inf {
		globalBurst = max(1, int(global))
	}
	return &pacer{limit: limit, burst: burst, global: rate.NewLimiter(global, globalBurst), convs: map[string]*convLimiter{}}
}

// delay reserves a send to conv at now and says how long to wait before it.
// A channel's threads ("<channel>;messageid=<root>") share the channel's
// limit: Teams counts the channel.
func (p *pacer) delay(conv string, now time.Time) time.Duration {
	conv = channelOf(conv)
	p.mu.Lock()
	defer p.mu.Unlock()
	cl := p.convs[conv]
	if cl == nil {
		if len(p.convs) >= 10000 {
			// A limiter idle longer than it takes to refill is as good as a
			// new one: forget those.
			full := time.Duration(float64(p.burst)/float64(p.limit)*float64(time.Second)) + time.Second
			for k, v := range p.convs {
				if now.Sub(v.used) > full {
					delete(p.convs, k)
				}
			}
		}
		cl = &convLimiter{lim: rate.NewLimiter(p.limit, p.burst)}
		p.convs[conv] = cl
	}
	cl.used = now
	return max(cl.lim.ReserveN(now, 1).DelayFrom(now), p.global.ReserveN(now, 1).DelayFrom(now))
}

// wait blocks until a send to conv may go.
func (p *pacer) wait(ctx context.Context, conv string, sleep func(context.Context, time.Duration) error) error {
	if d := p.delay(conv, time.Now()); d > 0 {
		return sleep(ctx, d)
	}
	return ctx.Err()
}
