package teams

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/batonbot/baton/bot"
	"github.com/batonbot/baton/flows"
)

// kvNamespace holds the adapter's shared values (bot.KV):
//
//	user:<Teams user id or Entra object id>  convRef of the person's 1:1 chat with the bot
//	channel:<Teams conversation id>          convRef of a channel or group chat
//	tenant:<tenant id>                       the serviceUrl the tenant's activities came from
//	offer:<instance>:<n>                     a question a reaction or a reply asked (offered), kept to close it
const kvNamespace = "teams"

// convRef is a conversation Baton can post to: the part of a Bot Framework
// conversation reference that proactive messages need.
type convRef struct {
	ServiceURL   string `json:"serviceUrl"`
	Conversation string `json:"conversation"`
	Tenant       string `json:"tenant,omitempty"`
	User         string `json:"user,omitempty"` // personal chats: the person's Teams user id (29:…)
	AAD          string `json:"aad,omitempty"`  // and Entra object id
	Bot          string `json:"bot,omitempty"`
	Type         string `json:"type,omitempty"` // personal, channel, groupChat
}

// cardRef is a sent card: what Send returns, the dispatcher stores, and
// Update (or a reply in the card's thread) gets back.
type cardRef struct {
	ServiceURL   string `json:"s"`
	Conversation string `json:"c"` // where it was posted: what Update puts it back to
	Activity     string `json:"a"`
	// Thread is the conversation of the channel thread the card starts or
	// is in ("<channel>;messageid=<root>"), where replies to it go: Teams
	// posts a reply made to a channel's own id as a new message, not in the
	// thread (microsoft/botframework-sdk#6626, BotFramework-Services#356).
	// Empty in chats, which have no threads.
	Thread string `json:"t,omitempty"`
	// Person is the directory id of the person whose chat it is in ("" in
	// a channel, and in references kept before it was): their timezone is
	// the one its times are shown in.
	Person string `json:"p,omitempty"`
}

// threadOf is the conversation id of a channel's thread whose first
// message is root; channelOf is the channel of a conversation id, a
// thread's or the channel's own.
func threadOf(channel, root string) string { return channel + ";messageid=" + root }

func channelOf(conv string) string {
	channel, _, _ := strings.Cut(conv, ";")
	return channel
}

// isChannel reports whether conv is a Teams channel's own id (a standard
// channel's, "19:…@thread.tacv2"), not a thread's or a chat's (a group
// chat's ends "@thread.v2").
func isChannel(conv string) bool {
	return strings.HasSuffix(conv, "@thread.tacv2") && channelOf(conv) == conv
}

// thread returns the conversation replies to the card go to: its thread,
// or, for a card posted in a channel before references kept their thread,
// the thread the card started (only a first card is ever replied to, and
// a first card is a new post, never a reply); "" for a card in a chat.
func (r cardRef) thread() string {
	if r.Thread == "" && isChannel(r.Conversation) {
		return threadOf(r.Conversation, r.Activity)
	}
	return r.Thread
}

func (r cardRef) String() string {
	b, _ := json.Marshal(r)
	return string(b)
}

func parseRef(s string) (cardRef, error) {
	var r cardRef
	if err := json.Unmarshal([]byte(s), &r); err != nil || r.ServiceURL == "" || r.Conversation == "" || r.Activity == "" {
		return cardRef{}, fmt.Errorf("%q is not a Teams card reference", s)
	}
	return r, nil
}

// dig reads a string at a path of nested JSON objects.
func dig(m map[string]any, path ...string) string {
	var cur any = m
	for _, p := range path {
		obj, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = obj[p]
	}
	s, _ := cur.(string)
	return s
}

func tenantOf(act schema.Activity) string {
	if t := dig(act.ChannelData, "tenant", "id"); t != "" {
		return t
	}
	return act.Conversation.TenantID
}

