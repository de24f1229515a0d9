package web

import (
	"net/http"
	"time"
)

// Mail is a mail Baton sent, as the console's "Outbox mail" view shows it:
// in development no SMTP server is configured and mail to external
// participants stays in memory, links and all.
type Mail struct {
	At      time.Time
	To      string
	Subject string
	Text    string
	Link    string // the signed approval link in Text, if any
}

// ShowMail gives the console the mail to show at /console/mail (before
// Handler is called). The view is behind the console's guard: the links
// in it are live credentials.
func (c *Console) ShowMail(mails func() []Mail) { c.mail = mails }

type mailData struct {
	Mails []Mail
	On    bool
	Now   time.Time
}

func (c *Console) mailbox(w http.ResponseWriter, r *http.Request) {
	d := mailData{On: c.mail != nil, Now: c.svc.Now()}
	if c.mail != nil {
		d.Mails = c.mail()
	}
	renderPage(w, c.log, mailTemplates, http.StatusOK, "mail", d)
}

var mailTemplates = pageTemplates("/console/static/")
