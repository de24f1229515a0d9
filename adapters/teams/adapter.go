package teams

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/infracloudio/msbotbuilder-go/connector/auth"
	"github.com/infracloudio/msbotbuilder-go/core"
	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/batonbot/baton/bot"
	"github.com/batonbot/baton/flows"
)

// Service is what the adapter needs from the runtime (bot.Service has it).
type Service interface {
	Engine() *flows.Engine
	Now() time.Time
	Handle(ctx context.Context, ev flows.Event) (flows.Outcome, error)
	Apply(ctx context.Context, ev flows.Event) (flows.Outcome, bot.Result, error) // Handle, saying what became of the event
	Command(ctx context.Context, actor, platform, key, text string) (bot.Reply, error)
	Instance(ctx context.Context, id string) (*flows.Instance, error)
	Status(ctx context.Context, viewer, id string) (*flows.Message, error)
}

// Adapter is Baton in Microsoft Teams: the HTTP endpoint the Bot Connector
// calls, and the "teams" delivery platform (bot.Messenger). It is safe for
// concurrent use.
type Adapter struct {
	cfg   Config
	svc   Service
	kv    bot.KV
	log   *slog.Logger
	auth  *validator
	conn  *connector
	bf    *core.BotFrameworkAdapter
	cards *renderer

	written sync.Map // KV key -> value this process last stored, to skip rewriting the same reference
	newKey  func() string
}

var _ bot.Messenger = (*Adapter)(nil)

// New builds the adapter. It checks the configuration and does no I/O: the
// signing keys are loaded by Run (or by the first request), tokens by the
// first send.
func New(cfg Config, svc Service, kv bot.KV, log *slog.Logger) (*Adapter, error) {
	if err := cfg.check(); err != nil {
		return nil, fmt.Errorf("teams: %w", err)
	}
	cfg = cfg.withDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &Adapter{cfg: cfg, svc: svc, kv: kv, log: log, newKey: randomKey}
	a.auth = newValidator(cfg, log)
	a.conn = newConnector(cfg, log)
	a.cards = &renderer{engine: svc.Engine(), maxPeople: 100}
	// The library's adapter, composed with our validator and connector in
	// place of its own (defects D1–D6); its ParseRequest decodes and
	// authenticates each request. The password stays out of it: only our
	// connector needs it.
	a.bf = &core.BotFrameworkAdapter{
		AdapterSetting: core.AdapterSetting{AppID: cfg.AppID, CredentialProvider: auth.SimpleCredentialProvider{AppID: cfg.AppID}},
		TokenValidator: a.auth,
		Client:         a.conn,
	}
	return a, nil
}

func randomKey() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Run loads the Bot Framework signing keys and reloads them periodically,
// until ctx is cancelled. Requests that arrive first load the keys themselves.
func (a *Adapter) Run(ctx context.Context) error {
	return a.auth.run(ctx, a.cfg.KeyRefresh)
}

// Handler serves POST /api/messages, the bot's messaging endpoint.
func (a *Adapter) Handler() http.Handler { return http.HandlerFunc(a.serve) }