// remember captures the conversation references an activity carries, so
// Baton can later message people and channels proactively. Every activity
// counts (installs, first messages, clicks): it is the Bot Framework's only
// way to learn them. Failures are logged, not fatal.
func (a *Adapter) remember(ctx context.Context, act schema.Activity) {
	// Someone the directory lacks is named on cards by their Teams id,
	// which nobody can read: the name Teams gives them is kept to show.
	if who := a.actor(act); strings.HasPrefix(who, "teams:") && act.From.Name != "" && act.From.ID != act.Recipient.ID {
		a.put(ctx, "name:"+act.From.ID, act.From.Name)
	}
	tenant := tenantOf(act)
	if tenant != "" && act.ServiceURL != "" {
		a.put(ctx, "tenant:"+tenant, act.ServiceURL)
	}
	base := channelOf(act.Conversation.ID)
	if base == "" || act.ServiceURL == "" {
		return
	}
	switch act.Conversation.ConversationType {
	case "personal":
		if act.From.ID == act.Recipient.ID {
			return
		}
		ref := convRef{ServiceURL: act.ServiceURL, Conversation: base, Tenant: tenant, User: act.From.ID, AAD: act.From.AadObjectID,
			Bot: act.Recipient.ID, Type: "personal"}
		a.putRef(ctx, "user:"+act.From.ID, ref)
		if act.From.AadObjectID != "" {
			a.putRef(ctx, "user:"+act.From.AadObjectID, ref)
		}
	default:
		ref := convRef{ServiceURL: act.ServiceURL, Conversation: base, Tenant: tenant, Bot: act.Recipient.ID, Type: act.Conversation.ConversationType}
		a.putRef(ctx, "channel:"+base, ref)
		for _, id := range []string{dig(act.ChannelData, "channel", "id"), dig(act.ChannelData, "team", "id")} {
			if id != "" && id != base {
				ch := ref
				ch.Conversation = id
				a.putRef(ctx, "channel:"+id, ch)
			}
		}
	}
}

func (a *Adapter) putRef(ctx context.Context, key string, ref convRef) {
	b, _ := json.Marshal(ref)
	a.put(ctx, key, string(b))
}

// put stores a shared value unless this process already stored the same.
func (a *Adapter) put(ctx context.Context, key, value string) {
	if old, ok := a.written.Load(key); ok && old == value {
		return
	}
	if err := a.kv.SetValue(ctx, kvNamespace, key, value, 0); err != nil {
		a.log.WarnContext(ctx, "teams: store a conversation reference", "platform", "teams", "key", key, "err", err)
		return
	}
	a.written.Store(key, value)
}

func (a *Adapter) lookup(ctx context.Context, key string) (convRef, bool, error) {
	v, ok, err := a.kv.GetValue(ctx, kvNamespace, key)
	if err != nil || !ok {
		return convRef{}, false, err
	}
	var ref convRef
	if err := json.Unmarshal([]byte(v), &ref); err != nil || ref.ServiceURL == "" || ref.Conversation == "" {
		return convRef{}, false, nil // unreadable: as if unknown, it is rewritten on next contact
	}
	return ref, true, nil
}

// serviceURL is where to reach a tenant: the serviceUrl its activities came
// from, else the configured default.
func (a *Adapter) serviceURL(ctx context.Context, tenant string) (string, error) {
	if tenant != "" {
		v, ok, err := a.kv.GetValue(ctx, kvNamespace, "tenant:"+tenant)
		if err != nil {
			return "", err
		}
		if ok && v != "" {
			return v, nil
		}
	}
	return a.cfg.ServiceURL, nil
}

// Reach implements bot.Messenger: people with a Teams id in the directory
// (or who wrote to Baton from Teams), and channels with a Teams id.
func (a *Adapter) Reach(to flows.Recipient) (bot.Address, bool) {
	dir := a.svc.Engine().Directory()
	if to.Channel != "" {
		if ch, ok := dir.Channel(to.Channel); ok && ch.Teams != "" {
			return bot.Address{Channel: to.Channel, ID: ch.Teams}, true
		}
		return bot.Address{}, false
	}
	if id := dir.Identity(to.Person, "teams"); id != "" {
		return bot.Address{Person: to.Person, ID: id}, true
	}
	return bot.Address{}, false
}

