package email_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	netmail "net/mail"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/batonbot/baton/adapters/email"
	"github.com/batonbot/baton/bot"
	"github.com/batonbot/baton/bot/bottest"
	"github.com/batonbot/baton/flows"
	"github.com/batonbot/baton/manifests"
)

// smtpServer is a tiny SMTP stand-in on 127.0.0.1: it speaks enough of
// RFC 5321 for net/smtp (EHLO, AUTH PLAIN, MAIL, RCPT, DATA, QUIT), keeps
// what it received, and fails the first N RCPT commands with a given reply.
type smtpServer struct {
	t    *testing.T
	ln   net.Listener
	mu   sync.Mutex
	got  []received
	auth []string
	fail []string // replies to give to the next RCPT commands, in order
	// dropQuit closes the connection on QUIT without a reply, as some
	// relays do.
	dropQuit bool
}

type received struct {
	from, to string
	data     string
}

func newSMTPServer(t *testing.T, fail ...string) *smtpServer {
	t.Helper()
	return newSMTPServerOn(t, "127.0.0.1:0", fail...)
}

// newSMTPServerOn is newSMTPServer listening on addr.
func newSMTPServerOn(t *testing.T, addr string, fail ...string) *smtpServer {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpServer{t: t, ln: ln, fail: fail}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { s.serve(c) })
		}
	})
	return s
}

func (s *smtpServer) serve(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	say := func(line string) { fmt.Fprintf(c, "%s\r\n", line) }
	say("220 stand-in ESMTP")
	var cur received
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		verb := strings.ToUpper(strings.SplitN(line, " ", 2)[0])
		switch verb {
		case "EHLO", "HELO":
			say("250-stand-in")
			say("250-AUTH PLAIN")
			say("250 8BITMIME")
		case "AUTH":
			s.mu.Lock()
			s.auth = append(s.auth, line)
			s.mu.Unlock()
			say("235 ok")
		case "MAIL":
			cur = received{from: line}
			say("250 ok")
		case "RCPT":
			s.mu.Lock()
			var reply string
			if len(s.fail) > 0 {
				reply, s.fail = s.fail[0], s.fail[1:]
			}
			s.mu.Unlock()
			if reply != "" {
				say(reply)
				continue
			}
			cur.to = line
			say("250 ok")
		case "DATA":
			say("354 go on")
			var b strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				b.WriteString(strings.TrimPrefix(l, "."))
			}
			cur.data = b.String()
			s.mu.Lock()
			s.got = append(s.got, cur)
			s.mu.Unlock()
			say("250 queued")
		case "RSET", "NOOP":
			say("250 ok")
		case "QUIT":
			s.mu.Lock()
			drop := s.dropQuit
			s.mu.Unlock()
			if !drop {
				say("221 bye")
			}
			return
		default:
			say("502 not implemented")
		}
	}
}

func (s *smtpServer) received() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.got...)
}

func (s *smtpServer) url() string {
	return "smtp://baton:pw@" + s.ln.Addr().String() + "?from=baton@corp.example"
}

func body(t *testing.T, data string) string {
	t.Helper()
	_, b, ok := strings.Cut(data, "\r\n\r\n")
	if !ok {
		t.Fatalf("no header/body split in %q", data)
	}
	dec, err := io.ReadAll(quotedprintable.NewReader(strings.NewReader(b)))
	if err != nil {
		t.Fatal(err)
	}
	return string(dec)
}

func TestParseURL(t *testing.T) {
	c, err := email.ParseURL("smtp://user:p%40ss@mail.example.com:2525?from=baton@example.com")
	if err != nil || c.Addr != "mail.example.com:2525" || c.Username != "user" || c.Password != "p@ss" || c.From != "baton@example.com" || c.ImplicitTLS {
		t.Errorf("smtp: %+v %v", c, err)
	}
	if c, err := email.ParseURL("smtps://mail.example.com?from=b@example.com"); err != nil || c.Addr != "mail.example.com:465" || !c.ImplicitTLS {
		t.Errorf("smtps: %+v %v", c, err)
	}
	for raw, want := range map[string]string{
		"http://mail.example.com?from=b@example.com": "scheme",
		"smtp://mail.example.com":                    "?from=",
		"smtp://mail.example.com?from=nobody":        "not an email address",
		"smtp://?from=b@example.com":                 "no host",
	} {
		if _, err := email.ParseURL(raw); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseURL(%q) = %v, want an error about %q", raw, err, want)
		}
	}
	// A URL that does not parse is not quoted: it holds the password.
	if _, err := email.ParseURL("smtp://user:hunt%zzer2@mail.example.com?from=b@example.com"); err == nil ||
		strings.Contains(err.Error(), "hunt") || !strings.Contains(err.Error(), "%25") {
		t.Errorf("an unparsable URL: %v", err)
	}
}

func TestReach(t *testing.T) {
	m := email.New(&email.Outbox{}, nil, email.Config{}, nil)
	if a, ok := m.Reach(flows.Recipient{Person: "email:sales@acme.example"}); !ok || a.ID != "sales@acme.example" {
		t.Errorf("external: %+v %v", a, ok)
	}
	for _, r := range []flows.Recipient{{Person: "alice"}, {Person: "slack:U1"}, {Channel: "finance"}, {Person: "email:not-an-address"}} {
		if _, ok := m.Reach(r); ok {
			t.Errorf("%+v reached by mail: only external participants are", r)
		}
	}
}