// serve authenticates an activity and handles it. A request that fails
// authentication gets 401 or 403 and is not looked at any further.
func (a *Adapter) serve(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
		a.log.WarnContext(r.Context(), "teams: request refused", "platform", "teams", "status", http.StatusUnauthorized, "reason", "no bearer token", "remote", r.RemoteAddr)
		w.Header().Set("WWW-Authenticate", `Bearer realm="Bot Framework"`)
		http.Error(w, "Unauthorized", http.StatusUnauthorized)
		return
	}
	// refuse answers a request that was not handled: for its token when
	// the token proves nothing, so that only a caller Teams vouches for
	// learns what else was wrong (the library authenticates only a body
	// that decodes, and a body too large is not decoded at all).
	refuse := func(status int, reason string, ae *AuthError) {
		if ae == nil {
			_, _, err := a.auth.token(r.Context(), r.Header.Get("Authorization"))
			errors.As(err, &ae)
		}
		if ae != nil {
			status, reason = ae.Status, ae.Reason
		}
		a.log.WarnContext(r.Context(), "teams: request refused", "platform", "teams", "status", status, "reason", reason, "remote", r.RemoteAddr)
		if status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="Bot Framework"`)
		}
		http.Error(w, http.StatusText(status), status)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.cfg.MaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			refuse(http.StatusRequestEntityTooLarge, "the body is larger than the limit", nil)
			return
		}
		refuse(http.StatusBadRequest, "cannot read the request body", nil)
		return
	}
	req := r.Clone(r.Context())
	req.Body = io.NopCloser(bytes.NewReader(body))
	act, err := a.bf.ParseRequest(r.Context(), req)
	if err != nil {
		// The activity is not touched: ParseRequest returns it decoded even
		// when authentication failed (defect D23).
		var ae *AuthError
		errors.As(err, &ae) // nil unless authentication failed
		refuse(http.StatusBadRequest, "the body is not a Bot Framework activity", ae)
		return
	}
	// A single-tenant bot serves its own organisation: the Bot Connector's
	// token proves the activity came through Teams, not from which tenant
	// (a multi-tenant registration, or another tenant's app package, can
	// reach the endpoint).
	if t := tenantOf(act); a.cfg.AppType == SingleTenant && !strings.EqualFold(t, a.cfg.TenantID) {
		a.log.WarnContext(r.Context(), "teams: request refused", "platform", "teams", "status", http.StatusForbidden,
			"reason", "the activity is from another tenant", "tenant", t, "remote", r.RemoteAddr)
		http.Error(w, http.StatusText(http.StatusForbidden), http.StatusForbidden)
		return
	}
	// Finish what a request started even if the connector hangs up.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 2*a.cfg.Timeout)
	defer cancel()
	a.route(ctx, w, act, body)
}

// route handles an authenticated activity by its type. The library's
// dispatcher knows only three types and must always reply (defect D20).
// body is the activity as sent: the library drops what its entities say
// (defect D21).
func (a *Adapter) route(ctx context.Context, w http.ResponseWriter, act schema.Activity, body []byte) {
	if act.From.ID == "" {
		http.Error(w, "the activity has no sender", http.StatusBadRequest)
		return
	}
	if act.ID == "" && (act.Type == schema.Message || act.Type == schema.Invoke) {
		// Its id keys what it does (its idempotency key): without one, two
		// messages or clicks would be taken for one.
		http.Error(w, "the activity has no id", http.StatusBadRequest)
		return
	}
	a.remember(ctx, act)
	switch act.Type {
	case schema.Message:
		a.onMessage(ctx, act, mentionsIn(body))
	case schema.Invoke:
		a.onInvoke(ctx, w, act)
		return
	case schema.InstallationUpdate:
		a.onInstall(ctx, act)
	case schema.MsgReaction:
		a.onReaction(ctx, act)
	}
	w.WriteHeader(http.StatusOK)
}

// actor is the directory person behind an activity: by Teams user id, else
// by Entra object id, else "teams:<user id>" for people not in the directory.
func (a *Adapter) actor(act schema.Activity) string {
	dir := a.svc.Engine().Directory()
	for _, id := range []string{act.From.ID, act.From.AadObjectID} {
		if id != "" {
			if p := dir.Resolve("teams", id); !strings.HasPrefix(p, "teams:") {
				return p
			}
		}
	}
	return dir.Resolve("teams", act.From.ID)
}

var (
	mentionRE = regexp.MustCompile(`(?s)<at>.*?</at>`)
	emojiRE   = regexp.MustCompile(`<(?:img|emoji)\b[^>]*>`)
	altRE     = regexp.MustCompile(`\balt="([^"]*)"`)
	tagRE     = regexp.MustCompile(`<[^>]*>`)
)

// emojiText is an emoji's text: the alt of an <emoji> tag, or of an image
// Teams marks as an emoji (itemtype http://schema.skype.com/Emoji). Any
// other image (a pasted screenshot, alt "image") is no text at all.
func emojiText(tag string) string {
	if strings.HasPrefix(tag, "<img") && !strings.Contains(tag, "schema.skype.com/Emoji") {
		return " "
	}
	if m := altRE.FindStringSubmatch(tag); m != nil {
		return " " + m[1] + " "
	}
	return " "
}

