// Package web is the local web console: the same commands, forms and cards
// as in chat, served as HTML with a little JavaScript (no build step), and
// the "web" delivery platform that shows each person the cards they receive.
// Pages post forms and redirect; the page's inbox updates itself through
// server-sent events. With Accept: application/json the same endpoints
// answer JSON.
//
// The console lets anyone act as anyone, so unless Config.Open it answers
// only this machine: clients on a loopback address that call it by a local
// name (localhost, 127.0.0.1), which defeats DNS rebinding. Cross-site form
// posts are refused, and a strict Content-Security-Policy (no inline
// script) keeps text typed into forms from ever running.
//
// It imports flows and bot (whose Messenger port it implements), nothing of
// storage and no other adapter.
package web