// named writes the people a message names by their Teams identity (people
// the directory lacks: Message.Mentions) by the names Teams gave them, as
// far as Baton has seen them (remember).
func (a *Adapter) named(ctx context.Context, m *flows.Message) *flows.Message {
	names := map[string]string{}
	for _, id := range m.Mentions {
		if user, ok := strings.CutPrefix(id, "teams:"); ok {
			if name, found, err := a.kv.GetValue(ctx, kvNamespace, "name:"+user); err == nil && found && name != "" {
				// Said to be a name of Baton's own choosing: anyone may
				// call themselves anything, a directory person's name too.
				names[id] = name + " (outside the directory)"
			}
		}
	}
	if len(names) == 0 {
		return m
	}
	r := idReplacer{names}
	c := *m
	c.Title, c.Text, c.Outcome = r.Replace(c.Title), r.Replace(c.Text), r.Replace(c.Outcome)
	c.Context = slices.Clone(c.Context)
	for i := range c.Context {
		c.Context[i] = r.Replace(c.Context[i])
	}
	c.Fields = slices.Clone(c.Fields)
	for i := range c.Fields {
		c.Fields[i].Value = r.Replace(c.Fields[i].Value)
	}
	c.Items = slices.Clone(c.Items)
	for i := range c.Items {
		c.Items[i].Title, c.Items[i].Text = r.Replace(c.Items[i].Title), r.Replace(c.Items[i].Text)
	}
	return &c
}

// teamsIdentity is a Teams identity as the engine names someone outside the
// directory ("teams:29:1…").
var teamsIdentity = regexp.MustCompile(`teams:[A-Za-z0-9:._-]+`)

// idReplacer writes whole Teams identities by name (one that is the start
// of a longer one is not touched there).
type idReplacer struct{ names map[string]string }

func (r idReplacer) Replace(s string) string {
	return teamsIdentity.ReplaceAllStringFunc(s, func(id string) string {
		if name, ok := r.names[id]; ok {
			return name
		}
		// An identity at the end of a sentence: its full stop is not part
		// of it.
		if trimmed := strings.TrimRight(id, ".:_-"); r.names[trimmed] != "" {
			return r.names[trimmed] + id[len(trimmed):]
		}
		return id
	})
}

// localized is m with a closed card's time (which the engine writes in
// UTC when one update closes the card for everyone who has it) in the zone
// of person, whose chat the card is in: the directory's, else the working
// hours' (that of channels, person ""), as every other time Baton shows.
func (a *Adapter) localized(m *flows.Message, person string) *flows.Message {
	if m.At.IsZero() {
		return m
	}
	out := m.OutcomeIn(a.svc.Engine().Directory().Location(person))
	if out == m.Outcome {
		return m
	}
	c := *m
	c.Outcome = out
	return &c
}

// Send implements bot.Messenger: it posts m as an Adaptive Card in the
// person's 1:1 chat with Baton (opened when needed) or in the channel, or as
// a reply to the card thread refers to.
func (a *Adapter) Send(ctx context.Context, to bot.Address, m *flows.Message, thread string) (string, error) {
	m = a.named(ctx, a.localized(m, to.Person))
	act := cardActivity(a.cards.message(m, viewOf(m)), m.Title)
	if thread != "" {
		if r, err := parseRef(thread); err == nil {
			thread := r.thread()
			conv := cmp.Or(thread, r.Conversation)
			id, err := a.conn.reply(ctx, r.ServiceURL, conv, r.Activity, act)
			if err != nil {
				return "", fmt.Errorf("teams: reply to %s in %s: %w", r.Activity, conv, err)
			}
			if id == "" {
				return "", fmt.Errorf("teams: reply to %s in %s: the connector returned no activity id", r.Activity, conv)
			}
			a.rememberCard(ctx, m, conv, id)
			return cardRef{ServiceURL: r.ServiceURL, Conversation: conv, Activity: id, Thread: thread, Person: to.Person}.String(), nil
		}
	}
	conv, err := a.conversation(ctx, to)
	if err != nil {
		return "", err
	}
	id, err := a.conn.send(ctx, conv.ServiceURL, conv.Conversation, act)
	if err != nil {
		return "", fmt.Errorf("teams: send to %s: %w", who(to), err)
	}
	if id == "" {
		return "", fmt.Errorf("teams: send to %s: the connector returned no activity id", who(to))
	}
	a.rememberCard(ctx, m, conv.Conversation, id)
	r := cardRef{ServiceURL: conv.ServiceURL, Conversation: conv.Conversation, Activity: id, Person: to.Person}
	if conv.Type == "channel" && channelOf(conv.Conversation) == conv.Conversation { // a new post starts a thread, whose root it is
		r.Thread = threadOf(conv.Conversation, id)
	}
	return r.String(), nil
}

