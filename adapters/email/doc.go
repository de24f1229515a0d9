// Package email is the delivery platform for external participants: people
// outside the chat workspace whom a step assigns by address (flows person id
// "email:ADDRESS"). It implements bot.Messenger: each card for such a person
// becomes a plain-text mail; a card asking for a decision carries a
// per-person, expiring, single-use signed link to Baton's approval page
// (/x/{token}). Mail leaves through SMTP (BATON_SMTP_URL, STARTTLS) or, in
// development, stays in an in-memory Outbox the web console shows. A mail
// cannot change: when a card closes, a reply to its mail says so, once, and
// reminders (replies in the thread of the task's mail) get none of their own.
//
// Delivery goes through the outbox like every other card, so it is
// at-least-once and retried: SMTP 4xx replies and network errors are
// retried, 5xx replies are permanent. What was sent is recorded as cards
// are (a card's mail by its reference; the reply saying it closed under
// its UpdateKey, as a bot.UpdateSender), so an entry delivered again sends
// neither twice: only a stop between the relay taking a mail and that
// record, or a lost reply to the end of its data, does.
//
// It imports flows and bot (whose Messenger port it implements), nothing of
// storage and no other adapter.
package email
