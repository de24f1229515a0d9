package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/batonbot/baton/flows"
)

// End-to-end tests of the exceptions (send back and resume, reassign,
// delegate, comment, withdraw, cancel, skip, task outputs, stale and double
// clicks), driven only through the console's HTTP interface, over the
// harness of e2e_test.go.

func (h *harness) mustNotContain(where, s string, unwanted ...string) {
	h.t.Helper()
	for _, u := range unwanted {
		if strings.Contains(s, u) {
			h.t.Fatalf("%s should not contain %q:\n%s", where, u, s)
		}
	}
}

// mustCount fails unless sub occurs exactly n times in s.
func (h *harness) mustCount(where, s, sub string, n int) {
	h.t.Helper()
	if got := strings.Count(s, sub); got != n {
		h.t.Fatalf("%s has %q %d times, want %d:\n%s", where, sub, got, n, s)
	}
}

// form posts a console form (no answer expected to be ok); it fails the
// test unless the HTTP status is code.
func (h *harness) form(as, path string, code int, kv ...string) map[string]any {
	h.t.Helper()
	f := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		f.Set(kv[i], kv[i+1])
	}
	got, out := h.post(as, path, f)
	if got != code {
		h.t.Fatalf("POST %s as %s: status %d, want %d: %v", path, as, got, code, out)
	}
	h.drain()
	return out
}

// refuse posts a card action that must be refused as bad input (422),
// changing nothing; it returns the error text.
func (h *harness) refuse(as, action, id, step string, round int, extra ...string) string {
	h.t.Helper()
	before := h.instance(id)
	out := h.form(as, "/console/act", http.StatusUnprocessableEntity,
		append([]string{"action", action, "instance", id, "step", step, "round", strconv.Itoa(round)}, extra...)...)
	h.unchanged(before, 0)
	return out["error"].(string)
}

// unchanged fails unless the instance is as before, but for refusals
// recorded in its audit trail.
func (h *harness) unchanged(before *flows.Instance, refusals int) {
	h.t.Helper()
	after := h.instance(before.ID)
	if after.Status != before.Status || after.Step != before.Step || after.Round != before.Round ||
		len(after.Tasks) != len(before.Tasks) || len(after.History) != len(before.History) || after.AuditSeq != before.AuditSeq+refusals {
		h.t.Fatalf("%s changed: status %s→%s, step %s/%d→%s/%d, audit %d→%d (want +%d)", before.ID, before.Status, after.Status,
			before.Step, before.Round, after.Step, after.Round, before.AuditSeq, after.AuditSeq, refusals)
	}
	for i := range after.Tasks {
		if after.Tasks[i].Assignee != before.Tasks[i].Assignee || after.Tasks[i].Decision != before.Tasks[i].Decision {
			h.t.Fatalf("%s task %d changed: %+v → %+v", before.ID, i, before.Tasks[i], after.Tasks[i])
		}
	}
}

// status is the status page of id as seen by as.
func (h *harness) status(as, id string) string { return h.get("/console/status/" + id + "?as=" + as) }

// getJSON GETs path asking for JSON; it returns the status and the answer.
func (h *harness) getJSON(path string) (int, map[string]any) {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, h.srv.URL+path, nil)
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		h.t.Fatalf("GET %s: status %d, undecodable answer: %v", path, resp.StatusCode, err)
	}
	return resp.StatusCode, out
}

