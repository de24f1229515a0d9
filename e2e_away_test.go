package main

import (
	"net/http"
	"net/url"
	"testing"
)

// Through the console, as people would: Bob types away with Carol as his
// stand-in; his pending card and his next one reach Carol, who approves on
// his behalf; back, and his next task is his alone again.
func TestConsoleAwayEndToEnd(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	buy := url.Values{"item": {"Laptop"}, "amount": {"500"}, "justification": {"my old one broke down"}}
	first := h.start("alice", "purchase", buy)
	command := func(as, text string) string {
		t.Helper()
		code, out := h.post(as, "/console/command", url.Values{"text": {text}})
		if code != http.StatusOK {
			t.Fatalf("%s: %d %v", text, code, out)
		}
		h.drain()
		return out["message"].(map[string]any)["title"].(string)
	}
	h.mustContain("away", command("bob", "away until 2026-11-30 carol"), "You are away through Mon 30 Nov, and Carol Diaz stands in", "1 pending task was shared now")
	h.mustContain("carol's inbox", h.inbox("carol"), `data-action="approve-`+first+`-manager-1"`, "Delegated to you by Bob Chen: away through Mon 30 Nov")
	second := h.start("alice", "purchase", buy)
	h.mustContain("carol's inbox", h.inbox("carol"), `data-action="approve-`+second+`-manager-1"`, "Bob Chen is away through Mon 30 Nov, and Carol Diaz stands in")
	h.mustContain("bob's inbox", h.inbox("bob"), `data-action="approve-`+second+`-manager-1"`) // his to take, too
	h.act("carol", "approve", second, "manager", 1, true)
	h.mustContain("the timeline", h.status("alice", second), "Carol Diaz", "on behalf of Bob Chen")
	h.mustContain("back", command("bob", "back"), "Welcome back")
	third := h.start("alice", "purchase", buy)
	if in := h.instance(third); len(in.Tasks) != 1 || len(in.Tasks[0].Delegates) != 0 {
		t.Fatalf("after back: tasks %+v, want bob's alone", in.Tasks)
	}
}