// TestSMTPDelivery sends a decision card through SMTP to the stand-in:
// one mail, with the signed link that verifies for that person and step.
func TestSMTPDelivery(t *testing.T) {
	srv := newSMTPServer(t)
	cfg, err := email.ParseURL(srv.url())
	if err != nil {
		t.Fatal(err)
	}
	clock := clockwork.NewFakeClockAt(bottest.T0)
	rig := bottest.New(t)
	links := bot.NewLinks([]byte("0123456789abcdef0123456789abcdef"), rig.Store, rig.Store, clock, bot.LinksConfig{})
	m := email.New(email.NewSMTP(cfg), links, email.Config{From: cfg.From, PublicURL: "https://baton.example.com/"}, clock.Now)
	msg := &flows.Message{Kind: flows.MsgTask, Instance: "VC-1", Step: "vendor_ok", Round: 2, Title: "Vendor contract VC-1: Acme — ünïcode",
		Text: "Vendor confirmation", Fields: []flows.Fact{{Label: "Amount", Value: "12,000"}, {Label: "Signed already?", Value: "yes"}},
		Changes: []flows.Change{{Field: "term", Label: "Term:", Old: "1 year", New: "2 years"}},
		Actions: []flows.Action{{Kind: flows.ActApprove, Label: "Approve", Instance: "VC-1", Step: "vendor_ok", Round: 2}}}
	to, _ := m.Reach(flows.Recipient{Person: "email:sales@acme.example"})
	ref, err := m.Send(t.Context(), to, msg, "")
	if err != nil {
		t.Fatal(err)
	}
	got := srv.received()
	if len(got) != 1 {
		t.Fatalf("%d mails received, want 1", len(got))
	}
	g := got[0]
	if !strings.Contains(g.from, "<baton@corp.example>") || !strings.Contains(g.to, "<sales@acme.example>") {
		t.Errorf("envelope: %q %q", g.from, g.to)
	}
	msgID, addr, _ := strings.Cut(ref, " ") // the reference: the Message-ID, and the address for a reply on closing
	if addr != "sales@acme.example" {
		t.Errorf("reference %q", ref)
	}
	for _, h := range []string{"Message-ID: <" + msgID + ">", "Subject: =?utf-8?q?", "To: <sales@acme.example>", "Content-Transfer-Encoding: quoted-printable"} {
		if !strings.Contains(g.data, h) {
			t.Errorf("mail lacks header %q:\n%s", h, g.data)
		}
	}
	if len(srv.auth) != 1 || !strings.HasPrefix(srv.auth[0], "AUTH PLAIN") {
		t.Errorf("auth: %v", srv.auth)
	}
	text := body(t, g.data)
	i := strings.Index(text, "https://baton.example.com/x/")
	if i < 0 || !strings.Contains(text, "Amount: 12,000") {
		t.Fatalf("body lacks the link or the facts:\n%s", text)
	}
	// A label's own question mark or colon is not doubled.
	if !strings.Contains(text, "Signed already? yes") || !strings.Contains(text, "Changed: Term: 1 year -> 2 years") {
		t.Errorf("body writes labels ending in punctuation with another colon:\n%s", text)
	}
	token := strings.Fields(text[i+len("https://baton.example.com/x/"):])[0]
	c, err := links.Verify(token)
	if err != nil || c.Instance != "VC-1" || c.Step != "vendor_ok" || c.Round != 2 || c.Email != "sales@acme.example" || !c.Expires.Equal(bottest.T0.Add(7*24*time.Hour)) {
		t.Errorf("link claims %+v, %v", c, err)
	}

	// A notice without buttons carries no link.
	if _, err := m.Send(t.Context(), to, &flows.Message{Kind: flows.MsgOutcome, Instance: "VC-1", Title: "Approved"}, ref); err != nil {
		t.Fatal(err)
	}
	got = srv.received()
	if id, _, _ := strings.Cut(ref, " "); len(got) != 2 || strings.Contains(got[1].data, "/x/") || !strings.Contains(got[1].data, "In-Reply-To: <"+id+">") {
		t.Errorf("notice: %d mails; %s", len(got), got[len(got)-1].data)
	}

	// A very long title makes a subject a relay takes: no header line
	// over 998 characters.
	for _, title := range []string{strings.Repeat("ünïcode title ", 150), strings.Repeat("Закупка ноутбука ", 40), strings.Repeat("購入申請 ", 80), strings.Repeat("🚀", 300)} {
		if _, err := m.Send(t.Context(), to, &flows.Message{Kind: flows.MsgOutcome, Instance: "VC-1", Title: title}, ref); err != nil {
			t.Fatal(err)
		}
		got = srv.received()
		for _, line := range strings.Split(got[len(got)-1].data, "\r\n") {
			if len(line) > 998 {
				t.Errorf("a header line of %d characters: %.80s…", len(line), line)
			}
		}
		if dec, err := new(mime.WordDecoder).DecodeHeader(header(got[len(got)-1].data, "Subject")); err != nil || !strings.HasPrefix(title, strings.TrimSuffix(dec, "…")) {
			t.Errorf("subject decodes to %q (%v), want the start of %q", dec, err, title[:40])
		}
	}
}

