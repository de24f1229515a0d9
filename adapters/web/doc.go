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
// Beside the console, the package serves pages meant for other networks:
// the approval page of external participants (External, /x/{token}: the
// signed link is the only credential) and the operations dashboard
// (Dashboard, /dashboard: admins sign in; open to this machine in local
// console mode). They reuse the console's stylesheet and policy.
//
// It imports flows and bot (whose Messenger port it implements), nothing of
// storage and no other adapter.
package web
