package email

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"net/url"
	"strings"
	"time"

	"github.com/batonbot/baton/bot"
	"github.com/batonbot/baton/flows"
)

// SMTPConfig is an SMTP relay, usually parsed from BATON_SMTP_URL by ParseURL.
type SMTPConfig struct {
	Addr        string // host:port
	Username    string
	Password    string
	From        string
	ImplicitTLS bool        // smtps://: TLS from the first byte (port 465)
	TLS         *tls.Config // nil: verify the server's certificate against its host name
	// PlainOK lets mail go unencrypted to a relay off this machine that
	// offers no STARTTLS (?starttls=optional). Otherwise such a relay is
	// refused: the approval links in the mail are secrets.
	PlainOK bool
	Timeout time.Duration // per mail (default 30 s)
}

// ParseURL reads BATON_SMTP_URL: smtp://user:pass@host:587?from=baton@example.com
// (STARTTLS, required unless the server is on this machine or the URL adds
// starttls=optional) or smtps://… (TLS from the start, port 465 by
// default). It does no I/O.
func ParseURL(raw string) (SMTPConfig, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return SMTPConfig{}, fmt.Errorf("BATON_SMTP_URL: %s", flows.URLProblem(err))
	}
	var c SMTPConfig
	port := "587"
	switch u.Scheme {
	case "smtp":
	case "smtps":
		c.ImplicitTLS, port = true, "465"
	default:
		return c, fmt.Errorf("BATON_SMTP_URL scheme %q: write smtp://user:pass@host:587?from=baton@example.com (or smtps:// for port 465)", u.Scheme)
	}
	if u.Hostname() == "" {
		return c, fmt.Errorf("BATON_SMTP_URL has no host: write smtp://user:pass@host:587?from=baton@example.com")
	}
	c.Addr = net.JoinHostPort(u.Hostname(), cmp.Or(u.Port(), port))
	if u.User != nil {
		c.Username = u.User.Username()
		c.Password, _ = u.User.Password()
	}
	switch v := u.Query().Get("starttls"); v {
	case "", "required":
	case "optional":
		c.PlainOK = true
	default:
		return c, fmt.Errorf("BATON_SMTP_URL starttls=%q: write starttls=optional to send mail unencrypted to a relay that offers no STARTTLS (the default requires it)", v)
	}
	if c.PlainOK && c.Username != "" {
		return c, fmt.Errorf("BATON_SMTP_URL: starttls=optional cannot go with a user and password: Baton never sends a password unencrypted; use a relay that offers STARTTLS, or smtps://")
	}
	c.From = u.Query().Get("from")
	if c.From == "" {
		return c, fmt.Errorf("BATON_SMTP_URL needs the sender: add ?from=baton@example.com")
	}
	if !flows.ValidEmail(c.From) {
		return c, fmt.Errorf("BATON_SMTP_URL from=%q is not an email address", c.From)
	}
	return c, nil
}

// SMTP sends mail through a relay, one connection per mail.
type SMTP struct {
	cfg SMTPConfig
}

var _ Sender = (*SMTP)(nil)

// NewSMTP builds the sender. It does no I/O.
func NewSMTP(cfg SMTPConfig) *SMTP {
	cfg.Timeout = cmp.Or(cfg.Timeout, 30*time.Second)
	return &SMTP{cfg: cfg}
}

// Send implements Sender. A 5xx reply (unknown mailbox, refused sender,
// failed authentication) is permanent; anything else may be retried.
func (s *SMTP) Send(ctx context.Context, m Mail) error {
	err := s.send(ctx, m)
	var tp *textproto.Error
	if errors.As(err, &tp) && tp.Code >= 500 {
		return bot.Permanent(err)
	}
	return err
}

