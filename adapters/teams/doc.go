// Package teams is the Microsoft Teams adapter: it receives Bot Framework
// activities on POST /api/messages (typed commands, Adaptive Card
// Action.Execute invokes, installs), turns them into Service calls, and
// delivers Baton's cards to people and channels in Teams as Adaptive Cards
// 1.5 (the bot.Messenger port), updating every copy when a decision closes
// a card.
//
// It uses msbotbuilder-go v0.2.5 for what works there: the Bot Framework
// schema types and its BotFrameworkAdapter struct, composed with parts of
// our own in place of the library's broken ones (platform notes §4): an
// inbound JWT validator built on keyfunc/v3 and golang-jwt/v5 (cached keys
// refreshed on an unknown key id, issuer, audience, serviceurl claim, 5
// minutes of leeway), a Bot Connector client with x/oauth2 client
// credentials from the tenant's endpoint, timeouts, Retry-After and
// per-conversation pacing (x/time/rate), and invoke responses written to the
// HTTP response ourselves.
//
// It may import flows, bot (whose Messenger port it implements and whose KV
// port it uses), msbotbuilder-go's schema, core and connector (auth, client)
// types, keyfunc/v3 (with jwkset), golang-jwt/v5, golang.org/x/oauth2,
// golang.org/x/time and the standard library. It never imports storage or
// another adapter.
package teams
