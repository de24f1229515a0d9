package email

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/batonbot/baton/bot"
	"github.com/batonbot/baton/flows"
)

// Mail is one message Baton sends.
type Mail struct {
	ID        string // Message-ID, without angle brackets: also the card's reference
	InReplyTo string // Message-ID of the mail this one follows up, or ""
	From      string
	To        string
	Subject   string
	Text      string
	Link      string    // the signed approval link in Text, if any
	Expires   time.Time // when Link expires
	At        time.Time
}

// Sender puts a mail on its way. SMTP sends it; Outbox keeps it for the
// console. Errors marked with bot.Permanent are not retried.
type Sender interface {
	Send(ctx context.Context, m Mail) error
}

// Linker signs approval links (bot.Links does).
type Linker interface {
	New(instance, step string, round int, email string) (token string, expires time.Time)
}

// Config configures the messenger.
type Config struct {
	From      string // sender address (default baton@localhost)
	PublicURL string // where people reach Baton, e.g. https://baton.example.com (links are PublicURL/x/TOKEN)
	// Location is the zone the mail writes its own times in (a link's
	// expiry): the one the engine writes the card's times in for people
	// outside the directory (the working hours'). nil: UTC.
	Location *time.Location
}

// Messenger delivers cards to external participants by mail.
type Messenger struct {
	send  Sender
	links Linker
	cfg   Config
	now   func() time.Time
}

var (
	_ bot.Messenger    = (*Messenger)(nil)
	_ bot.UpdateSender = (*Messenger)(nil)
)

// New builds the messenger. now nil means time.Now. It does no I/O.
func New(send Sender, links Linker, cfg Config, now func() time.Time) *Messenger {
	cfg.From = cmp.Or(cfg.From, "baton@localhost")
	cfg.PublicURL = strings.TrimRight(cmp.Or(cfg.PublicURL, "http://localhost:8080"), "/")
	if now == nil {
		now = time.Now
	}
	return &Messenger{send: send, links: links, cfg: cfg, now: now}
}

// Platform implements bot.Messenger.
func (m *Messenger) Platform() string { return "email" }

// Reach implements bot.Messenger: only external participants, whose person
// id is email:ADDRESS. People in the directory act in chat (or the
// console), whatever address they have.
func (m *Messenger) Reach(to flows.Recipient) (bot.Address, bool) {
	addr, ok := flows.ExternalEmail(to.Person)
	if !ok {
		return bot.Address{}, false
	}
	return bot.Address{Person: to.Person, ID: addr}, true
}

// Send implements bot.Messenger: it mails msg to the address and returns
// the card's reference: the mail's Message-ID and the address, so that
// Update can write to it, and, for a mail in the thread of an earlier one
// (a reminder), the word "reply".
func (m *Messenger) Send(ctx context.Context, to bot.Address, msg *flows.Message, thread string) (string, error) {
	mail := m.Compose(to.ID, msg)
	mail.InReplyTo, _, _ = strings.Cut(thread, " ")
	if err := m.send.Send(ctx, mail); err != nil {
		return "", fmt.Errorf("mail %s about %s: %w", to.ID, msg.Instance, err)
	}
	ref := mail.ID + " " + to.ID
	if mail.InReplyTo != "" {
		ref += " " + replyRef
	}
	return ref, nil
}

// replyRef ends the reference of a mail sent in the thread of another.
const replyRef = "reply"

// closable returns the Message-ID and address of the mail with reference
// ref, and whether its card's closing sends a reply: not for a reply in
// the thread of another mail (a reminder), whose closing is that of the
// thread's first mail (the task, closed by the same update or the one
// before it): one mail says that nothing more is needed, not one per
// reminder. Nor for a card sent by an earlier version (its reference
// without the address).
func closable(ref string) (id, addr string, ok bool) {
	id, addr, ok = strings.Cut(ref, " ")
	addr, tail, _ := strings.Cut(addr, " ")
	return id, addr, ok && tail != replyRef
}

// Update implements bot.Messenger. A sent mail cannot change: when the card
// closes (someone decided, the request was cancelled or withdrawn, the task
// went to someone else), a reply to it says so, as chat cards show it, and
// that nothing more is needed; any other change sends nothing (the approval
// page shows the request as it is now), nor does the closing of a reminder
// in its thread (see closable). It is sent once per card's mail (see
// UpdateKey).
func (m *Messenger) Update(ctx context.Context, ref string, msg *flows.Message) error {
	id, addr, ok := closable(ref)
	if !ok || msg.Outcome == "" {
		return nil
	}
	msg = msg.ForOutsiders() // its title too, in the subject
	mail := m.Compose(addr, msg)
	mail.InReplyTo, mail.Subject = id, subject("Re: "+msg.Title)
	mail.Text = "Nothing more is needed from you on this request.\n\n" + mail.Text
	if err := m.send.Send(ctx, mail); err != nil {
		return fmt.Errorf("mail %s about %s: %w", addr, msg.Instance, err)
	}
	return nil
}

