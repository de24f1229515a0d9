package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	slackgo "github.com/slack-go/slack"

	"github.com/batonbot/baton/bot"
	"github.com/batonbot/baton/flows"
)

// messenger is the adapter as the "slack" delivery platform. The outbox
// dispatcher calls it at least once per effect, in order per request.
type messenger struct{ a *Adapter }

var _ bot.Messenger = messenger{}

func (m messenger) Platform() string { return platformName }

// Reach finds a person's Slack user id, or a channel's Slack id, in the
// directory. People outside it are reachable by the id they came with.
func (m messenger) Reach(to flows.Recipient) (bot.Address, bool) {
	dir := m.a.svc.Engine().Directory()
	if to.Person != "" {
		id := dir.Identity(to.Person, platformName)
		return bot.Address{Person: to.Person, ID: id}, id != ""
	}
	if c, ok := dir.Channel(to.Channel); ok && c.Slack != "" {
		return bot.Address{Channel: to.Channel, ID: c.Slack}, true
	}
	return bot.Address{}, false
}

// Send posts a card to a person's DM (opened once and remembered) or to a
// channel. A reminder is a reply in its card's thread; in a DM it is also
// shown in the conversation (the nudge), and a channel's reminder nudges
// each pending assignee by DM.
func (m messenger) Send(ctx context.Context, to bot.Address, msg *flows.Message, thread string) (string, error) {
	a := m.a
	channel, user := to.ID, ""
	if to.Person != "" {
		user = to.ID
		ch, err := a.dm(ctx, user)
		if err != nil {
			return "", err
		}
		channel = ch
	}
	var threadTS string
	if thread != "" {
		parent, err := parseRef(thread)
		if err != nil {
			return "", bot.Permanent(fmt.Errorf("slack: thread of %s %s: %w", msg.Kind, msg.Instance, err))
		}
		channel, threadTS = parent.Channel, parent.TS
	}
	broadcast := threadTS != "" && user != "" && msg.Kind == flows.MsgReminder
	msg = a.named(ctx, a.localized(msg, to.Person))
	ch, ts, err := a.api.postMessage(ctx, channel, renderMessage(msg, maxMessageBlocks), fallback(msg), threadTS, broadcast)
	if err != nil {
		var se slackgo.SlackErrorResponse
		if user != "" && errors.As(err, &se) && se.Err == "channel_not_found" {
			// The DM id we kept is stale: forget it, and let the retry open
			// it again (so this error must not stay marked permanent).
			a.forgetDM(ctx, user)
			return "", fmt.Errorf("slack: the DM with %s is gone (%s); it is reopened on the next try", user, se.Err)
		}
		return "", err
	}
	a.rememberCard(ctx, msg, ch, ts, threadTS)
	if threadTS != "" && to.Channel != "" && msg.Kind == flows.MsgReminder {
		a.nudge(ctx, msg, ch)
	}
	if user != "" {
		a.homes.touch(user)
	}
	return cardRef{Channel: ch, TS: ts, User: user, Reply: threadTS != ""}.String(), nil
}

// Update replaces a posted card (chat.update). A reminder reply to a task
// that is now closed becomes one line saying how it ended.
func (m messenger) Update(ctx context.Context, ref string, msg *flows.Message) error {
	a := m.a
	r, err := parseRef(ref)
	if err != nil {
		return bot.Permanent(fmt.Errorf("slack: update %s: %w", msg.Instance, err))
	}
	person := "" // a channel's card
	if r.User != "" {
		person = a.person(r.User)
	}
	msg = a.named(ctx, a.localized(msg, person))
	blocks := renderMessage(msg, maxMessageBlocks)
	if r.Reply && msg.Outcome != "" {
		blocks = renderClosedReply(msg)
	}
	if err := a.api.updateMessage(ctx, r.Channel, r.TS, blocks, fallback(msg)); err != nil {
		return err
	}
	if !r.Reply {
		a.rememberCard(ctx, msg, r.Channel, r.TS, "") // still open: kept for as long again
	}
	if r.User != "" {
		a.homes.touch(r.User)
	}
	return nil
}

// localized is msg with a closed card's time (which the engine writes in
// UTC when one update closes the card for everyone who has it) in the zone
// of person, whose DM the card is in: the directory's, else the working
// hours' (that of channels, person ""), as every other time Baton shows.
// The blocks show that time as a Slack date, in each reader's own zone,
// with this as its fallback; the notification text (the top-level text:
// all that mobile notifications show, and what screen readers read) is
// plain, as Slack documents no date formatting in it.
func (a *Adapter) localized(msg *flows.Message, person string) *flows.Message {
	if msg.At.IsZero() {
		return msg
	}
	loc := a.svc.Engine().Directory().Location(person)
	out := msg.OutcomeIn(loc)
	if out == msg.Outcome {
		return msg
	}
	c := *msg
	c.Outcome, c.Zone = out, loc.String() // the zone OutcomeLead finds the time by, for the blocks
	return &c
}