// Update implements bot.Messenger: it replaces the card for everyone who
// sees it.
func (a *Adapter) Update(ctx context.Context, ref string, m *flows.Message) error {
	r, err := parseRef(ref)
	if err != nil {
		return bot.Permanent(fmt.Errorf("teams: update: %w", err))
	}
	m = a.named(ctx, a.localized(m, r.Person))
	if err := a.conn.update(ctx, r.ServiceURL, r.Conversation, r.Activity, cardActivity(a.cards.message(m, viewOf(m)), m.Title)); err != nil {
		return fmt.Errorf("teams: update %s in %s: %w", r.Activity, r.Conversation, err)
	}
	a.rememberCard(ctx, m, r.Conversation, r.Activity) // still open, perhaps for another round
	// Whatever ends a question (the task decided, moved, or the request
	// ended) updates the card it was asked on: a new card ends none, and
	// is not worth a read of the questions.
	a.closeOffers(ctx, m.Instance)
	return nil
}

func who(to bot.Address) string {
	if to.Channel != "" {
		return "channel " + to.Channel + " (" + to.ID + ")"
	}
	return to.Person + " (" + to.ID + ")"
}

// conversation finds where to post to an address, opening a 1:1 chat with
// a person Baton has not talked to yet.
func (a *Adapter) conversation(ctx context.Context, to bot.Address) (convRef, error) {
	if to.Channel != "" {
		ref, ok, err := a.lookup(ctx, "channel:"+to.ID)
		if err != nil || ok {
			return ref, err
		}
		su, err := a.serviceURL(ctx, a.cfg.TenantID)
		// Not heard from yet: a channel by its id, or perhaps a group chat.
		kind := ""
		if isChannel(to.ID) {
			kind = "channel"
		}
		return convRef{ServiceURL: su, Conversation: to.ID, Tenant: a.cfg.TenantID, Type: kind}, err
	}
	ref, ok, err := a.lookup(ctx, "user:"+to.ID)
	if err != nil || ok {
		return ref, err
	}
	tenant := a.cfg.TenantID
	if tenant == "" {
		return convRef{}, bot.Permanent(fmt.Errorf("teams: no chat with %s yet, and a multi-tenant bot cannot tell their tenant: "+
			"ask them to open Baton in Teams once (or set MicrosoftAppTenantId)", who(to)))
	}
	su, err := a.serviceURL(ctx, tenant)
	if err != nil {
		return convRef{}, err
	}
	// Teams opens the chat, or returns the existing one: repeating this
	// (another replica, a retry) is harmless.
	conv, err := a.conn.createConversation(ctx, su, conversationParams{
		Bot:         schema.ChannelAccount{ID: "28:" + a.cfg.AppID},
		Members:     []schema.ChannelAccount{{ID: to.ID}},
		TenantID:    tenant,
		ChannelData: map[string]any{"tenant": map[string]any{"id": tenant}},
	})
	if err != nil {
		if bot.IsPermanent(err) {
			return convRef{}, bot.Permanent(fmt.Errorf("teams: open a chat with %s: %w; Baton must be installed for them "+
				"(a Teams admin can pre-install it with a setup policy, or they can add it once)", who(to), errors.Unwrap(err)))
		}
		return convRef{}, fmt.Errorf("teams: open a chat with %s: %w", who(to), err)
	}
	ref = convRef{ServiceURL: su, Conversation: conv, Tenant: tenant, User: to.ID, Bot: "28:" + a.cfg.AppID, Type: "personal"}
	a.putRef(ctx, "user:"+to.ID, ref)
	return ref, nil
}