func (s *SMTP) send(ctx context.Context, m Mail) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	c, _, err := s.open(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	from := cmp.Or(s.cfg.From, m.From)
	if err := c.Mail(from); err != nil {
		return fmt.Errorf("smtp MAIL FROM %s: %w", from, err)
	}
	if err := c.Rcpt(m.To); err != nil {
		return fmt.Errorf("smtp RCPT TO %s: %w", m.To, err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp DATA: %w", err)
	}
	m.From = from
	if _, err := w.Write(Format(m)); err != nil {
		return fmt.Errorf("smtp write: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp end of data: %w", err)
	}
	// The relay took the mail: a failed QUIT (a relay that drops the
	// connection) must not send it again, with a new link, on a retry.
	_ = c.Quit()
	return nil
}

// open connects to the relay, says hello, secures the connection (or
// refuses to go on unencrypted off this machine) and signs in. It says how
// the connection is secured. ctx bounds the whole session: it closes the
// connection when it ends.
func (s *SMTP) open(ctx context.Context) (*smtp.Client, string, error) {
	host, _, _ := net.SplitHostPort(s.cfg.Addr)
	tlsConf := s.cfg.TLS
	if tlsConf == nil {
		tlsConf = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return nil, "", fmt.Errorf("smtp dial %s: %w", s.cfg.Addr, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	context.AfterFunc(ctx, func() { conn.Close() })
	secured := "unencrypted"
	if s.cfg.ImplicitTLS {
		conn, secured = tls.Client(conn, tlsConf), "TLS"
	}
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return nil, "", fmt.Errorf("smtp %s: %w", s.cfg.Addr, err)
	}
	fail := func(err error) (*smtp.Client, string, error) {
		c.Close()
		return nil, "", err
	}
	if err := c.Hello("localhost"); err != nil {
		return fail(fmt.Errorf("smtp hello: %w", err))
	}
	if ok, _ := c.Extension("STARTTLS"); ok && !s.cfg.ImplicitTLS {
		if err := c.StartTLS(tlsConf); err != nil {
			return fail(fmt.Errorf("smtp starttls: %w", err))
		}
		secured = "STARTTLS"
	} else if !s.cfg.ImplicitTLS && !s.cfg.PlainOK && !onThisMachine(host, conn.RemoteAddr()) {
		// A relay that offers no STARTTLS, or an attacker who stripped it
		// from the reply: the mail and its approval link would cross the
		// network in the clear.
		fix := "use a relay that offers it, or smtps://, or add starttls=optional to BATON_SMTP_URL to accept that"
		if s.cfg.Username != "" {
			fix = "use a relay that offers it, or smtps:// (a password is never sent unencrypted)"
		}
		return fail(bot.Permanent(fmt.Errorf("smtp %s offers no STARTTLS: the mail, and the approval link in it, would go unencrypted; %s", s.cfg.Addr, fix)))
	}
	if s.cfg.Username != "" {
		// PlainAuth refuses to send a password without TLS, except to localhost.
		if err := c.Auth(smtp.PlainAuth("", s.cfg.Username, s.cfg.Password, host)); err != nil {
			return fail(fmt.Errorf("smtp auth as %s: %w", s.cfg.Username, err))
		}
	}
	return c, secured, nil
}

// Check opens a session with the relay as a mail would (TLS, sign-in),
// offers it the sender, and leaves without sending anything: what baton
// doctor runs. It says how the connection was secured.
func (s *SMTP) Check(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	c, secured, err := s.open(ctx)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if err := c.Mail(s.cfg.From); err != nil {
		return "", fmt.Errorf("smtp MAIL FROM %s: %w", s.cfg.From, err)
	}
	if err := c.Reset(); err != nil {
		return "", fmt.Errorf("smtp RSET: %w", err)
	}
	_ = c.Quit()
	return secured, nil
}

// onThisMachine says whether the relay, host as configured and reached at
// remote, is on this machine: by its name (as net/smtp's PlainAuth decides
// where a password may go without TLS) or by the address it was reached at.
func onThisMachine(host string, remote net.Addr) bool {
	if ip := net.ParseIP(host); strings.EqualFold(host, "localhost") || ip != nil && ip.IsLoopback() {
		return true
	}
	tcp, ok := remote.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}

// encodeSubject encodes a subject for its header. Typed text that looks
// like an encoded word ("=?utf-8?q?…?=") is encoded too, or mail programs
// would decode it into something else (another subject, even characters
// the form refuses): a word joiner (invisible) after each "=" makes it
// need encoding, in which "=" and "?" are escaped. An encoded subject is a
// run of encoded words: each goes on a line of its own (folded), or a
// non-Latin title makes a line relays refuse.
func encodeSubject(s string) string {
	s = strings.ReplaceAll(s, "=?", "=\u2060?")
	enc := mime.QEncoding.Encode("utf-8", s)
	if enc == s {
		return s
	}
	return strings.ReplaceAll(enc, "?= =?", "?=\r\n =?")
}

// Format writes m as an RFC 5322 message: UTF-8 plain text, quoted-printable.
func Format(m Mail) []byte {
	var b bytes.Buffer
	h := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	h("From", (&mail.Address{Name: "Baton", Address: m.From}).String())
	h("To", (&mail.Address{Address: m.To}).String())
	h("Subject", encodeSubject(m.Subject))
	h("Date", m.At.UTC().Format(time.RFC1123Z))
	h("Message-ID", "<"+m.ID+">")
	if m.InReplyTo != "" {
		h("In-Reply-To", "<"+m.InReplyTo+">")
		h("References", "<"+m.InReplyTo+">")
	}
	h("Auto-Submitted", "auto-generated")
	h("MIME-Version", "1.0")
	h("Content-Type", "text/plain; charset=utf-8")
	h("Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	_, _ = qp.Write([]byte(strings.ReplaceAll(flows.ReadBreaks(m.Text), "\n", "\r\n")))
	_ = qp.Close()
	return b.Bytes()
}