// named replaces the ids of the people outside the directory whom the
// message concerns (its Mentions, "slack:U123") by their Slack names
// (users.info, cached) in the button labels, which are plain text.
// Elsewhere the lines the engine writes make them mentions (mrkdwnNamed);
// the title, which is the requester's, keeps what they typed, as does any
// other id.
func (a *Adapter) named(ctx context.Context, m *flows.Message) *flows.Message {
	if len(m.Mentions) == 0 || !slices.ContainsFunc(m.Actions, func(x flows.Action) bool { return strings.Contains(x.Label, "slack:") }) {
		return m
	}
	name := func(s string) string {
		return slackPerson.ReplaceAllStringFunc(s, func(id string) string {
			if !slices.Contains(m.Mentions, id) {
				return id
			}
			if info, err := a.userInfo(ctx, strings.TrimPrefix(id, "slack:")); err == nil && info.Name != "" {
				return info.Name
			}
			return id
		})
	}
	c := *m
	c.Actions = slices.Clone(m.Actions)
	for i := range c.Actions {
		c.Actions[i].Label = name(c.Actions[i].Label)
	}
	return &c
}

// nudge tells each pending assignee of a channel card, by DM, that it is
// waiting on them. It is best effort: the reminder itself is posted, and
// failing here must not post it again.
func (a *Adapter) nudge(ctx context.Context, msg *flows.Message, channel string) {
	in, err := a.svc.Instance(ctx, msg.Instance)
	if err != nil {
		a.log.Warn("slack reminder nudge skipped", "instance", msg.Instance, "err", err)
		return
	}
	// Sent by Slack, not kept to update: dated, so that it stays true once
	// the task is done (the card in the channel says where it stands).
	// The blocks show the time as a Slack date, in the reader's own zone;
	// the notification text, plain, in the person's zone as the directory
	// has it (see localized).
	now := a.svc.Now()
	dir := a.svc.Engine().Directory()
	line := func(at string) string {
		return fmt.Sprintf(":alarm_clock: As of %s, %s is waiting on you in <#%s> (its card there says where it stands now).", at, mrkdwn(msg.Title), channel)
	}
	for _, p := range in.Pending() {
		user := a.slackUser(p)
		if user == "" {
			continue
		}
		at := mrkdwn(flows.FormatTime(now, dir.Location(p)))
		text := line(at)
		md := line(fmt.Sprintf("<!date^%d^{date_short_pretty} {time}|%s>", now.Unix(), at))
		dm, err := a.dm(ctx, user)
		if err == nil {
			_, _, err = a.api.postMessage(ctx, dm, []slackgo.Block{section("text", md)}, text, "", false)
		}
		if err != nil {
			a.log.Warn("slack reminder nudge failed", "instance", msg.Instance, "user", p, "err", err)
		}
	}
}

// dm returns the id of the DM conversation with user: remembered here, in
// the shared KV (so replicas and restarts open it once), else opened.
func (a *Adapter) dm(ctx context.Context, user string) (string, error) {
	if ch, ok := a.dms.Load(user); ok {
		return ch.(string), nil
	}
	ch, ok, err := a.kv.GetValue(ctx, nsDM, user)
	if err != nil {
		return "", fmt.Errorf("slack: DM channel of %s: %w", user, err)
	}
	if !ok || ch == "" { // "" is a forgotten (stale) id
		if ch, err = a.api.openDM(ctx, user); err != nil {
			return "", err
		}
		if err := a.kv.SetValue(ctx, nsDM, user, ch, 0); err != nil {
			a.log.Warn("slack DM channel not remembered", "user", user, "err", err)
		}
	}
	a.dms.Store(user, ch)
	return ch, nil
}

func (a *Adapter) forgetDM(ctx context.Context, user string) {
	a.dms.Delete(user)
	if err := a.kv.SetValue(ctx, nsDM, user, "", time.Second); err != nil {
		a.log.Warn("slack stale DM channel not forgotten", "user", user, "err", err)
	}
}

// userInfo is what Baton keeps of users.info.
type userInfo struct {
	Name string `json:"name"`
	TZ   string `json:"tz"`
}

// userInfo returns a user's name and timezone, cached for a day (here and
// in the shared KV).
func (a *Adapter) userInfo(ctx context.Context, user string) (userInfo, error) {
	type cached struct {
		info userInfo
		at   time.Time
	}
	if c, ok := a.users.Load(user); ok && time.Since(c.(cached).at) < userInfoFor {
		return c.(cached).info, nil
	}
	var info userInfo
	if s, ok, err := a.kv.GetValue(ctx, nsUser, user); err == nil && ok && json.Unmarshal([]byte(s), &info) == nil {
		a.users.Store(user, cached{info, time.Now()})
		return info, nil
	}
	u, err := a.api.userInfo(ctx, user)
	if err != nil {
		return userInfo{}, err
	}
	info = userInfo{Name: u.RealName, TZ: u.TZ}
	if info.Name == "" {
		info.Name = u.Name
	}
	b, _ := json.Marshal(info)
	if err := a.kv.SetValue(ctx, nsUser, user, string(b), userInfoFor); err != nil {
		a.log.Warn("slack user info not remembered", "user", user, "err", err)
	}
	a.users.Store(user, cached{info, time.Now()})
	return info, nil
}

var (
	_ bot.TimezoneFinder = messenger{}
	_ bot.CommandNamer   = messenger{}
)

// Timezone implements bot.TimezoneFinder: the timezone the person set in
// Slack (users.info, cached).
func (m messenger) Timezone(ctx context.Context, to bot.Address) (string, error) {
	info, err := m.a.userInfo(ctx, to.ID)
	return info.TZ, err
}

// CommandFor implements bot.CommandNamer: Slack's people type the slash
// command.
func (m messenger) CommandFor(words string) string { return Command + " " + words }
