// Package web is the local web console: the same commands, forms and cards
// as in chat, served as HTML with a little JavaScript (no build step), and
// the "web" delivery platform that shows each person the cards they receive.
// It imports flows and bot (whose Messenger port it implements), nothing of
// storage and no other adapter.
package web