// getCode GETs path (as a browser, following redirects) and returns the
// status and the page.
func (h *harness) getCode(path string) (int, string) {
	h.t.Helper()
	resp, err := http.Get(h.srv.URL + path)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// thread returns the thread (a card and its replies) of an inbox that
// contains marker, e.g. a button's data-action.
func (h *harness) thread(where, inbox, marker string) string {
	h.t.Helper()
	for _, th := range strings.Split(inbox, `<div class="thread"`) {
		if strings.Contains(th, marker) {
			return th
		}
	}
	h.t.Fatalf("%s has no card with %q:\n%s", where, marker, inbox)
	return ""
}

// finished checks the audit trail's hash chain and that nothing is left to
// deliver or to fire. It returns the audit trail.
func (h *harness) finished(ids ...string) [][]flows.AuditEntry {
	h.t.Helper()
	var out [][]flows.AuditEntry
	for _, id := range ids {
		audit, err := h.a.store.Audit(h.t.Context(), id)
		if err != nil {
			h.t.Fatalf("audit of %s: %v", id, err)
		}
		if err := flows.VerifyChain(audit); err != nil {
			h.t.Fatalf("audit of %s: %v", id, err)
		}
		if in := h.instance(id); len(audit) != in.AuditSeq {
			h.t.Fatalf("%s: %d audit entries, the instance counts %d", id, len(audit), in.AuditSeq)
		}
		out = append(out, audit)
	}
	outbox, timers, err := h.a.store.Pending(h.t.Context())
	if err != nil || outbox != 0 || timers != 0 {
		h.t.Fatalf("left over: %d outbox entries, %d timers (%v)", outbox, timers, err)
	}
	return out
}

func (h *harness) wantStatus(id string, status flows.Status, step string, round int) *flows.Instance {
	h.t.Helper()
	in := h.instance(id)
	if in.Status != status || in.Step != step || in.Round != round {
		h.t.Fatalf("%s: %s at %q round %d, want %s at %q round %d", id, in.Status, in.Step, in.Round, status, step, round)
	}
	return in
}

// text is what an answer says: its text, or its error.
func text(out map[string]any) string {
	s, _ := out["text"].(string)
	e, _ := out["error"].(string)
	return s + e
}

func contentForm(headline, draft string) url.Values {
	return url.Values{"headline": {headline}, "draft": {draft}, "audience": {"internal"}, "editor": {"ivan"}}
}

// Request changes, resubmit with a change, round N+1 at the same step with
// what changed, up to the step's revision cap (content: max_rounds 4); then
// the task step the requester marks done.
func TestConsoleChangesRoundsAndRevisionCap(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	const draft1, draft2 = "https://docs.example.com/d/launch", "https://docs.example.com/d/launch-v2"
	id := h.start("alice", "content", contentForm("Launch post", draft1))
	if id != "CR-1" {
		t.Fatalf("id %s", id)
	}
	card := h.thread("ivan's inbox", h.inbox("ivan"), `data-action="approve-CR-1-edit-1"`)
	h.mustContain("ivan's card", card, "Content review CR-1: Launch post", "Editorial review", "<dt>Editor</dt><dd>Ivan Petrov</dd>",
		`data-action="changes-CR-1-edit-1"`, `data-action="reassign-CR-1-edit-1"`)
	h.mustNotContain("ivan's first card", card, "Round ")

	// A reason is required; someone else is refused (and audited).
	h.mustContain("no reason", h.refuse("ivan", "changes", id, "edit", 1), "A reason is required to request changes")
	before := h.instance(id)
	h.mustContain("outsider", h.act("bob", "changes", id, "edit", 1, false, "reason", "meh"), "assigned to Ivan Petrov")
	h.unchanged(before, 1)

	// Ivan asks for changes. A double click (the same form sent twice)
	// gives the same answer and changes nothing more.
	first := h.act("ivan", "changes", id, "edit", 1, true, "reason", "Tighten the headline", "key", "ivan-changes-1")
	h.mustContain("answer", first, "Asked for changes to CR-1; Alice Martin has been told.")
	before = h.wantStatus(id, flows.StatusChangesRequested, "edit", 1)
	if again := h.act("ivan", "changes", id, "edit", 1, true, "reason", "Tighten the headline", "key", "ivan-changes-1"); again != first {
		t.Fatalf("double click answered %q, first %q", again, first)
	}
	h.unchanged(before, 0)
	h.mustCount("alice's inbox", h.inbox("alice"), "Changes requested: Content review CR-1", 1)
	// The same button clicked again (a new click): refused, naming who decided.
	h.mustContain("stale click", h.act("ivan", "approve", id, "edit", 1, false), "Changes to CR-1 were already requested by Ivan Petrov")
	h.unchanged(before, 1)
	before = h.instance(id)

	sentBack := h.thread("alice's inbox", h.inbox("alice"), "Changes requested: Content review CR-1")
	h.mustContain("alice's notice", sentBack, "Ivan Petrov asked for changes at Editorial review.", "Reason: Tighten the headline",
		`href="/console/resubmit/CR-1?as=alice"`, "You can resubmit 3 more times.", `data-action="withdraw-CR-1-edit-1"`)
	h.mustContain("ivan's closed card", h.thread("ivan's inbox", h.inbox("ivan"), "CR-1: Launch post"), "Changes requested by Ivan Petrov", "Reason: Tighten the headline")
	// Its time is in Ivan's zone (Berlin), as the rest of his page: the
	// update that closed every copy of the card carries the time as data.
	h.mustContain("ivan's closed card's time", h.thread("ivan's inbox", h.inbox("ivan"), "CR-1: Launch post"), "Changes requested by Ivan Petrov · "+flows.FormatTime(h.clock.Now(), berlin(t)))
	h.mustNotContain("ivan's closed card's time", h.thread("ivan's inbox", h.inbox("ivan"), "CR-1: Launch post"), "Changes requested by Ivan Petrov · "+flows.FormatTime(h.clock.Now(), time.UTC))
	h.mustNotContain("ivan's inbox", h.inbox("ivan"), `data-action="approve-CR-1-edit-1"`)

	// Only Alice gets the edit form, pre-filled and saying why it came back.
	h.mustContain("resubmit form", h.get("/console/resubmit/CR-1?as=alice"), "Ivan Petrov sent it back: Tighten the headline", `value="Launch post"`, `value="`+draft1+`"`)
	if code, page := h.getCode("/console/resubmit/CR-1?as=bob"); code != http.StatusForbidden || !strings.Contains(page, "Only Alice Martin, who made CR-1, can resubmit it.") {
		t.Fatalf("bob's resubmit form: %d %s", code, page)
	}
	out := h.form("bob", "/console/resubmit/"+id, http.StatusForbidden, "headline", "Hijacked", "draft", draft1, "editor", "ivan")
	h.mustContain("bob's resubmit", out["error"].(string), "Only Alice Martin")
	h.unchanged(before, 0)
	// A bad edit is refused field by field.
	out = h.form("alice", "/console/resubmit/"+id, http.StatusUnprocessableEntity, "headline", "Launch post", "draft", "not a link", "editor", "ivan")
	if out["fields"].(map[string]any)["draft"] == nil {
		t.Fatalf("bad draft: %v", out)
	}
	h.unchanged(before, 0)

	// Round 2: back at the same step, showing what changed.
	round2 := []string{"headline", "Launch post, shorter", "draft", draft1, "audience", "internal", "editor", "ivan", "note", "Shortened it", "key", "r2"}
	out = h.form("alice", "/console/resubmit/"+id, http.StatusOK, round2...)
	h.mustContain("resubmitted", out["text"].(string), "Resubmitted CR-1 (round 2). Waiting on Ivan Petrov (Editorial review).")
	h.wantStatus(id, flows.StatusRunning, "edit", 2)
	// Sent twice (a double click): the second gets the first's answer.
	if again := h.form("alice", "/console/resubmit/"+id, http.StatusOK, round2...); again["ok"] != true || again["text"] != out["text"] {
		t.Fatalf("the resubmission sent again: %v, want %v", again, out)
	}
	h.wantStatus(id, flows.StatusRunning, "edit", 2)
	card = h.thread("ivan's inbox", h.inbox("ivan"), `data-action="approve-CR-1-edit-2"`)
	h.mustContain("round 2 card", card, "Round 2", "Changed since the last review", "Headline: <del>Launch post</del> → <ins>Launch post, shorter</ins>",
		"Note from Alice Martin: Shortened it", `data-action="changes-CR-1-edit-2"`)
	h.mustNotContain("round 2 card", card, "Link to the draft: <del>")
	// The old notice's resubmit link now says it is not sent back.
	code, ans := h.getJSON("/console/resubmit/CR-1?as=alice")
	if code != http.StatusOK || ans["ok"] != false || !strings.Contains(ans["text"].(string), "CR-1 is running; only a request sent back to you can be resubmitted.") {
		t.Fatalf("resubmit while running: %d %v", code, ans)
	}

	// Round 3: only what changed since round 2 is shown.
	h.act("ivan", "changes", id, "edit", 2, true, "reason", "Link the final draft")
	h.mustContain("alice's second notice", h.thread("alice's inbox", h.inbox("alice"), `withdraw-CR-1-edit-2`), "Reason: Link the final draft", "You can resubmit 2 more times.")
	h.form("alice", "/console/resubmit/"+id, http.StatusOK, "headline", "Launch post, shorter", "draft", draft2, "editor", "ivan")
	card = h.thread("ivan's inbox", h.inbox("ivan"), `data-action="approve-CR-1-edit-3"`)
	h.mustContain("round 3 card", card, "Round 3", "Link to the draft: <del>"+draft1+"</del> → <ins>"+draft2+"</ins>")
	h.mustNotContain("round 3 card", card, "Headline: <del>")

	// Round 4 is the last: no more "Request changes", and asking is refused.
	h.act("ivan", "changes", id, "edit", 3, true, "reason", "One more pass")
	h.mustContain("alice's third notice", h.thread("alice's inbox", h.inbox("alice"), `withdraw-CR-1-edit-3`), "You can resubmit 1 more time.")
	h.form("alice", "/console/resubmit/"+id, http.StatusOK, "headline", "Launch post: final", "draft", draft2, "editor", "ivan")
	card = h.thread("ivan's inbox", h.inbox("ivan"), `data-action="approve-CR-1-edit-4"`)
	h.mustContain("round 4 card", card, "Round 4", `data-action="reject-CR-1-edit-4"`)
	h.mustNotContain("round 4 card", card, `data-action="changes-CR-1-edit-4"`)
	h.mustContain("over the cap", h.refuse("ivan", "changes", id, "edit", 4, "reason", "again"),
		"CR-1 has had 4 rounds at Editorial review, the most allowed; approve or reject it")

	// Approved at round 4; legal is passed over (internal); the publish
	// task is the requester's, marked done (it has no outputs).
	h.mustContain("approve", h.act("ivan", "approve", id, "edit", 4, true), "Waiting on Alice Martin (Publish).")
	h.wantStatus(id, flows.StatusRunning, "publish", 1)
	task := h.thread("alice's inbox", h.inbox("alice"), `data-action="done-CR-1-publish-1"`)
	h.mustContain("publish task", task, "Publish the content, then mark this done.", `data-action="reassign-CR-1-publish-1"`)
	h.mustNotContain("publish task", task, `data-action="approve-`)
	h.mustContain("approve a task", h.refuse("alice", "approve", id, "publish", 1), "CR-1 is a task (Publish): mark it done instead")
	h.mustContain("ivan marks done", h.act("ivan", "done", id, "publish", 1, false), "assigned to Alice Martin")
	h.act("alice", "done", id, "publish", 1, true)
	in := h.wantStatus(id, flows.StatusCompleted, "", 0)
	if in.Outcome != "approved" || in.Title != "Launch post: final" || in.Rounds["edit"] != 4 {
		t.Fatalf("final %s %q %v", in.Outcome, in.Title, in.Rounds)
	}
	h.mustContain("alice's outcome", h.inbox("alice"), "Approved: Content review CR-1 (Launch post: final)",
		"Editorial review: approved by Ivan Petrov", "Publish: done by Alice Martin")

	st := h.status("ivan", id)
	h.mustContain("status", st, "Status: completed (approved)", "Changes requested by Ivan Petrov", "round 2: Changes requested by Ivan Petrov",
		"round 3: Changes requested by Ivan Petrov", "round 4: Approved by Ivan Petrov", "Tighten the headline", "note: Shortened it",
		"Headline: Launch post → Launch post, shorter", "Bob Chen tried to request changes (refused)", "Ivan Petrov tried to approve (refused)",
		"Legal sign-off</strong><div>Not needed: its condition (audience == &#34;external&#34;) is false", "Done by Alice Martin")
	h.finished(id)
}

// At the revision cap a rejection is final: the request is closed
// (declined); the notice has neither a resubmit link nor Withdraw, the form
// is not offered and a resubmission or a withdrawal is refused.
func TestConsoleRevisionCapDeclines(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	mon := func(item string) url.Values {
		return url.Values{"item": {item}, "amount": {"400"}, "justification": {"the second screen died"}}
	}
	id := h.start("alice", "purchase", mon("Monitor"))
	for round := 1; round < 3; round++ {
		h.act("bob", "changes", id, "manager", round, true, "reason", "Which model?")
		h.form("alice", "/console/resubmit/"+id, http.StatusOK, "item", "Monitor model "+strconv.Itoa(round), "amount", "400", "justification", "the second screen died")
	}
	card := h.thread("bob's inbox", h.inbox("bob"), `data-action="approve-PR-1-manager-3"`)
	h.mustContain("round 3 card", card, "Round 3", "What are you buying? <del>Monitor model 1</del> → <ins>Monitor model 2</ins>")
	h.mustNotContain("round 3 card", card, `data-action="changes-PR-1-manager-3"`)
	h.mustContain("reject without reason", h.refuse("bob", "reject", id, "manager", 3), "A reason is required to reject")
	h.act("bob", "reject", id, "manager", 3, true, "reason", "Not in this quarter's budget")
	before := h.wantStatus(id, flows.StatusDeclined, "manager", 3)

	notice := h.thread("alice's inbox", h.inbox("alice"), "Rejected: Purchase request PR-1")
	h.mustContain("rejection", notice, "Bob Chen rejected your request at Manager approval.", "Reason: Not in this quarter&#39;s budget",
		"That was its last round (3 of 3): the request is closed.")
	h.mustNotContain("rejection", notice, "/console/resubmit/", "You can resubmit", `data-action="withdraw-PR-1`)
	// Neither the form nor a resubmission gets past the cap.
	code, ans := h.getJSON("/console/resubmit/PR-1?as=alice")
	if ans["ok"] != false || !strings.Contains(text(ans), "is closed") {
		t.Fatalf("resubmit form at the cap: %d %v", code, ans)
	}
	code, ans = h.post("alice", "/console/resubmit/"+id, mon("Monitor, cheaper"))
	if ans["ok"] != false || !strings.Contains(text(ans), "PR-1 was rejected at the last round Manager approval allows, and is closed") {
		t.Fatalf("resubmit at the cap: %d %v", code, ans)
	}
	h.drain()
	h.unchanged(before, 1) // the attempt is recorded, as refused
	// The requests list says so, and offers no resubmission.
	_, out := h.post("alice", "/console/command", url.Values{"text": {"requests"}})
	list, _ := json.Marshal(out)
	h.mustContain("requests", string(list), "PR-1", "declined: Not in this quarter")
	h.mustNotContain("requests", string(list), `"resubmit"`)
	// Its status page offers nothing but a comment.
	st := h.status("alice", id)
	h.mustContain("status page", st, "Status: declined", "closed the request")
	h.mustNotContain("status page", st, `data-action="withdraw-PR-1"`, `data-action="delegate-PR-1"`, `data-action="skip-PR-1"`)
	h.mustContain("withdraw", h.act("alice", "withdraw", id, "manager", 3, false), "PR-1 is already declined.")
	h.finished(id)
}

// Withdrawing a running request closes the assignees' cards; "cancel <id>"
// typed by the requester is a withdrawal.
func TestConsoleWithdrawWhileRunning(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id := h.start("alice", "purchase", url.Values{"item": {"Desk"}, "amount": {"1500"}, "justification": {"standing desk for my back"}})
	h.act("bob", "approve", id, "manager", 1, true)
	h.mustContain("carol", h.inbox("carol"), `data-action="approve-PR-1-finance-1"`)
	// Carol (an assignee) may not cancel or withdraw it.
	h.mustContain("carol withdraws", h.act("carol", "withdraw", id, "finance", 1, false), "Only Alice Martin, who made PR-1, can withdraw it.")
	_, out := h.post("carol", "/console/command", url.Values{"text": {"cancel PR-1 not needed"}})
	h.mustContain("carol cancels", out["message"].(map[string]any)["title"].(string), "Only the flow owner (Olivia Brown) or an admin can cancel PR-1")
	h.wantStatus(id, flows.StatusRunning, "finance", 1)
	// The status page offers the requester a withdrawal, anyone else a cancel.
	st := h.status("alice", id)
	h.mustContain("alice's status page", st, `data-action="withdraw-PR-1-`)
	h.mustNotContain("alice's status page", st, `data-action="cancel-PR-1"`)
	st = h.status("olivia", id)
	h.mustContain("olivia's status page", st, `data-action="cancel-PR-1"`, `data-action="skip-PR-1"`)
	h.mustNotContain("olivia's status page", st, `data-action="withdraw-PR-1`)
	// Nobody is offered what would be refused (and recorded on Alice's
	// request): Carol, on the step, may delegate her task, not cancel or
	// skip; Bob, whose step is over, only comments.
	st = h.status("carol", id)
	h.mustContain("carol's status page", st, `data-action="delegate-PR-1"`, `data-action="comment-PR-1"`)
	h.mustNotContain("carol's status page", st, `data-action="withdraw-PR-1`, `data-action="cancel-PR-1"`, `data-action="skip-PR-1"`)
	st = h.status("bob", id)
	h.mustContain("bob's status page", st, `data-action="comment-PR-1"`)
	h.mustNotContain("bob's status page", st, `data-action="withdraw-PR-1`, `data-action="cancel-PR-1"`, `data-action="skip-PR-1"`, `data-action="delegate-PR-1"`)
	// Olivia, an admin and the flow's owner, made PR-2: she may withdraw it,
	// not skip or pass on its approval (that would be deciding her own
	// request).
	own := h.start("olivia", "purchase", url.Values{"item": {"Chair"}, "amount": {"300"}, "justification": {"the old one squeaks"}})
	st = h.status("olivia", own)
	h.mustContain("olivia's own status page", st, `data-action="withdraw-`+own+`-`)
	h.mustNotContain("olivia's own status page", st, `data-action="skip-`+own+`"`, `data-action="delegate-`+own+`"`, `data-action="cancel-`+own+`"`)
	_, out = h.post("olivia", "/console/command", url.Values{"text": {"cancel " + own + " not needed after all"}})
	h.mustContain("olivia withdraws", out["message"].(map[string]any)["title"].(string), "Withdrew "+own)
	h.drain()

	// Typed without a reason, cancel asks for one first: trying the
	// example costs the requester nothing, and the owner is told the form.
	_, out = h.post("alice", "/console/command", url.Values{"text": {"cancel PR1"}})
	h.mustContain("alice cancels without a reason", out["message"].(map[string]any)["title"].(string), "To withdraw PR-1, say why: cancel PR-1 <reason>. It cannot be undone.")
	_, out = h.post("olivia", "/console/command", url.Values{"text": {"cancel PR-1"}})
	h.mustContain("olivia cancels without a reason", out["message"].(map[string]any)["title"].(string), "Say why: cancel PR-1 <reason>.")
	h.wantStatus(id, flows.StatusRunning, "finance", 1)

	_, out = h.post("alice", "/console/command", url.Values{"text": {"cancel pr-1 bought one myself"}})
	h.drain()
	h.mustContain("alice cancels", out["message"].(map[string]any)["title"].(string), "Withdrew PR-1.")
	in := h.wantStatus(id, flows.StatusWithdrawn, "finance", 1)
	if in.Outcome != "bought one myself" || len(in.Tasks) != 0 {
		t.Fatalf("withdrawn %q, tasks %+v", in.Outcome, in.Tasks)
	}
	for _, p := range []string{"carol", "frank"} {
		inbox := h.inbox(p)
		h.mustContain(p+"'s closed card", inbox, "Withdrawn by Alice Martin", "Reason: bought one myself")
		h.mustNotContain(p+"'s inbox", inbox, `data-action="approve-PR-1-finance-1"`)
	}
	h.mustContain("stale approve", h.act("frank", "approve", id, "finance", 1, false), "PR-1 was already withdrawn by Alice Martin")
	h.mustContain("status", h.status("alice", id), "Status: withdrawn: bought one myself", "Finance approval</strong><div>Withdrawn by Alice Martin")
	h.finished(id)
}

// Reassign by the assignee (the original stays on record), delegate, and
// an admin moving one assignee's task.
func TestConsoleReassignAndDelegate(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id := h.start("alice", "purchase", url.Values{"item": {"Laptop"}, "amount": {"2500"}, "justification": {"my old one broke down"}})

	h.mustContain("no target", h.refuse("bob", "reassign", id, "manager", 1), "Say who should take it over")
	h.mustContain("to the requester", h.refuse("bob", "reassign", id, "manager", 1, "target", "alice"), "Alice Martin made this request and may not approve it")
	h.mustContain("to himself", h.refuse("bob", "reassign", id, "manager", 1, "target", "bob"), "You are already on this task; pick someone else.")
	before := h.instance(id)
	h.mustContain("carol reassigns", h.act("carol", "reassign", id, "manager", 1, false, "target", "erin"), "assigned to Bob Chen")
	h.unchanged(before, 1)

	h.mustContain("reassign", h.act("bob", "reassign", id, "manager", 1, true, "target", "erin", "reason", "on leave next week"), "PR-1 is now with Erin Park.")
	bob := h.inbox("bob")
	h.mustContain("bob's old card", bob, "Reassigned by Bob Chen", "Reason: on leave next week", "Now with Erin Park.")
	h.mustNotContain("bob's inbox", bob, `data-action="approve-PR-1-manager-1"`)
	erin := h.thread("erin's inbox", h.inbox("erin"), `data-action="approve-PR-1-manager-1"`)
	h.mustContain("erin's card", erin, "Reassigned to you by Bob Chen: on leave next week", "Waiting on Erin Park")
	in := h.instance(id)
	if len(in.Tasks) != 1 || in.Tasks[0].Assignee != "erin" || in.Tasks[0].Original != "bob" {
		t.Fatalf("tasks %+v", in.Tasks)
	}
	h.mustContain("bob approves", h.act("bob", "approve", id, "manager", 1, false), "assigned to Erin Park")

	// Erin delegates to Gus: both may decide; Gus decides on her behalf.
	h.mustContain("delegate", h.act("erin", "delegate", id, "manager", 1, true, "target", "gus", "reason", "travelling"), "Gus Ahmed can now decide PR-1 on behalf of Erin Park.")
	h.mustContain("gus's card", h.thread("gus's inbox", h.inbox("gus"), `data-action="approve-PR-1-manager-1"`), "Delegated to you by Erin Park: travelling")
	h.mustContain("erin's card", h.inbox("erin"), `data-action="approve-PR-1-manager-1"`)
	h.mustContain("delegate twice", h.refuse("erin", "delegate", id, "manager", 1, "target", "gus"), "Gus Ahmed is already on this task")
	h.act("gus", "approve", id, "manager", 1, true)
	for _, p := range []string{"erin", "gus"} {
		inbox := h.inbox(p)
		h.mustContain(p+"'s closed card", inbox, "Approved by Gus Ahmed")
		h.mustNotContain(p+"'s inbox", inbox, `data-action="approve-PR-1-manager-1"`)
	}
	h.mustContain("erin after", h.act("erin", "approve", id, "manager", 1, false), "PR-1 was already approved by Gus Ahmed")

	// Finance (Carol and Frank): the admin moves Frank's task, not the first one.
	h.wantStatus(id, flows.StatusRunning, "finance", 1)
	h.mustContain("admin reassigns", h.act("olivia", "reassign", id, "finance", 1, true, "target", "dana", "from", "frank", "reason", "Frank is out"), "Frank Osei's task on PR-1 is now with Dana Kowalski; Carol Diaz is still on it.")
	h.mustContain("frank's old card", h.inbox("frank"), "Reassigned by Olivia Brown", "Now with Dana Kowalski.")
	h.mustNotContain("frank's inbox", h.inbox("frank"), `data-action="approve-PR-1-finance-1"`)
	h.mustContain("carol's card", h.inbox("carol"), `data-action="approve-PR-1-finance-1"`)
	h.mustContain("dana's card", h.thread("dana's inbox", h.inbox("dana"), `data-action="approve-PR-1-finance-1"`), "Reassigned to you by Olivia Brown (was Frank Osei): Frank is out")
	in = h.instance(id)
	if len(in.Tasks) != 2 || in.Tasks[0].Assignee != "carol" || in.Tasks[1].Assignee != "dana" || in.Tasks[1].Original != "frank" {
		t.Fatalf("finance tasks %+v", in.Tasks)
	}
	h.act("dana", "approve", id, "finance", 1, true)
	in = h.wantStatus(id, flows.StatusCompleted, "", 0)
	h.mustContain("carol's closed card", h.inbox("carol"), "Approved by Dana Kowalski")
	if m, f := in.History[0], in.History[1]; m.By != "gus" || !slices.Equal(m.Assigned, []string{"erin"}) || !slices.Equal(m.Originals, []string{"bob"}) ||
		f.By != "dana" || !slices.Equal(f.Originals, []string{"frank"}) {
		t.Fatalf("history %+v", in.History)
	}

	// The record keeps the originals: the audit trail says who moved what,
	// and those who were on the step may still read it.
	st := h.status("bob", id)
	h.mustContain("status", st, "Bob Chen reassigned", "from: Bob Chen · to: Erin Park", "reason: on leave next week", "Erin Park delegated", "to: Gus Ahmed",
		"Gus Ahmed approved", "on behalf of Erin Park", "Olivia Brown reassigned", "from: Frank Osei · to: Dana Kowalski", "Approved by Gus Ahmed", "Approved by Dana Kowalski")
	h.status("frank", id)
	h.finished(id)
}

// Comments by those involved reach the others (in their card's thread) and
// show in the timeline; outsiders are refused. Cancel and skip are for the
// flow owner and admins, with a reason.
func TestConsoleCommentSkipCancel(t *testing.T) {
	t.Parallel()
	h := newHarnessAdmins(t, "dana") // olivia owns the flows; dana is the admin
	id := h.start("alice", "purchase", url.Values{"item": {"Laptop"}, "amount": {"2500"}, "justification": {"my old one broke down"}})

	h.mustContain("comment", h.act("alice", "comment", id, "", 0, true, "reason", "Any news? The old one is dying."), "Comment added to PR-1.")
	bob := h.thread("bob's inbox", h.inbox("bob"), `data-action="approve-PR-1-manager-1"`)
	h.mustContain("bob's card thread", bob, `class="reply"`, "Any news? The old one is dying.")
	h.mustNotContain("alice's inbox", h.inbox("alice"), "Any news?")
	h.mustContain("empty comment", h.refuse("alice", "comment", id, "", 0, "reason", "  "), "Write the comment")
	before := h.instance(id)
	h.mustContain("outsider comments", h.act("erin", "comment", id, "", 0, false, "reason", "me too"), "Only people involved in PR-1 can comment on it.")
	h.unchanged(before, 1)
	h.mustNotContain("bob's inbox", h.inbox("bob"), "me too")
	// The owner is not on the request but may comment; the requester and Bob hear it.
	h.act("olivia", "comment", id, "", 0, true, "reason", "Finance will need a quote")
	h.mustContain("alice hears the owner", h.inbox("alice"), "Olivia Brown on Purchase request PR-1", "Finance will need a quote")
	h.mustContain("bob hears the owner", h.inbox("bob"), "Finance will need a quote")
	// An outsider cannot read the timeline either.
	code, out := h.post("erin", "/console/command", url.Values{"text": {"status PR-1"}})
	if code != http.StatusOK || !strings.Contains(out["message"].(map[string]any)["title"].(string), "PR-1 is not one of your requests or tasks") {
		t.Fatalf("erin's status: %d %v", code, out)
	}

	// The status page offers the exceptions beyond the card's buttons, as
	// forms posting to the same action endpoint the calls below use.
	page := h.status("dana", id)
	for _, a := range []string{"comment", "delegate", "skip", "cancel"} {
		h.mustContain("dana's status page", page, `data-action="`+a+`-PR-1"`, `name="action" value="`+a+`"`)
	}
	// Those that act on the step name the step and round shown: sent once
	// the request has moved on, they are refused (below), not applied to the
	// step it is at by then.
	for _, a := range []string{"delegate", "skip"} {
		if !regexp.MustCompile(`name="step" value="manager"><input type="hidden" name="round" value="1"><input type="hidden" name="key" value="[^"]+"><input type="hidden" name="action" value="` + a + `">`).MatchString(page) {
			t.Errorf("dana's %s form does not carry the step and round shown", a)
		}
	}

	// Skip: not the assignee, not the requester; the admin, with a reason.
	h.mustContain("bob skips", h.act("bob", "skip", id, "manager", 1, false, "reason", "x"), "Only the flow owner (Olivia Brown) or an admin can skip a step.")
	h.mustContain("alice skips", h.act("alice", "skip", id, "manager", 1, false, "reason", "x"), "Only the flow owner")
	h.mustContain("skip without reason", h.refuse("dana", "skip", id, "manager", 1), "A reason is required to skip a step")
	h.mustContain("skip", h.act("dana", "skip", id, "manager", 1, true, "reason", "Bob is out; pre-approved by the CFO"),
		"Skipped Manager approval of PR-1. Waiting on Carol Diaz and Frank Osei (Finance approval).")
	h.wantStatus(id, flows.StatusRunning, "finance", 1)
	h.mustContain("bob's skipped card", h.inbox("bob"), "Skipped by Dana Kowalski", "Reason: Bob is out; pre-approved by the CFO")
	h.mustNotContain("bob's inbox", h.inbox("bob"), `data-action="approve-PR-1-manager-1"`)
	h.mustContain("bob's late click", h.act("bob", "approve", id, "manager", 1, false), "PR-1 was already skipped by Dana Kowalski")
	h.mustContain("skip twice", h.act("dana", "skip", id, "manager", 1, false, "reason", "again"), "PR-1 was already skipped by Dana Kowalski")
	h.wantStatus(id, flows.StatusRunning, "finance", 1)

	// Cancel: not the assignees, not the requester (who withdraws), not
	// someone else; the owner, with a reason.
	for _, p := range []string{"carol", "alice", "bob"} {
		h.mustContain(p+" cancels", h.act(p, "cancel", id, "finance", 1, false, "reason", "x"), "Only the flow owner (Olivia Brown) or an admin can cancel PR-1")
	}
	h.mustContain("cancel without reason", h.refuse("olivia", "cancel", id, "finance", 1), "A reason is required to cancel a request")
	h.mustContain("cancel", h.act("olivia", "cancel", id, "finance", 1, true, "reason", "Duplicate of a request by mail"), "Cancelled PR-1.")
	in := h.wantStatus(id, flows.StatusCancelled, "finance", 1)
	if in.Outcome != "Duplicate of a request by mail" {
		t.Fatalf("outcome %q", in.Outcome)
	}
	h.mustContain("alice's notice", h.inbox("alice"), "Cancelled: Purchase request PR-1", "Olivia Brown cancelled your request.", "Reason: Duplicate of a request by mail")
	for _, p := range []string{"carol", "frank"} {
		inbox := h.inbox(p)
		h.mustContain(p+"'s closed card", inbox, "Cancelled by Olivia Brown")
		h.mustNotContain(p+"'s inbox", inbox, `data-action="approve-PR-1-finance-1"`)
	}
	h.mustContain("cancel twice", h.act("dana", "cancel", id, "finance", 1, false, "reason", "again"), "PR-1 is already cancelled.")
	h.mustContain("late approve", h.act("carol", "approve", id, "finance", 1, false), "PR-1 was already cancelled by Olivia Brown")
	// Comments still reach those involved after the end.
	h.act("carol", "comment", id, "", 0, true, "reason", "Noted, thanks")
	h.mustContain("alice hears carol", h.inbox("alice"), "Noted, thanks")

	st := h.status("alice", id)
	h.mustContain("closed status page", st, `data-action="comment-PR-1"`)
	h.mustNotContain("closed status page", st, `data-action="skip-PR-1"`, `data-action="cancel-PR-1"`)
	h.mustContain("status", st, "Status: cancelled: Duplicate of a request by mail", "Alice Martin commented", "comment: Any news? The old one is dying.",
		"Erin Park tried to comment (refused)", "Olivia Brown commented", "Dana Kowalski skipped", "reason: Bob is out; pre-approved by the CFO",
		"Manager approval</strong><div>Skipped by Dana Kowalski", "Finance approval</strong><div>Cancelled by Olivia Brown",
		"Bob Chen tried to skip (refused)", "Carol Diaz tried to cancel (refused)", "Carol Diaz commented")
	h.finished(id)
}

// The access request to completion: manager, a security quorum of two,
// then IT's task with an output that later cards and the status show.
func TestConsoleAccessRequestWithTaskOutputs(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id := h.start("alice", "access", url.Values{"system": {"github"}, "level": {"admin"}, "reason": {"release automation"}})
	if id != "AR-1" {
		t.Fatalf("id %s", id)
	}
	h.mustContain("bob's card", h.thread("bob's inbox", h.inbox("bob"), `data-action="approve-AR-1-manager-1"`),
		"Access request AR-1: github (admin)", "<dt>Access level</dt><dd>admin</dd>", "Escalates to Dana Kowalski (your manager) in 8 h")
	// Two hours on, Bob is reminded in his card's thread.
	h.advance(2 * time.Hour)
	h.mustContain("bob's reminder", h.thread("bob's inbox", h.inbox("bob"), `data-action="approve-AR-1-manager-1"`), "Reminder 1 of 3")
	h.act("bob", "approve", id, "manager", 1, true)

	// Security needs two approvals.
	for _, p := range []string{"erin", "gus"} {
		h.mustContain(p+"'s card", h.inbox(p), `data-action="approve-AR-1-security-1"`, "Security review")
	}
	h.mustContain("erin approves", h.act("erin", "approve", id, "security", 1, true), "Approved AR-1. Still waiting on Gus Ahmed.")
	h.mustContain("erin's closed card", h.inbox("erin"), "Approved by Erin Park", "Waiting on Gus Ahmed.")
	before := h.wantStatus(id, flows.StatusRunning, "security", 1)
	h.mustContain("erin again", h.act("erin", "approve", id, "security", 1, false), "You already approved AR-1")
	h.unchanged(before, 1)
	h.act("gus", "approve", id, "security", 1, true)

	// IT's task: the output is required, only IT marks it done.
	h.wantStatus(id, flows.StatusRunning, "grant", 1)
	task := h.thread("erin's inbox", h.inbox("erin"), `data-action="done-AR-1-grant-1"`)
	h.mustContain("erin's task", task, "Grant the access", "Create or extend the account, then mark this done with the account name.", `name="account"`)
	before = h.instance(id)
	code, out := h.post("erin", "/console/act", url.Values{"action": {"done"}, "instance": {id}, "step": {"grant"}, "round": {"1"}})
	if code != http.StatusUnprocessableEntity || out["fields"].(map[string]any)["account"] != "Account name is required" {
		t.Fatalf("done without the account: %d %v", code, out)
	}
	h.unchanged(before, 0)
	h.mustContain("gus marks done", h.act("gus", "done", id, "grant", 1, false, "account", "gus-gh"), "assigned to Erin Park")
	h.mustContain("done", h.act("erin", "done", id, "grant", 1, true, "account", "alice-gh"), "The request is complete.")
	in := h.wantStatus(id, flows.StatusCompleted, "", 0)
	if in.Outcome != "approved" || in.Data["account"] != "alice-gh" {
		t.Fatalf("final %q %v", in.Outcome, in.Data)
	}
	h.mustContain("erin's closed task", h.inbox("erin"), "Done by Erin Park")
	alice := h.inbox("alice")
	h.mustContain("alice's notice", alice, "Your admin access to github is ready: account alice-gh.")
	outcome := h.thread("alice's inbox", alice, "Approved: Access request AR-1 (github (admin))")
	h.mustContain("alice's outcome", outcome, "Manager approval: approved by Bob Chen", "Security review: approved by Erin Park and Gus Ahmed",
		"Grant the access: done by Erin Park", "<dt>Account name</dt><dd>alice-gh</dd>")
	st := h.status("alice", id)
	h.mustContain("status", st, "Status: completed (approved)", "<dt>Account name</dt><dd>alice-gh</dd>", "Erin Park marked the task done", "Account name: alice-gh",
		"Security review</strong><div>Approved by Erin Park and Gus Ahmed", "Grant the access</strong><div>Done by Erin Park", "Tell the requester</strong><div>Notified")
	h.finished(id)
}

// Two approvers clicking at once produce one decision; the loser is told who
// decided first. A redelivered click (same key) is answered as the first.
func TestConsoleConcurrentAndRepeatedClicks(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id := h.start("alice", "purchase", url.Values{"item": {"Laptop"}, "amount": {"2500"}, "justification": {"my old one broke down"}})
	first := h.act("bob", "approve", id, "manager", 1, true, "key", "bob-approve")
	before := h.instance(id)
	for range 3 {
		if again := h.act("bob", "approve", id, "manager", 1, true, "key", "bob-approve"); again != first {
			t.Fatalf("redelivery answered %q, first %q", again, first)
		}
	}
	h.unchanged(before, 0)
	h.mustCount("carol's inbox", h.inbox("carol"), `data-action="approve-PR-1-finance-1"`, 1)
	h.mustCount("bob's inbox", h.inbox("bob"), "Approved by Bob Chen", 1)

	// Carol and Frank click at the same moment.
	type answer struct {
		who  string
		code int
		out  map[string]any
		err  error
	}
	answers := make([]answer, 2)
	var wg sync.WaitGroup
	for i, p := range []string{"carol", "frank"} {
		wg.Go(func() {
			f := url.Values{"as": {p}, "action": {"approve"}, "instance": {id}, "step": {"finance"}, "round": {"1"}}
			req, _ := http.NewRequest(http.MethodPost, h.srv.URL+"/console/act", strings.NewReader(f.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Accept", "application/json")
			a := answer{who: p}
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				a.code = resp.StatusCode
				err = json.NewDecoder(resp.Body).Decode(&a.out)
				resp.Body.Close()
			}
			a.err = err
			answers[i] = a
		})
	}
	wg.Wait()
	h.drain()
	var winner, loser answer
	for _, a := range answers {
		if a.err != nil || a.code != http.StatusOK {
			t.Fatalf("%s: %d %v", a.who, a.code, a.err)
		}
		if a.out["ok"] == true {
			winner = a
		} else {
			loser = a
		}
	}
	if winner.who == "" || loser.who == "" {
		t.Fatalf("want one decision and one refusal: %+v", answers)
	}
	names := map[string]string{"carol": "Carol Diaz", "frank": "Frank Osei"}
	h.mustContain("loser", loser.out["text"].(string), "PR-1 was already approved by "+names[winner.who])
	in := h.wantStatus(id, flows.StatusCompleted, "", 0)
	if len(in.History) != 3 || in.History[1].By != winner.who {
		t.Fatalf("history %+v", in.History)
	}
	h.mustCount("#procurement", h.inbox("alice"), "Alice Martin&#39;s purchase PR-1 may go ahead", 1)
	h.mustCount("alice's outcome", h.inbox("alice"), "Approved: Purchase request PR-1", 1)
	audit := h.finished(id)[0]
	approvals := 0
	for _, a := range audit {
		if a.Action == "approved" && !a.Refused && a.Step == "finance" {
			approvals++
		}
	}
	if approvals != 1 {
		t.Fatalf("%d finance approvals recorded", approvals)
	}
}

func berlin(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// TestAdminDecidesFromTheStatusPage: an admin, who has no card for the
// step, decides it from the request's status page (as README promises);
// the assignee, who decides on their card, and someone who may not decide
// are not offered it.
func TestAdminDecidesFromTheStatusPage(t *testing.T) {
	t.Parallel()
	h := newHarness(t) // olivia is an admin
	id := h.start("alice", "purchase", purchase("500"))
	h.mustContain("olivia's status page", h.status("olivia", id), `data-action="decide-PR-1"`, `data-action="approve-PR-1-manager-1"`,
		`data-action="reject-PR-1-manager-1"`, `data-action="reassign-PR-1-manager-1"`,
		"Your decision is the whole step's: it stops waiting on Bob Chen.") // so nobody thinks it is one vote of several
	for _, p := range []string{"bob", "carol", "alice"} {
		h.mustNotContain(p+"'s status page", h.status(p, id), `data-action="decide-PR-1"`)
	}
	h.act("olivia", "approve", id, "manager", 1, true)
	h.wantStatus(id, flows.StatusCompleted, "", 0)
	h.mustContain("alice's outcome", h.inbox("alice"), "Approved: Purchase request PR-1", "approved by Olivia")

	// An admin who took a seat on a quorum step and decided it is not
	// offered the whole step's decision (it would be refused, and
	// recorded), though they may still move the other seat.
	ar := h.start("alice", "access", url.Values{"system": {"github"}, "level": {"admin"}, "reason": {"release automation"}})
	h.act("bob", "approve", ar, "manager", 1, true)
	h.act("olivia", "reassign", ar, "security", 1, true, "target", "olivia", "from", "erin")
	h.act("olivia", "approve", ar, "security", 1, true)
	page := h.status("olivia", ar)
	h.mustNotContain("olivia's status page, her seat decided", page, `data-action="decide-`+ar+`"`)
	h.mustContain("olivia's status page, her seat decided", page, `data-action="move-`+ar+`"`)
	h.act("olivia", "reassign", ar, "security", 1, true, "target", "dana")
	h.mustContain("dana's inbox", h.inbox("dana"), "Security review")
}
