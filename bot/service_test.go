package bot_test

import (
	"errors"
	"testing"

	"github.com/batonbot/baton/bot"
	"github.com/batonbot/baton/flows"
)

// A start whose person field names nobody in the directory is refused
// before an id is reserved: the next request gets the next number.
func TestStartWithUnknownPersonUsesNoID(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	form := func(editor string) map[string]string {
		return map[string]string{"headline": "Launch post", "draft": "https://docs.example.com/d/1", "editor": editor}
	}
	first, err := h.Svc.Handle(t.Context(), flows.Event{Kind: flows.EventStart, Key: "c1", Actor: "alice", Flow: "content", Data: form("ivan")})
	if err != nil || first.Instance != "CR-1" {
		t.Fatalf("first start: %+v %v", first, err)
	}
	_, err = h.Svc.Handle(t.Context(), flows.Event{Kind: flows.EventStart, Key: "c2", Actor: "alice", Flow: "content", Data: form("zed")})
	var fe flows.FieldErrors
	if !errors.As(err, &fe) || fe["editor"] == "" {
		t.Fatalf("a start naming an unknown editor: %v, want a field error on editor", err)
	}
	next, err := h.Svc.Handle(t.Context(), flows.Event{Kind: flows.EventStart, Key: "c3", Actor: "alice", Flow: "content", Data: form("ivan")})
	if err != nil || next.Instance != "CR-2" {
		t.Fatalf("the next start is %+v %v, want CR-2", next, err)
	}
}

// A form pre-filled for resubmission shows numbers as typed: a million is
// 1000000, not 1e+06 (which a number input may refuse).
func TestFormValuesNumbersAsTyped(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	def, _ := h.Engine.Flow("purchase")
	got := bot.FormValues(def, &flows.Instance{Data: map[string]any{"amount": 1000000.0, "item": "Servers"}})
	if got["amount"] != "1000000" || got["item"] != "Servers" {
		t.Fatalf("form values %v", got)
	}
	got = bot.FormValues(def, &flows.Instance{Data: map[string]any{"amount": 1234.5}})
	if got["amount"] != "1234.5" {
		t.Fatalf("form values %v", got)
	}
}