// commandText is what a person typed, without the bot's @mention (in
// channels), markup and a leading "/baton" typed out of Slack habit. An
// emoji, which Teams sends as an image whose alt text is the emoji, is
// kept as that text ("lgtm 👍").
func commandText(text string) string {
	text = mentionRE.ReplaceAllString(text, " ")
	text = emojiRE.ReplaceAllStringFunc(text, emojiText)
	text = tagRE.ReplaceAllString(text, " ")
	text = strings.Join(strings.Fields(html.UnescapeString(text)), " ") // markup's gaps and &nbsp; are one space
	for _, p := range []string{"/baton", "baton"} {
		if rest, ok := strings.CutPrefix(strings.ToLower(text), p+" "); ok {
			text = strings.TrimSpace(text[len(text)-len(rest):])
		}
	}
	return text
}

// mention is an @mention in a message: its text ("<at>Carol Diaz</at>") and
// whom it names.
type mention struct {
	Type      string `json:"type"`
	Text      string `json:"text"`
	Mentioned struct {
		ID   string `json:"id"`
		Name string `json:"name"`
		AAD  string `json:"aadObjectId"`
	} `json:"mentioned"`
}

// mentionsIn returns the mentions among an activity's entities.
func mentionsIn(body []byte) []mention {
	var raw struct {
		Entities []mention `json:"entities"`
	}
	_ = json.Unmarshal(body, &raw) // the library decoded it already: only the entities may be missing
	return slices.DeleteFunc(raw.Entities, func(m mention) bool { return m.Type != "mention" || m.Text == "" })
}

// namePeople writes each @mention in text for the command: the person a
// command takes (delegate's, away's: the first mention) as whom it names,
// their directory id (by Teams user id, else Entra object id), or, for
// someone the directory lacks, their Teams identity ("teams:29:…"), which
// no command takes for a directory person (names maps it to the name
// shown, for the answer); any other mention, in a comment or a reason, as
// "@" and their name. The bot's is dropped, however it is written or
// split (the new client sends one mention per word, as it does a person's:
// the parts of one mention are written once). A mention no entity
// explains keeps its text, for the command to refuse, unless it is the
// bot's name.
func (a *Adapter) namePeople(act schema.Activity, mentions []mention) (text string, names map[string]string) {
	text = act.Text
	dir := a.svc.Engine().Directory()
	slot := flows.ParseCommand(commandText(mentionRE.ReplaceAllString(act.Text, " "))).Verb.TakesPerson() // the first mention is the person
	// In the order they are written: the entities' order is not promised.
	// The n-th entity of a text is its n-th occurrence.
	type placed struct {
		m  mention
		at int
	}
	ordered := make([]placed, len(mentions))
	seen := map[string]int{}
	for i, m := range mentions {
		ordered[i] = placed{m, len(act.Text)}
		for _, w := range []string{m.Text, strings.ReplaceAll(html.UnescapeString(m.Text), "&", "&amp;")} {
			if j := nthIndex(act.Text, w, seen[m.Text]); j >= 0 {
				ordered[i].at = j
				break
			}
		}
		seen[m.Text]++
	}
	slices.SortStableFunc(ordered, func(x, y placed) int { return cmp.Compare(x.at, y.at) })
	mentions = make([]mention, len(ordered))
	for i, p := range ordered {
		mentions[i] = p.m
	}
	lastID, lastEnd := "", 0
	for _, m := range mentions {
		if m.Mentioned.ID == "" {
			continue
		}
		// As sent in the text, where "&" is "&amp;".
		at, written := -1, ""
		for _, w := range []string{m.Text, strings.ReplaceAll(html.UnescapeString(m.Text), "&", "&amp;")} {
			if i := strings.Index(text[lastEnd:], w); i >= 0 {
				at, written = lastEnd+i, w
				break
			}
		}
		if at < 0 {
			continue // written otherwise: left to the fallback below
		}
		who := ""
		switch {
		case m.Mentioned.ID == act.Recipient.ID:
		case m.Mentioned.ID == lastID && strings.TrimSpace(html.UnescapeString(tagRE.ReplaceAllString(text[lastEnd:at], ""))) == "":
			// the next part of the mention just written
		default:
			p := dir.Resolve("teams", m.Mentioned.ID)
			if m.Mentioned.AAD != "" && strings.HasPrefix(p, "teams:") {
				if q := dir.Resolve("teams", m.Mentioned.AAD); !strings.HasPrefix(q, "teams:") {
					p = q
				}
			}
			switch {
			case slot:
				slot, who = false, p
				if strings.HasPrefix(p, "teams:") && m.Mentioned.Name != "" {
					if names == nil {
						names = map[string]string{}
					}
					names[p] = m.Mentioned.Name
				}
			case strings.HasPrefix(p, "teams:"): // a name of their own choosing, said to be
				who = "@" + cmp.Or(m.Mentioned.Name, strings.TrimSpace(html.UnescapeString(tagRE.ReplaceAllString(m.Text, "")))) + " (outside the directory)"
			default:
				who = "@" + dir.Name(p)
			}
		}
		replaced := " " + html.EscapeString(who) + " " // a word of the command, or nothing
		if strings.HasPrefix(who, "@") {
			replaced = html.EscapeString(who) // a name in the text, as written
		}
		text = text[:at] + replaced + text[at+len(written):]
		lastID, lastEnd = m.Mentioned.ID, at+len(replaced)
	}
	text = mentionRE.ReplaceAllStringFunc(text, func(at string) string {
		name := strings.TrimSpace(html.UnescapeString(tagRE.ReplaceAllString(at, "")))
		if strings.EqualFold(name, act.Recipient.Name) || name == "" {
			return " "
		}
		return " " + html.EscapeString(name) + " "
	})
	return text, names
}