// UpdateKey implements bot.UpdateSender: Update sends a reply when the
// card closes, and the dispatcher keeps this key, which names the card's
// mail, so that the reply goes out once: not again for a redelivered
// update (a replica stopped before acknowledging it, a dead letter
// retried), nor when the card, closed for its person, is closed again with
// its round (an approver of several who decided, or whose task was
// reassigned: they were told that nothing more is needed of them).
func (m *Messenger) UpdateKey(ref string, msg *flows.Message) string {
	id, _, ok := closable(ref)
	if !ok || msg.Outcome == "" {
		return "" // Update sends nothing
	}
	return "closed " + id
}

// decides reports whether msg asks for a decision on an approval step.
func decides(msg *flows.Message) (flows.Action, bool) {
	for _, a := range msg.Actions {
		if a.Kind == flows.ActApprove && a.Instance != "" && a.Step != "" {
			return a, true
		}
	}
	return flows.Action{}, false
}

// Compose writes the mail for a card: its title as the subject, its text,
// facts and small print, and, when it asks for a decision, a signed link.
// It mails people outside the workspace: the facts of internal fields are
// left out, and the title is the one they may be shown (the engine does
// both for the cards it addresses to such a person, but one update closes
// every card of a round, theirs too).
func (m *Messenger) Compose(addr string, msg *flows.Message) Mail {
	msg = msg.ForOutsiders()
	id := make([]byte, 12)
	_, _ = rand.Read(id)
	host := "baton"
	if at := strings.LastIndexByte(m.cfg.From, '@'); at >= 0 {
		host = m.cfg.From[at+1:]
	}
	mail := Mail{ID: hex.EncodeToString(id) + "@" + host, From: m.cfg.From, To: addr, Subject: subject(msg.Title), At: m.now()}
	// What people wrote (form values, reasons, notes) is quoted below
	// Baton's own lines, each continuation line indented, so that none of
	// it can pass for Baton's: not a second set of instructions with
	// another link above the real one, nor a "-- " that mail programs take
	// for the start of a signature and fold away, with the link after it.
	var b strings.Builder
	if a, ok := decides(msg); ok && m.links != nil {
		token, expires := m.links.New(a.Instance, a.Step, a.Round, addr)
		mail.Link, mail.Expires = m.cfg.PublicURL+"/x/"+token, expires
		fmt.Fprintf(&b, "To approve, reject or ask for changes, open this link (it is for you alone, works once, and expires %s):\n%s\n\n",
			flows.FormatTime(expires, m.cfg.Location), mail.Link)
	}
	if msg.Text != "" { // a comment, or a notify step's message with form values in it, is written by people too
		b.WriteString(quoted(msg.Text) + "\n\n")
	}
	for _, f := range msg.Fields {
		fmt.Fprintf(&b, "%s%s\n", flows.LabelColon(f.Label), quoted(f.Value))
	}
	for _, c := range msg.Changes {
		fmt.Fprintf(&b, "Changed: %s%s -> %s\n", flows.LabelColon(c.Label), quoted(c.Old), quoted(c.New))
	}
	if len(msg.Fields) > 0 || len(msg.Changes) > 0 {
		b.WriteString("\n")
	}
	if msg.Outcome != "" {
		// In the mail's zone, as its other times: one update closes every
		// card of a round, its time written in UTC by the engine.
		b.WriteString(quoted(msg.OutcomeIn(cmp.Or(m.cfg.Location, time.UTC))) + "\n\n")
	}
	for _, it := range msg.Items {
		fmt.Fprintf(&b, "- %s\n", quoted(it.Title))
		if it.Text != "" {
			fmt.Fprintf(&b, "  %s\n", quoted(it.Text))
		}
	}
	for _, c := range msg.Context {
		b.WriteString(quoted(c) + "\n")
	}
	b.WriteString("\n-- \nSent by Baton on behalf of the requester. You received this because a step of this request is assigned to " + addr + ".\n")
	mail.Text = b.String()
	return mail
}

// quoted is a text people may have written (a value, a reason, a
// comment), in the mail's body: each of its line breaks (whatever their
// kind: a lone CR is one in mail) indents what follows, so none of its lines
// can pass for Baton's or be a signature separator.
func quoted(s string) string {
	return strings.ReplaceAll(strings.TrimRight(flows.ReadBreaks(s), "\n"), "\n", "\n  ")
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// subject is a title as a mail's subject: one line, and short enough that
// its encoded header stays far under the 998 characters a line may have
// (a relay refuses more, and the mail would be lost).
func subject(title string) string {
	s := oneLine(title)
	if r := []rune(s); len(r) > 150 {
		s = string(r[:149]) + "…"
	}
	return s
}

// Outbox keeps the mail in memory instead of sending it: development with
// no SMTP server. The console shows it ("Outbox mail"). It keeps the last
// 200 mails.
type Outbox struct {
	mu    sync.Mutex
	mails []Mail
}

var _ Sender = (*Outbox)(nil)

// Send implements Sender.
func (o *Outbox) Send(ctx context.Context, m Mail) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.mails = append(o.mails, m)
	if over := len(o.mails) - 200; over > 0 {
		o.mails = append([]Mail(nil), o.mails[over:]...)
	}
	return nil
}

// Mails returns the kept mails, newest first.
func (o *Outbox) Mails() []Mail {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]Mail, len(o.mails))
	for i, m := range o.mails {
		out[len(o.mails)-1-i] = m
	}
	return out
}