func TestSMTPErrors(t *testing.T) {
	srv := newSMTPServer(t, "451 try later", "550 no such mailbox")
	cfg, _ := email.ParseURL(srv.url())
	s := email.NewSMTP(cfg)
	mail := email.Mail{ID: "1@corp.example", To: "sales@acme.example", Subject: "s", Text: "t", At: bottest.T0}
	err := s.Send(t.Context(), mail)
	if err == nil || bot.IsPermanent(err) || !strings.Contains(err.Error(), "451") {
		t.Errorf("4xx: %v (permanent %v), want a retryable error", err, bot.IsPermanent(err))
	}
	err = s.Send(t.Context(), mail)
	if err == nil || !bot.IsPermanent(err) || !strings.Contains(err.Error(), "550") {
		t.Errorf("5xx: %v, want a permanent error", err)
	}
	if err := s.Send(t.Context(), mail); err != nil {
		t.Errorf("third try: %v", err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	down := email.NewSMTP(email.SMTPConfig{Addr: addr, From: "b@corp.example"})
	if err := down.Send(t.Context(), mail); err == nil || bot.IsPermanent(err) {
		t.Errorf("server down: %v, want a retryable error", err)
	}
	if got := srv.received(); len(got) != 1 {
		t.Errorf("%d mails received, want 1", len(got))
	}
}

// A relay off this machine that offers no STARTTLS is refused, for good
// and before any mail is sent, unless the URL accepts it
// (starttls=optional); on this machine it is used as it is.
func TestSMTPWithoutStartTLS(t *testing.T) {
	var ip net.IP // an address of this machine's other than loopback
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() {
			ip = n.IP
			break
		}
	}
	if ip == nil {
		t.Skip("this machine has no address but loopback to reach a relay by")
	}
	srv := newSMTPServerOn(t, net.JoinHostPort(ip.String(), "0"))
	mail := email.Mail{ID: "1@corp.example", To: "sales@acme.example", Subject: "s", Text: "t", At: bottest.T0}
	cfg, err := email.ParseURL(srv.url())
	if err != nil {
		t.Fatal(err)
	}
	err = email.NewSMTP(cfg).Send(t.Context(), mail)
	if err == nil || !bot.IsPermanent(err) || !strings.Contains(err.Error(), "offers no STARTTLS") || len(srv.received()) != 0 || len(srv.auth) != 0 {
		t.Fatalf("a relay without STARTTLS: %v (permanent %v), %d mails, auth %v; want a permanent refusal and nothing sent", err, bot.IsPermanent(err), len(srv.received()), srv.auth)
	}
	cfg, err = email.ParseURL("smtp://" + srv.ln.Addr().String() + "?from=baton@corp.example&starttls=optional")
	if err != nil || !cfg.PlainOK {
		t.Fatalf("starttls=optional: %+v %v", cfg, err)
	}
	if err := email.NewSMTP(cfg).Send(t.Context(), mail); err != nil || len(srv.received()) != 1 {
		t.Fatalf("accepted unencrypted: %v, %d mails", err, len(srv.received()))
	}
	if _, err := email.ParseURL("smtp://h?from=baton@corp.example&starttls=maybe"); err == nil || !strings.Contains(err.Error(), "starttls=optional") {
		t.Errorf("starttls=maybe: %v", err)
	}
	// A password is never sent unencrypted: the option is refused with one,
	// and the refusal does not offer it.
	if _, err := email.ParseURL("smtp://u:pw@h?from=baton@corp.example&starttls=optional"); err == nil || !strings.Contains(err.Error(), "never sends a password unencrypted") {
		t.Errorf("starttls=optional with a password: %v", err)
	}
	cfg, _ = email.ParseURL("smtp://u:pw@" + srv.ln.Addr().String() + "?from=baton@corp.example")
	if err := email.NewSMTP(cfg).Send(t.Context(), mail); err == nil || !bot.IsPermanent(err) || strings.Contains(err.Error(), "starttls=optional") || len(srv.auth) != 0 {
		t.Errorf("a relay without STARTTLS, with a password: %v (permanent %v), auth %v", err, bot.IsPermanent(err), srv.auth)
	}
}

// A relay that drops the connection at QUIT took the mail: no error, so
// no retry sends it (and a new link) again.
func TestSMTPDroppedQuit(t *testing.T) {
	srv := newSMTPServer(t)
	srv.mu.Lock()
	srv.dropQuit = true
	srv.mu.Unlock()
	cfg, _ := email.ParseURL(srv.url())
	mail := email.Mail{ID: "1@corp.example", To: "sales@acme.example", Subject: "s", Text: "t", At: bottest.T0}
	if err := email.NewSMTP(cfg).Send(t.Context(), mail); err != nil {
		t.Errorf("send: %v, want nil (the relay accepted the mail)", err)
	}
	if got := srv.received(); len(got) != 1 {
		t.Errorf("%d mails received, want 1", len(got))
	}
}

// TestDeliveryThroughOutbox: a flow assigns a step to a vendor by email; the
// dispatcher delivers the card by SMTP, retrying after the server's
// temporary refusal, and the vendor gets exactly one mail with a link.
func TestDeliveryThroughOutbox(t *testing.T) {
	srv := newSMTPServer(t, "421 busy, come back")
	cfg, _ := email.ParseURL(srv.url())
	def, err := flows.ParseDefinition("vendor.yaml", []byte(`
id: vendor
name: Vendor contract
owner: olivia
prefix: VC
form:
  - {name: vendor, label: Vendor, type: text, required: true}
  - {name: contact, label: Vendor contact, type: email, required: true}
steps:
  - id: vendor_ok
    name: Vendor confirmation
    type: approval
    assignees: ["field:contact"]
`))
	if err != nil {
		t.Fatal(err)
	}
	dir, _ := flows.ParseDirectory("directory.yaml", manifests.Directory)
	rig := bottest.NewWith(t, []*flows.Definition{def}, dir, nil)
	links := bot.NewLinks([]byte("0123456789abcdef0123456789abcdef"), rig.Store, rig.Store, rig.Clock, bot.LinksConfig{})
	rig.Use(email.New(email.NewSMTP(cfg), links, email.Config{From: cfg.From}, rig.Clock.Now))
	if _, err := rig.Svc.Handle(t.Context(), flows.Event{Kind: flows.EventStart, Key: "k", Actor: "alice", Flow: "vendor",
		Data: map[string]string{"vendor": "Acme", "contact": "sales@acme.example"}}); err != nil {
		t.Fatal(err)
	}
	rig.Drain()
	got := srv.received()
	if len(got) != 1 {
		t.Fatalf("%d mails, want exactly 1 (after one retry)", len(got))
	}
	if text := body(t, got[0].data); !strings.Contains(text, "http://localhost:8080/x/") || !strings.Contains(text, "Vendor confirmation") {
		t.Errorf("mail:\n%s", text)
	}
	if rig.Drain() != 0 || len(srv.received()) != 1 {
		t.Errorf("delivered again")
	}
	// Their step no longer needs them (the owner cancels): a reply says
	// so, as chat cards show it.
	if out, err := rig.Svc.Handle(t.Context(), flows.Event{Kind: flows.EventCancel, Key: "c", Actor: "olivia", Instance: "VC-1", Reason: "vendor blacklisted"}); err != nil || !out.OK {
		t.Fatalf("cancel: %+v %v", out, err)
	}
	rig.Drain()
	got = srv.received()
	if len(got) != 2 {
		t.Fatalf("%d mails after the cancel, want 2", len(got))
	}
	if text := body(t, got[1].data); !strings.Contains(got[1].data, "In-Reply-To: <") || !strings.Contains(text, "Nothing more is needed from you on this request.") || !strings.Contains(text, "Cancelled by Olivia Brown") || strings.Contains(text, "/x/") {
		t.Errorf("the closing mail:\n%s", got[1].data)
	}
}

func TestOutboxKeepsNewestFirst(t *testing.T) {
	o := &email.Outbox{}
	for i := range 205 {
		_ = o.Send(context.Background(), email.Mail{ID: fmt.Sprint(i)})
	}
	ms := o.Mails()
	if len(ms) != 200 || ms[0].ID != "204" || ms[199].ID != "5" {
		t.Errorf("%d mails, first %s last %s", len(ms), ms[0].ID, ms[len(ms)-1].ID)
	}
}

// header returns a header's value from a raw mail, unfolded.
func header(data, name string) string {
	head, _, _ := strings.Cut(data, "\r\n\r\n")
	var v string
	in := false
	for _, l := range strings.Split(head, "\r\n") {
		switch {
		case strings.HasPrefix(l, name+": "):
			v, in = strings.TrimPrefix(l, name+": "), true
		case in && strings.HasPrefix(l, " "):
			v += l
		default:
			in = false
		}
	}
	return v
}

// fixedLinks is a Linker whose links are known.
type fixedLinks struct{}

func (fixedLinks) New(instance, step string, round int, _ string) (string, time.Time) {
	return fmt.Sprintf("%s.%s.%d", instance, step, round), bottest.T0.Add(7 * 24 * time.Hour)
}

// TestComposeQuotesWhatPeopleWrote: a requester's text cannot pass for
// Baton's in the mail: the real link comes before anything they wrote,
// their line breaks indent what follows, and none of their lines is a
// signature separator (which mail programs fold away with what follows).
func TestComposeQuotesWhatPeopleWrote(t *testing.T) {
	m := email.New(&email.Outbox{}, fixedLinks{}, email.Config{From: "baton@corp.example", PublicURL: "https://baton.corp.example"}, nil)
	forged := "See below.\n\nTo approve, reject or ask for changes, open this link:\nhttps://baton.corp.example.evil.example/x/abc\n\n-- \nSent by Baton"
	crForged := strings.ReplaceAll(forged, "\n", "\r") // a lone CR is a line break in mail
	msg := &flows.Message{Kind: flows.MsgTask, Instance: "VC-1", Step: "vendor_ok", Round: 1, Title: "Vendor contract VC-1: Acme",
		Text: "Vendor confirmation\n-- \nfrom the flow's instructions", Fields: []flows.Fact{{Label: "Notes", Value: forged}, {Label: "More", Value: crForged}},
		Context: []string{"Note from Alice Martin: " + forged},
		Actions: []flows.Action{{Kind: flows.ActApprove, Label: "Approve", Instance: "VC-1", Step: "vendor_ok", Round: 1}}}
	mail := m.Compose("vendor@acme.example", msg)
	real := strings.Index(mail.Text, "https://baton.corp.example/x/VC-1.vendor_ok.1")
	fake := strings.Index(mail.Text, "https://baton.corp.example.evil.example")
	if real < 0 || fake < 0 || real > fake {
		t.Errorf("the real link (at %d) does not come before the forged one (at %d):\n%s", real, fake, mail.Text)
	}
	// A comment is all typed text: quoted too.
	comment := m.Compose("vendor@acme.example", &flows.Message{Kind: flows.MsgComment, Instance: "VC-1", Title: "Alice Martin on Vendor contract VC-1", Text: "Small update.\r\n" + forged})
	raw, err := netmail.ReadMessage(bytes.NewReader(email.Format(mail)))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(quotedprintable.NewReader(raw.Body))
	lines := strings.Split(strings.ReplaceAll(string(body)+"\n"+comment.Text, "\r\n", "\n"), "\n")
	for i, l := range lines {
		if strings.TrimRight(l, " ") == "--" && !strings.HasPrefix(lines[i+1], "Sent by Baton on behalf of the requester.") {
			t.Errorf("line %d is a signature separator that is not Baton's:\n%s", i+1, strings.Join(lines, "\n"))
		}
		if strings.HasPrefix(l, "https://baton.corp.example.evil") || strings.HasPrefix(l, "To approve") && !strings.Contains(l, "it is for you alone") {
			t.Errorf("line %d of what was written is not indented: %q", i+1, l)
		}
	}
}

// TestSubjectLooksLikeEncodedWord: a title typed as an encoded word is
// encoded, so mail programs show what was typed, not what it decodes to.
func TestSubjectLooksLikeEncodedWord(t *testing.T) {
	mail := email.Mail{ID: "x@corp.example", From: "baton@corp.example", To: "v@acme.example", Subject: "Acme =?utf-8?q?URGENT=3A_wire_transfer?=", At: bottest.T0}
	parsed, err := netmail.ReadMessage(bytes.NewReader(email.Format(mail)))
	if err != nil {
		t.Fatal(err)
	}
	subject := parsed.Header.Get("Subject")
	got, err := new(mime.WordDecoder).DecodeHeader(subject)
	if err != nil || strings.Contains(got, "URGENT: wire transfer") || !strings.Contains(got, "URGENT=3A_wire_transfer") {
		t.Errorf("subject %q decodes to %q (%v), want the typed text", subject, got, err)
	}
}

// unacked records the references of the deliveries it is told of and
// acknowledges none: a replica that stopped before acknowledging its entry.
type unacked struct{ flows.Outbox }

func (o unacked) Delivered(ctx context.Context, done []flows.Delivery) error {
	kept := append([]flows.Delivery(nil), done...)
	for i := range kept {
		kept[i].Parts = kept[i].Part + 2 // not its entry's last effect: no acknowledgement
	}
	return o.Outbox.Delivered(ctx, kept)
}

// acked closes ch once an entry's last effect is acknowledged.
type acked struct {
	flows.Outbox
	once sync.Once
	ch   chan struct{}
}

func (o *acked) Delivered(ctx context.Context, done []flows.Delivery) error {
	err := o.Outbox.Delivered(ctx, done)
	for _, d := range done {
		if err == nil && d.Last() { // the whole entry is acknowledged
			o.once.Do(func() { close(o.ch) })
		}
	}
	return err
}

// TestClosingMailNotSentTwice: the closing mail of a card goes out once even
// when its outbox entry is delivered again, by the replica that takes over
// from one stopped after sending it and before acknowledging the entry.
func TestClosingMailNotSentTwice(t *testing.T) {
	srv := newSMTPServer(t)
	cfg, _ := email.ParseURL(srv.url())
	def, err := flows.ParseDefinition("vendor.yaml", []byte(`
id: vendor
name: Vendor contract
owner: olivia
prefix: VC
form:
  - {name: contact, label: Vendor contact, type: email, required: true}
steps:
  - id: vendor_ok
    name: Vendor confirmation
    type: approval
    assignees: ["field:contact"]
`))
	if err != nil {
		t.Fatal(err)
	}
	dir, _ := flows.ParseDirectory("directory.yaml", manifests.Directory)
	rig := bottest.NewWith(t, []*flows.Definition{def}, dir, nil)
	links := bot.NewLinks([]byte("0123456789abcdef0123456789abcdef"), rig.Store, rig.Store, rig.Clock, bot.LinksConfig{})
	m := email.New(email.NewSMTP(cfg), links, email.Config{From: cfg.From}, rig.Clock.Now)
	rig.Use(m)
	if _, err := rig.Svc.Handle(t.Context(), flows.Event{Kind: flows.EventStart, Key: "k", Actor: "alice", Flow: "vendor",
		Data: map[string]string{"contact": "sales@acme.example"}}); err != nil {
		t.Fatal(err)
	}
	rig.Drain()
	if out, err := rig.Svc.Handle(t.Context(), flows.Event{Kind: flows.EventCancel, Key: "c", Actor: "olivia", Instance: "VC-1", Reason: "vendor blacklisted"}); err != nil || !out.OK {
		t.Fatalf("cancel: %+v %v", out, err)
	}
	crashed := bot.NewDispatcher(bot.DispatcherConfig{Consumer: "crashed"}, unacked{rig.Store}, []bot.Messenger{m}, nil, rig.Svc.Handle, rig.Log, nil)
	if _, err := crashed.Drain(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := srv.received(); len(got) != 2 {
		t.Fatalf("%d mails before the crash, want 2 (the task, its closing)", len(got))
	}
	ob := &acked{Outbox: rig.Store, ch: make(chan struct{})}
	survivor := bot.NewDispatcher(bot.DispatcherConfig{Consumer: "survivor", Poll: time.Hour, Reclaim: 50 * time.Millisecond},
		ob, []bot.Messenger{m}, nil, rig.Svc.Handle, rig.Log, nil)
	ctx, cancel := context.WithCancel(t.Context())
	ran := make(chan error, 1)
	go func() { ran <- survivor.Run(ctx) }()
	select {
	case <-ob.ch:
	case <-time.After(30 * time.Second):
		t.Fatal("the entry taken over was never acknowledged")
	}
	cancel()
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	if got := srv.received(); len(got) != 2 {
		t.Errorf("%d mails after the entry was delivered again, want 2: the closing mail went out twice", len(got))
	}
}

// TestUpdateKey: a closing update is named by its card's mail and what it
// says; any other update sends nothing, and has no key.
func TestUpdateKey(t *testing.T) {
	m := email.New(&email.Outbox{}, nil, email.Config{}, nil)
	closed := &flows.Message{Title: "PR-1", Outcome: "Approved by Bob"}
	k := m.UpdateKey("abc@corp.example sales@acme.example", closed)
	if k == "" || k != m.UpdateKey("abc@corp.example sales@acme.example", &flows.Message{Title: "PR-1", Outcome: "Approved by Bob"}) {
		t.Errorf("the same closing update has keys %q and another", k)
	}
	if other := m.UpdateKey("def@corp.example sales@acme.example", closed); other == "" || other == k {
		t.Errorf("another mail: key %q, want one of its own", other)
	}
	// Once told that nothing more is needed of them, a person is not told
	// again when the card closes again (with its round).
	if again := m.UpdateKey("abc@corp.example sales@acme.example", &flows.Message{Title: "PR-1", Outcome: "Cancelled by Olivia"}); again != k {
		t.Errorf("the same mail closed with another outcome has key %q, want %q", again, k)
	}
	if k := m.UpdateKey("abc@corp.example sales@acme.example", &flows.Message{Title: "PR-1"}); k != "" {
		t.Errorf("an update that sends nothing has key %q", k)
	}
	if k := m.UpdateKey("ghi@corp.example sales@acme.example reply", closed); k != "" { // a reminder: its thread's first mail is closed
		t.Errorf("a reminder's update has key %q", k)
	}
	if k := m.UpdateKey("abc@corp.example", closed); k != "" { // an earlier version's card: Update sends nothing
		t.Errorf("an old card's update has key %q", k)
	}
}

// TestLinkExpiryInTheMailsZone: the link's expiry is written in the zone
// the card's own times are (the working hours', for people outside the
// directory), not beside them in UTC.
func TestLinkExpiryInTheMailsZone(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	m := email.New(&email.Outbox{}, fixedLinks{}, email.Config{From: "baton@corp.example", Location: paris}, nil)
	mail := m.Compose("vendor@acme.example", &flows.Message{Kind: flows.MsgTask, Instance: "VC-1", Step: "vendor_ok", Round: 1, Title: "Vendor contract VC-1: Acme",
		Actions: []flows.Action{{Kind: flows.ActApprove, Label: "Approve", Instance: "VC-1", Step: "vendor_ok", Round: 1}}})
	if want := "expires Thu 3 Dec 10:00 CET"; !strings.Contains(mail.Text, want) {
		t.Errorf("want %q in:\n%s", want, mail.Text)
	}
}

// TestClosingMailInTheMailsZone: the reply that says a card closed gives
// its time in the mail's zone, as the mail's other times, not in the UTC
// the engine writes the update of a round's every card in.
func TestClosingMailInTheMailsZone(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	out := &email.Outbox{}
	m := email.New(out, fixedLinks{}, email.Config{From: "baton@corp.example", Location: paris}, nil)
	at := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	closed := &flows.Message{Kind: flows.MsgTask, Instance: "VC-1", Step: "vendor_ok", Round: 1, Title: "Vendor contract VC-1: Acme",
		Outcome: "Approved by Bob Chen · " + flows.FormatTime(at, time.UTC), At: at}
	if err := m.Update(t.Context(), "abc@corp.example vendor@acme.example", closed); err != nil {
		t.Fatal(err)
	}
	mails := out.Mails()
	if len(mails) != 1 {
		t.Fatalf("%d mails, want 1", len(mails))
	}
	if want := "Approved by Bob Chen · Thu 26 Nov 10:00 CET"; !strings.Contains(mails[0].Text, want) || strings.Contains(mails[0].Text, "UTC") {
		t.Errorf("want %q (and no UTC) in:\n%s", want, mails[0].Text)
	}
}

// TestMailLeavesInternalFieldsOut: the vendor's mails (the task, its
// reminder, the replies when it closes) leave out an internal field, which
// the colleague on the same step sees. The replies come of the update that
// closes every card of the round at once, the colleague's too.
func TestMailLeavesInternalFieldsOut(t *testing.T) {
	def, err := flows.ParseDefinition("vendor.yaml", []byte(`
id: vendor
name: Vendor contract
owner: olivia
prefix: VC
form:
  - {name: vendor, label: Vendor, type: text, required: true}
  - {name: contact, label: Vendor contact, type: email, required: true}
  - {name: cost_centre, label: Cost centre, type: text, internal: true}
steps:
  - id: vendor_ok
    name: Vendor confirmation
    type: approval
    assignees: ["field:contact", person:bob]
    policy: all
    remind: {every: 4h}
`))
	if err != nil {
		t.Fatal(err)
	}
	dir, _ := flows.ParseDirectory("directory.yaml", manifests.Directory)
	rig := bottest.NewWith(t, []*flows.Definition{def}, dir, nil)
	outbox, bob := &email.Outbox{}, &chat{}
	rig.Use(email.New(outbox, fixedLinks{}, email.Config{From: "baton@corp.example"}, rig.Clock.Now))
	rig.Use(bob)
	if _, err := rig.Svc.Handle(t.Context(), flows.Event{Kind: flows.EventStart, Key: "k", Actor: "alice", Flow: "vendor",
		Data: map[string]string{"vendor": "Acme", "contact": "sales@acme.example", "cost_centre": "CC-4711"}}); err != nil {
		t.Fatal(err)
	}
	rig.Drain()
	if rig.Advance(4*time.Hour) != 1 {
		t.Fatal("no reminder")
	}
	if out, err := rig.Svc.Handle(t.Context(), flows.Event{Kind: flows.EventCancel, Key: "c", Actor: "olivia", Instance: "VC-1", Reason: "vendor blacklisted"}); err != nil || !out.OK {
		t.Fatalf("cancel: %+v %v", out, err)
	}
	rig.Drain()
	mails := outbox.Mails()
	if len(mails) != 3 {
		t.Fatalf("%d mails, want 3 (the task, its reminder, the reply when it closes)", len(mails))
	}
	for _, m := range mails {
		if !strings.Contains(m.Text, "Vendor: Acme") || strings.Contains(m.Text, "Cost centre") || strings.Contains(m.Text, "CC-4711") {
			t.Errorf("mail %q:\n%s", m.Subject, m.Text)
		}
	}
	cc := flows.Fact{Label: "Cost centre", Value: "CC-4711", Internal: true}
	if len(bob.sent) == 0 || !slices.Contains(bob.sent[0].Fields, cc) {
		t.Errorf("Bob's card lacks the cost centre: %+v", bob.sent)
	}
	if len(bob.updated) == 0 || !slices.Contains(bob.updated[len(bob.updated)-1].Fields, cc) {
		t.Errorf("Bob's closed card lacks the cost centre: %+v", bob.updated)
	}
}

// TestMailSubjectLeavesInternalFieldsOut: the title heads the vendor's
// mails (their subject), and those of an outsider a task is reassigned to
// at run time: it never shows an internal field to them.
func TestMailSubjectLeavesInternalFieldsOut(t *testing.T) {
	for _, tc := range []struct {
		name, title string
		events      []flows.Event
		subject     string // of the first mail
	}{
		{name: "no title: the first text field that is not internal", subject: "Vendor contract VC-1: Acme"},
		{name: "a title that reads an internal field: the flow's name and the id", title: "{{.vendor}} ({{.cost_centre}})",
			events: []flows.Event{{Kind: flows.EventReassign, Key: "r", Actor: "bob", Instance: "VC-1", Step: "vendor_ok", Round: 1,
				Target: "email:counsel@lawfirm.example", Reason: "legal knows"}},
			subject: "Vendor contract VC-1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := `
id: vendor
name: Vendor contract
owner: olivia
prefix: VC
form:
  - {name: cost_centre, label: Cost centre, type: text, internal: true}
  - {name: vendor, label: Vendor, type: text}
  - {name: contact, label: Vendor contact, type: email, required: true}
steps:
  - id: vendor_ok
    name: Vendor confirmation
    type: approval
    assignees: ["field:contact", person:bob]
    policy: all
`
			if tc.title != "" {
				src = strings.Replace(src, "prefix: VC\n", "prefix: VC\ntitle: \""+tc.title+"\"\n", 1)
			}
			def, err := flows.ParseDefinition("vendor.yaml", []byte(src))
			if err != nil {
				t.Fatal(err)
			}
			dir, _ := flows.ParseDirectory("directory.yaml", manifests.Directory)
			rig := bottest.NewWith(t, []*flows.Definition{def}, dir, []string{"olivia"})
			outbox := &email.Outbox{}
			rig.Use(email.New(outbox, fixedLinks{}, email.Config{From: "baton@corp.example"}, rig.Clock.Now))
			rig.Use(&chat{})
			if _, err := rig.Svc.Handle(t.Context(), flows.Event{Kind: flows.EventStart, Key: "k", Actor: "alice", Flow: "vendor",
				Data: map[string]string{"cost_centre": "CC-4711", "vendor": "Acme", "contact": "sales@acme.example"}}); err != nil {
				t.Fatal(err)
			}
			rig.Drain()
			events := append(tc.events, flows.Event{Kind: flows.EventCancel, Key: "c", Actor: "olivia", Instance: "VC-1", Reason: "vendor blacklisted"})
			for _, ev := range events {
				if out, err := rig.Svc.Handle(t.Context(), ev); err != nil || !out.OK {
					t.Fatalf("%s: %+v %v", ev.Kind, out, err)
				}
				rig.Drain()
			}
			mails := outbox.Mails() // newest first
			if len(mails) < 2 {
				t.Fatalf("%d mails, want the task's and the reply when it closes", len(mails))
			}
			if got := mails[len(mails)-1].Subject; got != tc.subject {
				t.Errorf("the first mail's subject %q, want %q", got, tc.subject)
			}
			to := map[string]int{}
			for _, m := range mails {
				to[m.To]++
				if strings.Contains(m.Subject+m.Text, "CC-4711") {
					t.Errorf("mail %q shows the cost centre:\n%s", m.Subject, m.Text)
				}
				if m.InReplyTo != "" && m.Subject != "Re: "+tc.subject {
					t.Errorf("the reply to %s is %q, want %q", m.To, m.Subject, "Re: "+tc.subject)
				}
			}
			if len(tc.events) > 0 && to["counsel@lawfirm.example"] != 2 {
				t.Errorf("mails to %v, want the task's and the reply to counsel@lawfirm.example too", to)
			}
		})
	}
}

// TestOneClosingMailPerStep: someone outside the workspace is told once
// that nothing more is needed of them on a step, in reply to the task's
// mail: not again in reply to each reminder, which the update that closes
// the task closes too (chat updates the reminders in its thread, which
// offered its buttons), nor again when the round closes after their own
// task did (they decided first, or their task was reassigned).
func TestOneClosingMailPerStep(t *testing.T) {
	approve := func(actor string) flows.Event {
		return flows.Event{Kind: flows.EventApprove, Key: "approve " + actor, Actor: actor, Platform: "email", Instance: "VC-1", Step: "vendor_ok", Round: 1}
	}
	for _, tc := range []struct {
		name, assignees string
		remind          bool
		events          []flows.Event
		outcome         string
		chatClosed      int // updates of chat cards (Bob's, Carol's) that show an outcome
	}{
		{name: "reminded, then cancelled", assignees: `["field:contact", person:bob]`, remind: true,
			events:  []flows.Event{{Kind: flows.EventCancel, Key: "c", Actor: "olivia", Instance: "VC-1", Reason: "vendor blacklisted"}},
			outcome: "Cancelled by Olivia Brown", chatClosed: 2},
		{name: "reminded, then approved by them", assignees: `["field:contact"]`, remind: true,
			events: []flows.Event{approve("email:sales@acme.example")}, outcome: "Approved by sales@acme.example (external)"},
		{name: "approved by them, then by Bob", assignees: `["field:contact", person:bob]`,
			events:  []flows.Event{approve("email:sales@acme.example"), approve("bob")},
			outcome: "Approved by sales@acme.example (external)", chatClosed: 1},
		{name: "reassigned, then approved", assignees: `["field:contact"]`,
			events: []flows.Event{{Kind: flows.EventReassign, Key: "r", Actor: "olivia", Instance: "VC-1", Step: "vendor_ok", Round: 1,
				From: "email:sales@acme.example", Target: "carol"}, approve("carol")},
			outcome: "Now with Carol Diaz", chatClosed: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			def, err := flows.ParseDefinition("vendor.yaml", []byte(`
id: vendor
name: Vendor contract
owner: olivia
prefix: VC
form:
  - {name: contact, label: Vendor contact, type: email, required: true}
steps:
  - id: vendor_ok
    name: Vendor confirmation
    type: approval
    assignees: `+tc.assignees+`
    policy: all
    remind: {every: 4h}
`))
			if err != nil {
				t.Fatal(err)
			}
			dir, _ := flows.ParseDirectory("directory.yaml", manifests.Directory)
			rig := bottest.NewWith(t, []*flows.Definition{def}, dir, []string{"olivia"})
			outbox, workspace := &email.Outbox{}, &chat{}
			rig.Use(email.New(outbox, fixedLinks{}, email.Config{From: "baton@corp.example"}, rig.Clock.Now))
			rig.Use(workspace)
			if _, err := rig.Svc.Handle(t.Context(), flows.Event{Kind: flows.EventStart, Key: "k", Actor: "alice", Flow: "vendor",
				Data: map[string]string{"contact": "sales@acme.example"}}); err != nil {
				t.Fatal(err)
			}
			rig.Drain()
			if tc.remind && rig.Advance(4*time.Hour) != 1 {
				t.Fatal("no reminder")
			}
			for _, ev := range tc.events {
				if out, err := rig.Svc.Handle(t.Context(), ev); err != nil || !out.OK {
					t.Fatalf("%s: %+v %v", ev.Kind, out, err)
				}
				rig.Drain()
			}
			mails := outbox.Mails()
			task := mails[len(mails)-1]
			var closing []email.Mail
			for _, m := range mails {
				if strings.Contains(m.Text, "Nothing more is needed") {
					closing = append(closing, m)
				}
			}
			if len(closing) != 1 {
				t.Fatalf("%d closing mails, want 1:\n%+v", len(closing), closing)
			}
			if closing[0].InReplyTo != task.ID || !strings.Contains(closing[0].Text, tc.outcome) {
				t.Errorf("the closing mail, in reply to %q (the task's mail is %q):\n%s", closing[0].InReplyTo, task.ID, closing[0].Text)
			}
			closed := 0
			for _, m := range workspace.updated {
				if m.Outcome != "" {
					closed++
				}
			}
			if closed != tc.chatClosed {
				t.Errorf("%d chat cards closed, want %d", closed, tc.chatClosed)
			}
		})
	}
}

// chat stands in for the workspace's chat: it reaches the people in the
// directory and keeps what they are sent.
type chat struct {
	mu            sync.Mutex
	sent, updated []*flows.Message
}

func (*chat) Platform() string { return "chat" }

func (*chat) Reach(to flows.Recipient) (bot.Address, bool) {
	_, outside := flows.ExternalEmail(to.Person)
	return bot.Address{Person: to.Person, ID: to.Person}, to.Person != "" && !outside
}

func (c *chat) Send(_ context.Context, _ bot.Address, m *flows.Message, _ string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sent = append(c.sent, m)
	return fmt.Sprint(len(c.sent)), nil
}

func (c *chat) Update(_ context.Context, _ string, m *flows.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.updated = append(c.updated, m)
	return nil
}