// shownAs writes the Teams identities of people the directory lacks in an
// answer as the names their mentions showed.
func shownAs(m *flows.Message, names map[string]string) {
	shown := map[string]string{}
	for id, name := range names {
		shown[id] = "@" + name
	}
	r := idReplacer{shown} // whole identities only, as named
	m.Title, m.Text = r.Replace(m.Title), r.Replace(m.Text)
}

// onMessage answers a typed command in the same conversation.
func (a *Adapter) onMessage(ctx context.Context, act schema.Activity, mentions []mention) {
	named, names := a.namePeople(act, mentions)
	text := commandText(named)
	if text == "" {
		return // a file, a reaction-like message or an old client's card submit: nothing to do
	}
	if a.onReply(ctx, act, text) {
		return
	}
	actor := a.actor(act)
	rep, err := a.svc.Command(ctx, actor, "teams", "teams:"+act.ID, text)
	var c card
	switch {
	case err != nil:
		a.log.ErrorContext(ctx, "teams: command failed", "platform", "teams", "user", actor, "err", err)
		c = a.cards.message(&flows.Message{Kind: flows.MsgInfo, Title: "Something went wrong; it was logged. Try again."}, "")
	case rep.Form != nil:
		c = a.startForm(rep.Form, actor, nil, nil, a.newKey())
	case rep.Message != nil:
		shownAs(rep.Message, names)
		m := a.named(ctx, rep.Message)
		c = a.cards.message(m, viewOf(m))
	default:
		return
	}
	if act.Conversation.ConversationType != "personal" {
		switch {
		case rep.Message == nil || rep.Message.Kind != flows.MsgHelp:
			a.answerPrivately(ctx, act, actor, c, text, flows.ParseCommand(text).Verb.Changes() && !rep.Refused && rep.Form == nil)
			return
		case rep.Message.Text != "" && !(flows.ParseCommand(text).Verb == flows.VerbStart && flows.ParseCommand(text).Arg == ""):
			// Not a command ("@Baton lgtm" from someone it asks nothing
			// of), or a flow mistyped: the note alone, not the whole help
			// card, for everyone in the channel to read. (start alone
			// gets the flows to pick from.)
			note := strings.TrimSpace(rep.Message.Text)
			if !strings.HasSuffix(note, ".") && !strings.HasSuffix(note, "?") {
				note += "."
			}
			c = a.cards.message(&flows.Message{Kind: flows.MsgInfo, Title: note + " Mention me with help to see what I can do."}, "")
		}
	}
	a.answer(ctx, act, c, text)
}

// nthIndex is where the n-th (from 0) occurrence of sub starts in s, or -1.
func nthIndex(s, sub string, n int) int {
	from := 0
	for {
		i := strings.Index(s[from:], sub)
		if i < 0 || sub == "" {
			return -1
		}
		if n == 0 {
			return from + i
		}
		n, from = n-1, from+i+len(sub)
	}
}

// answerPrivately answers a command typed in a channel or a group chat in
// the person's 1:1 chat with Baton, and says so where they typed it: the
// others there would read a request's timeline, its reasons and form
// values, or someone's tasks. (Slack answers such a command for the person
// alone; Teams has no message for one person in a conversation.)
func (a *Adapter) answerPrivately(ctx context.Context, act schema.Activity, actor string, c card, summary string, done bool) {
	note := "I answered you in your chat with Baton."
	conv, err := a.conversation(ctx, bot.Address{Person: actor, ID: act.From.ID})
	if err == nil {
		_, err = a.conn.send(ctx, conv.ServiceURL, conv.Conversation, cardActivity(c, summary))
	}
	if err != nil {
		a.log.WarnContext(ctx, "teams: answer in the person's chat", "platform", "teams", "user", actor, "err", err)
		note = "I could not reach your chat with Baton to answer you there: open Baton in Teams (Apps), then type it there."
		if done { // only its answer did not reach them: typed again, it would be done twice
			note = "I could not reach your chat with Baton to answer you there. What you asked is done: do not type it again. Open Baton in Teams (Apps) once, and answers will reach you there."
		}
	}
	a.answer(ctx, act, a.cards.message(&flows.Message{Kind: flows.MsgInfo, Title: note}, ""), note)
}

func viewOf(m *flows.Message) string {
	if m.Kind == flows.MsgList {
		return "list"
	}
	return ""
}

// answer posts a card as the reply to an activity.
func (a *Adapter) answer(ctx context.Context, act schema.Activity, c card, summary string) {
	out := cardActivity(c, summary)
	var err error
	if act.ID != "" {
		_, err = a.conn.reply(ctx, act.ServiceURL, act.Conversation.ID, act.ID, out)
	} else {
		_, err = a.conn.send(ctx, act.ServiceURL, act.Conversation.ID, out)
	}
	if err != nil {
		a.log.ErrorContext(ctx, "teams: answer", "platform", "teams", "user", act.From.ID, "err", err)
	}
}

func cardActivity(c card, summary string) *outActivity {
	return &outActivity{Type: "message", Summary: summary, Attachments: []schema.Attachment{attachment(c)}}
}

// onInstall welcomes a person who added Baton for themselves.
func (a *Adapter) onInstall(ctx context.Context, act schema.Activity) {
	if !strings.HasPrefix(act.Action, "add") || act.Conversation.ConversationType != "personal" {
		return
	}
	m := a.svc.Engine().Help("Hi, I'm Baton. I bring you the approvals and tasks waiting on you, and keep your requests moving. Type a command, or start a request below.")
	a.answer(ctx, act, a.cards.message(m, ""), "Welcome to Baton")
}

// startForm is a flow's start form, for requester. key makes its
// submission idempotent.
func (a *Adapter) startForm(def *flows.Definition, requester string, values map[string]string, errs flows.FieldErrors, key string) card {
	var intro []string
	if d := strings.TrimSpace(def.Description); d != "" {
		intro = append(intro, d)
	}
	return a.cards.form(form{def: def, requester: requester, today: a.today(requester), title: "Start: " + def.Name, intro: intro, values: values, errors: errs, verb: verbStart,
		data: map[string]any{keyFlow: def.ID, keyKey: key}, submit: "Submit"})
}

// resubmitForm is the form of a request sent back to its requester,
// pre-filled with what they sent.
func (a *Adapter) resubmitForm(def *flows.Definition, in *flows.Instance, values map[string]string, errs flows.FieldErrors, key string) card {
	var intro []string
	if in.Outcome != "" {
		intro = append(intro, "Reason given: "+in.Outcome)
	}
	return a.cards.form(form{def: def, requester: in.Requester, today: a.today(in.Requester), title: fmt.Sprintf("Edit and resubmit %s: %s", in.ID, in.Title), intro: intro, values: values, errors: errs,
		verb: verbResubmit, data: map[string]any{keyInstance: in.ID, keyKey: key}, note: true, submit: "Resubmit"})
}

// today is now where person is: their date pickers' bounds count from it.
func (a *Adapter) today(person string) time.Time {
	return a.svc.Now().In(a.svc.Engine().Directory().Location(person))
}

// Platform implements bot.Messenger.
func (a *Adapter) Platform() string { return "teams" }
