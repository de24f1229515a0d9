package teams

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/batonbot/baton/bot"
	"github.com/batonbot/baton/bot/bottest"
	"github.com/batonbot/baton/flows"
)

// TestMain runs the package's tests, and its fuzz targets, with
// -fuzzminimizetime shortened (bottest.FuzzMain): large seeds would stall
// fuzzing for testing's default minute of minimising each new find.
func TestMain(m *testing.M) { bottest.FuzzMain(m) }

// Fuzzing minimises for bottest.FuzzMinimizeTime unless told otherwise.
func TestFuzzMinimizeTime(t *testing.T) {
	t.Parallel()
	bottest.CheckFuzzMinimizeTime(t)
}

func (w *world) kv(key string) (convRef, bool) {
	w.t.Helper()
	ref, ok, err := w.a.lookup(w.t.Context(), key)
	if err != nil {
		w.t.Fatal(err)
	}
	return ref, ok
}

// The recorded activities, as Teams sends them, are understood: installs
// and first contact store conversation references; a typed command and a
// card button are answered.
func TestRecordedActivities(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	su := w.conn.serviceURL()

	if rec := w.post(w.activity("installationUpdate", nil)); rec.Code != http.StatusOK {
		t.Fatalf("installationUpdate: %d", rec.Code)
	}
	for _, key := range []string{"user:29:1carol", "user:ca201000-0000-4000-8000-0000000000ca"} {
		if ref, ok := w.kv(key); !ok || ref.Conversation != "a:1carol-chat" || ref.ServiceURL != su || ref.Tenant != testTenant || ref.Bot != "28:"+testAppID {
			t.Errorf("%s: %+v %v", key, ref, ok)
		}
	}
	if v, ok, _ := w.rig.Store.GetValue(t.Context(), kvNamespace, "tenant:"+testTenant); !ok || v != su {
		t.Errorf("tenant serviceUrl %q %v", v, ok)
	}
	welcome := w.conn.last(t, "a:1carol-chat")
	if welcome.ReplyTo != "f:6b7c1f9e-2d4a-4e0b-9a3f-7e2c5d8b1a40" {
		t.Errorf("welcome replies to %q", welcome.ReplyTo)
	}
	mustContain(t, "welcome", welcome.text(), "Hi, I'm Baton", "Start Purchase request")

	if rec := w.post(w.activity("conversationUpdate", nil)); rec.Code != http.StatusOK {
		t.Fatalf("conversationUpdate: %d", rec.Code)
	}
	if ref, ok := w.kv("channel:19:finance@thread.tacv2"); !ok || ref.Type != "channel" || ref.ServiceURL != su {
		t.Errorf("channel reference %+v %v", ref, ok)
	}

	if rec := w.post(w.activity("message", nil)); rec.Code != http.StatusOK {
		t.Fatalf("message: %d", rec.Code)
	}
	form := w.conn.last(t, "a:1alice-chat")
	if form.ReplyTo != "1764147600415" {
		t.Errorf("the form replies to %q", form.ReplyTo)
	}
	mustContain(t, "form", form.text(), "Start: Purchase request")
	if _, ok := w.kv("user:29:1alice"); !ok {
		t.Error("first contact did not store Alice's conversation")
	}

	// The recorded invoke is Bob approving PR-1.
	out, err := w.rig.Svc.Handle(t.Context(), flows.Event{Kind: flows.EventStart, Key: "t1", Actor: "alice", Platform: "teams", Flow: "purchase",
		Data: map[string]string{"item": "Laptop", "amount": "900", "justification": "the old one broke"}})
	if err != nil || out.Instance != "PR-1" {
		t.Fatalf("start: %v %+v", err, out)
	}
	rec := w.post(w.activity("invoke", nil))
	var an answer
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &an) != nil {
		t.Fatalf("invoke: %d %s", rec.Code, rec.Body)
	}
	wantCard(t, "invoke answer", an, "Approved by Bob Chen")
	if in := w.instance("PR-1"); in.Status != flows.StatusCompleted {
		t.Errorf("PR-1 is %s", in.Status)
	}
}

// A request that fails authentication gets 401 or 403, and nothing of it
// is processed: no reply, no reference stored, no request started.
func TestUnauthenticatedRequestsChangeNothing(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	start := func() map[string]any {
		return w.activity("invoke", func(act map[string]any) {
			as("alice")(act)
			act["value"] = map[string]any{"action": map[string]any{"type": "Action.Execute", "verb": verbStart,
				"data": map[string]any{keyFlow: "purchase", keyKey: "k", "f:item": "Laptop", "f:amount": "900", "f:justification": "the old one broke"}}}
		})
	}
	act := start()
	su := act["serviceUrl"].(string)
	sign := func(edit func(jwt.MapClaims)) string {
		c := claims(su)
		edit(c)
		return "Bearer " + w.idp.sign(t, "key-1", c)
	}
	for _, tc := range []struct {
		name, auth string
		want       int
	}{
		{"missing", "", http.StatusUnauthorized},
		{"malformed", "Bearer x.y.z", http.StatusUnauthorized},
		{"wrong audience", sign(func(c jwt.MapClaims) { c["aud"] = "someone-else" }), http.StatusForbidden},
		{"wrong issuer", sign(func(c jwt.MapClaims) { c["iss"] = "https://evil.example.com" }), http.StatusForbidden},
		{"expired", sign(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Hour).Unix() }), http.StatusForbidden},
		{"serviceUrl of another tenant", sign(func(c jwt.MapClaims) { c["serviceurl"] = "https://smba.trafficmanager.net/amer/" }), http.StatusForbidden},
		{"unknown key", "Bearer " + w.idp.sign(t, "key-rogue", claims(su)), http.StatusForbidden},
	} {
		if rec := w.postWith(act, tc.auth); rec.Code != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, rec.Code, tc.want)
		}
	}
	// Validly signed, but from another tenant than this single-tenant
	// bot's: refused too.
	other := start()
	other["channelData"] = map[string]any{"tenant": map[string]any{"id": "00000000-evil"}}
	other["conversation"].(map[string]any)["tenantId"] = "00000000-evil"
	if rec := w.postWith(other, sign(func(jwt.MapClaims) {})); rec.Code != http.StatusForbidden {
		t.Errorf("another tenant: %d, want 403", rec.Code)
	}
	if n := w.conn.count(); n != 0 {
		t.Errorf("%d connector calls", n)
	}
	if _, ok := w.kv("user:29:1alice"); ok {
		t.Error("a refused request stored a conversation reference")
	}
	if _, err := w.rig.Svc.Instance(t.Context(), "PR-1"); !errors.Is(err, flows.ErrNotFound) {
		t.Errorf("a refused request started PR-1: %v", err)
	}
	// The same request, authenticated, does start it.
	if an := w.invoke("alice", chat("alice"), "", verbStart, start()["value"].(map[string]any)["action"].(map[string]any)["data"].(map[string]any)); an.StatusCode != http.StatusOK {
		t.Fatalf("authenticated start: %+v", an)
	}
	if _, err := w.rig.Svc.Instance(t.Context(), "PR-1"); err != nil {
		t.Fatal(err)
	}
}

func TestBodyCap(t *testing.T) {
	t.Parallel()
	w := newWorld(t, func(c *Config) { c.MaxBody = 4 << 10 })
	act := w.activity("message", func(act map[string]any) { act["text"] = strings.Repeat("x", 8<<10) })
	if rec := w.post(act); rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("%d, want 413", rec.Code)
	}
	req := httptest.NewRequest(http.MethodPost, "/api/messages", strings.NewReader("{not json"))
	req.Header.Set("Authorization", "Bearer "+w.idp.sign(t, "key-1", claims(w.conn.serviceURL())))
	rec := httptest.NewRecorder()
	w.a.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusBadRequest {
		t.Fatalf("garbage body: %d, want 400", rec.Code)
	}
	// The same garbage, or too large a body, with a token that proves
	// nothing is refused for the token, not the body: only a caller Teams
	// vouches for learns more.
	for name, header := range map[string]string{
		"not a JWT":           "Bearer nonsense",
		"key never published": "Bearer " + w.idp.sign(t, "key-rogue", claims(w.conn.serviceURL())),
	} {
		for what, body := range map[string]string{"garbage body": "{not json", "body too large": strings.Repeat("x", 8<<10)} {
			req := httptest.NewRequest(http.MethodPost, "/api/messages", strings.NewReader(body))
			req.Header.Set("Authorization", header)
			rec := httptest.NewRecorder()
			w.a.Handler().ServeHTTP(rec, req)
			if rec.Code != http.StatusUnauthorized && rec.Code != http.StatusForbidden {
				t.Fatalf("%s, %s: %d, want 401 or 403", what, name, rec.Code)
			}
		}
	}
	// An activity without an id (which keys what it does) is refused.
	noID := w.activity("message", as("alice"))
	noID["text"] = "start purchase"
	delete(noID, "id")
	if rec := w.post(noID); rec.Code != http.StatusBadRequest {
		t.Fatalf("message without an id: %d, want 400", rec.Code)
	}
	if n := w.conn.count(); n != 0 {
		t.Errorf("a refused activity made %d connector calls", n)
	}
}

// In a channel, people @mention Baton: the mention is not part of the
// command, and the answer goes in the thread.
func TestChannelMention(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	thread := "19:finance@thread.tacv2;messageid=1764147000000"
	rec := w.post(w.activity("message", func(act map[string]any) {
		act["id"] = "1764147000999"
		act["text"] = "<at>Baton</at>&nbsp;help"
		act["conversation"] = map[string]any{"isGroup": true, "conversationType": "channel", "tenantId": testTenant, "id": thread}
		act["channelData"] = map[string]any{"tenant": map[string]any{"id": testTenant}, "channel": map[string]any{"id": "19:finance@thread.tacv2"},
			"team": map[string]any{"id": "19:team-general@thread.tacv2"}}
	}))
	if rec.Code != http.StatusOK {
		t.Fatal(rec.Code)
	}
	got := w.conn.last(t, thread)
	if got.ReplyTo != "1764147000999" {
		t.Errorf("answer replies to %q", got.ReplyTo)
	}
	mustContain(t, "help", got.text(), "Baton: start and track requests", "status <id>")
	if strings.Contains(got.text(), "I don't know the command") {
		t.Error("the mention was read as a command")
	}
	for _, key := range []string{"channel:19:finance@thread.tacv2", "channel:19:team-general@thread.tacv2"} {
		if _, ok := w.kv(key); !ok {
			t.Errorf("%s not stored", key)
		}
	}
}

func TestCommandText(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"<at>Baton</at> start purchase":         "start purchase",
		"/baton tasks":                          "tasks",
		"Baton status PR-3":                     "status PR-3",
		"<p>cancel PR-2 too&nbsp;expensive</p>": "cancel PR-2 too expensive",
		"   ":                                   "",
		`lgtm <img itemscope="" itemtype="http://schema.skype.com/Emoji" itemid="like" alt="👍" src="x">`:                          "lgtm 👍",
		`lgtm <emoji id="1f44d_thumbsup" alt="👍" title="Thumbs up"></emoji>`:                                                      "lgtm 👍",
		`<p>status PR-3</p><p><img src="https://smba.trafficmanager.net/amer/v3/attachments/0-x/views/original" alt="image"></p>`: "status PR-3",
	} {
		if got := commandText(in); got != want {
			t.Errorf("commandText(%q) = %q, want %q", in, got, want)
		}
	}
}

// Odd invokes get a clear answer, not a failure.
func TestInvokeOddities(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	an := w.invoke("alice", chat("alice"), "", "frobnicate", map[string]any{})
	if an.StatusCode != http.StatusBadRequest || !strings.Contains(string(an.Value), "frobnicate") {
		t.Errorf("unknown verb: %+v", an)
	}
	rec := w.post(w.activity("invoke", func(act map[string]any) {
		act["value"] = map[string]any{"action": map[string]any{"type": "Action.Submit"}}
	}))
	if err := json.Unmarshal(rec.Body.Bytes(), &an); err != nil || an.StatusCode != http.StatusBadRequest {
		t.Errorf("not Action.Execute: %s", rec.Body)
	}
	if rec := w.post(w.activity("invoke", func(act map[string]any) { act["name"] = "task/fetch" })); rec.Code != http.StatusNotImplemented {
		t.Errorf("task/fetch: %d", rec.Code)
	}
	wantMessage(t, "status of nothing", w.invoke("alice", chat("alice"), "", verbStatus, map[string]any{keyInstance: "PR-404"}), "There is no such request")
	wantMessage(t, "unknown flow", w.invoke("alice", chat("alice"), "", verbOpen, map[string]any{keyFlow: "nope"}), "no flow called")
	wantMessage(t, "edit of nothing", w.invoke("alice", chat("alice"), "", verbEdit, map[string]any{keyInstance: "PR-404"}), "There is no such request")
	wantCard(t, "open a form", w.invoke("alice", chat("alice"), "", verbOpen, map[string]any{keyFlow: "access"}), "Start: Access request", "System")
	// The content form's editor approves the request: alice is not offered
	// as her own editor, bob is.
	content := wantCard(t, "content form", w.invoke("alice", chat("alice"), "", verbOpen, map[string]any{keyFlow: "content"}), "Start: Content review")
	editor := findInput(content, inField+"editor")
	if editor == nil {
		t.Fatal("no editor input")
	}
	var offered []string
	for _, c := range editor["choices"].([]any) {
		offered = append(offered, c.(map[string]any)["value"].(string))
	}
	if slices.Contains(offered, "alice") || !slices.Contains(offered, "bob") {
		t.Errorf("alice's editor choices: %v", offered)
	}
	// A date's picker starts at its bound: today or later, alice's today.
	publish := findInput(content, inField+"publish_on")
	if today := w.rig.Clock.Now().In(w.rig.Engine.Directory().Location("alice")).Format(time.DateOnly); publish == nil || publish["type"] != "Input.Date" || publish["min"] != today || publish["max"] != nil {
		t.Errorf("the publish date's picker: %v, want min %s", publish, today)
	}
}

// Buttons on a task list answer with the list as it now is.
func TestTaskListButtons(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	for i, item := range []string{"Laptop", "Dock"} {
		if _, err := w.rig.Svc.Handle(t.Context(), flows.Event{Kind: flows.EventStart, Key: fmt.Sprint("s", i), Actor: "alice", Platform: "teams", Flow: "purchase",
			Data: map[string]string{"item": item, "amount": "100", "justification": "needed for work"}}); err != nil {
			t.Fatal(err)
		}
	}
	w.rig.Drain()
	list := w.say("bob", "tasks")
	mustContain(t, "Bob's tasks", list.text(), "Your pending tasks", "PR-1", "PR-2")
	a := findAction(list.Card, verbApprove, "PR-1")
	if a == nil {
		t.Fatal("no Approve for PR-1 on the list")
	}
	an := w.invoke("bob", chat("bob"), list.ID, verbApprove, a["data"].(map[string]any))
	got := wantCard(t, "list after approving", an, "Approved PR-1", "PR-2")
	if findAction(got, verbApprove, "PR-1") != nil {
		t.Error("PR-1 is still on the list")
	}
	if findAction(got, verbApprove, "PR-2") == nil {
		t.Error("PR-2 is gone from the list")
	}
}

// Reassign moves the task (the old card closes, the new assignee gets
// one); a task's outputs are asked for on its card and required.
func TestReassignAndTaskOutputs(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	out, err := w.rig.Svc.Handle(t.Context(), flows.Event{Kind: flows.EventStart, Key: "s1", Actor: "alice", Platform: "teams", Flow: "access",
		Data: map[string]string{"system": "github", "level": "read", "reason": "code reviews"}})
	if err != nil {
		t.Fatal(err)
	}
	id := out.Instance
	w.rig.Drain()
	bobCard := w.conn.last(t, "a:created-"+teamsID("bob"))
	// Reassign offers whom the engine would take: not the requester, nor
	// whoever is on the step (bob, and security's approver).
	target := findInput(bobCard.Card, "target:"+id)
	if target == nil || target["type"] != "Input.ChoiceSet" {
		t.Fatalf("Bob's Reassign picker: %v", target)
	}
	var offered []string
	for _, c := range target["choices"].([]any) {
		offered = append(offered, c.(map[string]any)["value"].(string))
	}
	in, err := w.rig.Store.Get(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"alice", in.Tasks[0].Assignee} {
		if slices.Contains(offered, p) {
			t.Errorf("Bob's Reassign offers %s: %v", p, offered)
		}
	}
	if !slices.Contains(offered, "olivia") {
		t.Errorf("Bob's Reassign does not offer olivia: %v", offered)
	}
	an := w.click("bob", "a:created-"+teamsID("bob"), bobCard.Card, bobCard.ID, verbReassign, map[string]string{"target:" + id: "olivia@example.com", "note:" + id: "on leave"})
	wantCard(t, "reassigned", an, "is now with Olivia Brown")
	w.rig.Drain()
	mustContain(t, "Bob's card", w.conn.get(bobCard.ID).text(), "Reassigned", "Now with Olivia Brown")
	olivia := w.conn.last(t, "a:created-"+teamsID("olivia"))
	wantCard(t, "Olivia approves", w.click("olivia", "a:created-"+teamsID("olivia"), olivia.Card, olivia.ID, verbApprove, nil), "Approved by Olivia Brown")
	w.rig.Drain()

	erinChat := "a:created-" + teamsID("erin")
	erin := w.conn.last(t, erinChat)
	mustContain(t, "Erin's task", erin.text(), "Grant the access", "Account name")
	wantMessage(t, "done without the output", w.click("erin", erinChat, erin.Card, erin.ID, verbDone, nil), "Account name is required")
	wantCard(t, "done", w.click("erin", erinChat, erin.Card, erin.ID, verbDone, map[string]string{"out:" + id + ":account": "alice-gh"}), "Done by Erin Park")
	w.rig.Drain()
	if in := w.instance(id); in.Status != flows.StatusCompleted || in.Data["account"] != "alice-gh" {
		t.Fatalf("%s: %s %v", id, in.Status, in.Data)
	}
	var all strings.Builder
	for _, p := range w.conn.in("a:created-" + teamsID("alice")) {
		all.WriteString(p.text())
	}
	mustContain(t, "Alice hears", all.String(), "Your read access to github is ready: account alice-gh")
}

// People outside the directory use Baton as themselves; Baton can reach
// them back through the conversation they opened.
func TestPeopleOutsideTheDirectory(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.install("olivia")
	rec := w.post(w.activity("message", func(act map[string]any) {
		as("zoe")(act)
		act["text"] = "start purchase"
	}))
	if rec.Code != http.StatusOK {
		t.Fatal(rec.Code)
	}
	form := w.conn.last(t, chat("zoe"))
	an := w.click("zoe", chat("zoe"), form.Card, form.ID, verbStart, map[string]string{"f:item": "Pen", "f:amount": "3", "f:justification": "to sign things"})
	wantCard(t, "Zoe's start", an, "Started PR-1")
	in := w.instance("PR-1")
	if in.Requester != "teams:"+teamsID("zoe") {
		t.Fatalf("requester %q", in.Requester)
	}
	if addr, ok := w.a.Reach(flows.Recipient{Person: in.Requester}); !ok || addr.ID != teamsID("zoe") {
		t.Fatalf("Reach: %+v %v", addr, ok)
	}
	// Cards name her as Teams does (the tests' activities name her "zoe"),
	// not by her Teams id.
	w.rig.Drain()
	card := w.conn.last(t, chat("olivia")).text()
	if !strings.Contains(card, "Requested by zoe (outside the directory)") || strings.Contains(card, teamsID("zoe")) {
		t.Errorf("the approver's card: %s", card)
	}
	// So does the approver's task list.
	if list := w.say("olivia", "tasks").text(); !strings.Contains(list, "requested by zoe (outside the directory)") || strings.Contains(list, teamsID("zoe")) {
		t.Errorf("the approver's tasks: %s", list)
	}
	// A refusal names her so too.
	w.install("bob")
	if an := w.invoke("bob", chat("bob"), "", verbEdit, map[string]any{keyInstance: "PR-1"}); !strings.Contains(string(an.Value), "zoe (outside the directory)") || strings.Contains(string(an.Value), teamsID("zoe")) {
		t.Errorf("bob's refused edit: %s", an.Value)
	}
	// A whole identity only: one that starts a longer one is left alone.
	r := idReplacer{map[string]string{"teams:29:1zoe": "Zoe"}}
	if got := r.Replace("by teams:29:1zoe2 and teams:29:1zoe."); got != "by teams:29:1zoe2 and Zoe." {
		t.Errorf("replaced: %q", got)
	}
}

// Secrets never reach the logs: not the app password, not the connector's
// bearer token, not the Bot Connector's JWTs — even when credentials are
// refused and requests fail authentication, with debug logging on.
func TestSecretsNeverLogged(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	bad := newWorld(t, func(c *Config) { c.AppPassword = testSecret + "-wrong" })

	// Everything that logs: configuration, refused requests, failed sends,
	// retries, and a whole flow.
	w.a.log.Info("teams: configured", "config", w.a.cfg)
	w.a.log.Info("teams: printed", "config", fmt.Sprintf("%v %+v %#v %s", w.a.cfg, w.a.cfg, w.a.cfg, w.a.cfg))
	tok := w.idp.sign(t, "key-1", claims("https://smba.trafficmanager.net/amer/"))
	w.postWith(w.activity("message", nil), "Bearer "+tok)
	w.postWith(w.activity("message", nil), "Bearer "+tok+"x")
	calls := 0
	w.conn.fail = func(*http.Request) (int, string) {
		calls++
		if calls < 3 {
			return http.StatusTooManyRequests, "1"
		}
		return 0, ""
	}
	w.install("alice")
	w.say("alice", "tasks")
	// The dispatcher logs what Send returns: the error must be safe to log.
	_, err := bad.a.Send(t.Context(), bot.Address{Person: "bob", ID: teamsID("bob")}, &flows.Message{Kind: flows.MsgInfo, Title: "hi"}, "")
	if err == nil {
		t.Fatal("a wrong password sent a message")
	}
	bad.a.log.Error("delivery failed", "err", err)

	logs := w.logs.String() + bad.logs.String()
	if !strings.Contains(logs, "request refused") || !strings.Contains(logs, "(redacted)") {
		t.Fatalf("the scenario logged too little to prove anything:\n%s", logs)
	}
	for _, secret := range []string{testSecret, "connector-token-", tok[:40], "eyJ"} {
		if strings.Contains(logs, secret) {
			t.Errorf("the logs contain a secret (%.12s…):\n%s", secret, logs)
		}
	}
}

// The composed library adapter is complete: its client.Client paths go
// through our connector too (context-free, with a timeout).
func TestLibraryClientPaths(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	u := mustURL(t, w.conn.serviceURL()+"v3/conversations/"+chat("bob")+"/activities")
	act := schema.Activity{Type: schema.Message, Conversation: schema.ConversationAccount{ID: chat("bob")}, Text: "hi",
		Attachments: []schema.Attachment{attachment(newCard([]any{rich(textRun("hi", runStyle{}))}, nil))}}
	if err := w.a.bf.Client.Post(u, act); err != nil {
		t.Fatal(err)
	}
	p := w.conn.last(t, chat("bob"))
	mustContain(t, "posted", p.text(), "hi")
	var raw bytes.Buffer
	_ = json.NewEncoder(&raw).Encode(fromSchema(act))
	if strings.Contains(raw.String(), "0001-01-01") || strings.Contains(raw.String(), "semanticAction") {
		t.Errorf("zero-valued junk in the outbound activity: %s", raw.String())
	}
}

func mustURL(t testing.TB, s string) url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return *u
}

// Any activity a Bot Connector could send (here: whatever the fuzzer makes,
// validly signed for the serviceUrl it names) is answered without a panic
// and with a status the Bot Framework understands.
func FuzzActivity(f *testing.F) {
	w := newWorld(f, func(c *Config) {
		// Only this machine: a mutated serviceUrl must not reach the network.
		c.HTTPClient = &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				host, _, _ := net.SplitHostPort(addr)
				if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
					return nil, fmt.Errorf("fuzzing: no network beyond this machine (%s)", addr)
				}
				return (&net.Dialer{}).DialContext(ctx, network, addr)
			}}}
	})
	for _, name := range []string{"message", "invoke", "conversationUpdate", "installationUpdate"} {
		raw, err := json.Marshal(w.activity(name, nil))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Add([]byte(`{"type":"invoke","name":"adaptiveCard/action","serviceUrl":"` + w.conn.serviceURL() + `","from":{"id":"29:1bob"},` +
		`"value":{"action":{"type":"Action.Execute","verb":"reject","data":{"i":["x"],"r":"NaN","s":{}}}}}`))
	f.Add([]byte(`{"type":"message","serviceUrl":"` + w.conn.serviceURL() + `","from":{"id":"29:1bob"},"text":"<at>` + strings.Repeat("<", 100) + `"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var act schema.Activity
		if json.Unmarshal(body, &act) != nil {
			return
		}
		req := httptest.NewRequest(http.MethodPost, "/api/messages", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+w.idp.sign(t, "key-1", claims(act.ServiceURL)))
		rec := httptest.NewRecorder()
		w.a.Handler().ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK, http.StatusBadRequest, http.StatusForbidden, http.StatusRequestEntityTooLarge, http.StatusNotImplemented:
		default:
			t.Fatalf("status %d for %s", rec.Code, body)
		}
	})
}

// TestRepliesInAChannelCardsThread: a reply to a card posted in a channel
// (a reminder, an answer to a reaction) goes to the thread the card
// started, as Teams needs (a reply to the channel's own id would be a new
// post), whether Baton has heard from the channel or knows only its id; a
// reply to a reply stays in that thread, and all can be updated. In a chat
// (a group chat, a 1:1 chat), which has no threads, a reply goes to the
// chat.
func TestRepliesInAChannelCardsThread(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := t.Context()
	send := func(to bot.Address, title, thread string) (string, *posted) {
		t.Helper()
		ref, err := w.a.Send(ctx, to, &flows.Message{Kind: flows.MsgInfo, Title: title}, thread)
		if err != nil {
			t.Fatalf("%s: %v", title, err)
		}
		r, err := parseRef(ref)
		if err != nil {
			t.Fatal(err)
		}
		p := w.conn.get(r.Activity)
		if p == nil {
			t.Fatalf("%s: nothing posted", title)
		}
		if err := w.a.Update(ctx, ref, &flows.Message{Kind: flows.MsgInfo, Title: title + ", updated"}); err != nil {
			t.Errorf("update %s: %v", title, err)
		}
		return ref, p
	}
	// Heard from: a channel and a group chat, as remember keeps them.
	w.a.putRef(ctx, "channel:19:known@thread.tacv2", convRef{ServiceURL: w.conn.serviceURL(), Conversation: "19:known@thread.tacv2", Type: "channel"})
	w.a.putRef(ctx, "channel:19:group@thread.v2", convRef{ServiceURL: w.conn.serviceURL(), Conversation: "19:group@thread.v2", Type: "groupChat"})
	for _, channel := range []string{"19:finance@thread.tacv2", "19:known@thread.tacv2"} {
		to := bot.Address{Channel: "finance", ID: channel}
		cardRef, card := send(to, "card", "")
		if card.Conv != channel || card.ReplyTo != "" {
			t.Fatalf("the card went to %q (reply to %q), want a new post in %s", card.Conv, card.ReplyTo, channel)
		}
		thread := channel + ";messageid=" + card.ID
		replyRef, reply := send(to, "reminder", cardRef)
		if reply.Conv != thread || reply.ReplyTo != card.ID {
			t.Errorf("the reminder went to %q (reply to %q), want %s (reply to %s)", reply.Conv, reply.ReplyTo, thread, card.ID)
		}
		if _, again := send(to, "reply to the reminder", replyRef); again.Conv != thread {
			t.Errorf("a reply to the reminder went to %q, want the card's thread %s", again.Conv, thread)
		}
		// A card sent before references kept their thread: its reminders
		// go to the thread it started all the same, and so do theirs.
		old, err := parseRef(cardRef)
		if err != nil {
			t.Fatal(err)
		}
		old.Thread = ""
		oldReplyRef, oldReply := send(to, "reminder of an older card", old.String())
		if oldReply.Conv != thread || oldReply.ReplyTo != card.ID {
			t.Errorf("the older card's reminder went to %q (reply to %q), want %s (reply to %s)", oldReply.Conv, oldReply.ReplyTo, thread, card.ID)
		}
		if _, again := send(to, "reply to the older card's reminder", oldReplyRef); again.Conv != thread {
			t.Errorf("a reply to the older card's reminder went to %q, want the card's thread %s", again.Conv, thread)
		}
	}

	w.install("bob")
	for _, to := range []bot.Address{{Person: "bob", ID: teamsID("bob")}, {Channel: "group", ID: "19:group@thread.v2"}, {Channel: "unknown", ID: "19:unknown@thread.v2"}} {
		cardRef, card := send(to, "card", "")
		if _, r := send(to, "reminder", cardRef); r.Conv != card.Conv || r.ReplyTo != card.ID {
			t.Errorf("%s: the reminder went to %q (reply to %q), want the chat %s (reply to %s)", to.ID, r.Conv, r.ReplyTo, card.Conv, card.ID)
		}
	}
}

// mentioned is whom a mention entity names.
type mentioned struct{ id, name, aad string }

// A colleague @mentioned in a command is the person it names ("away until
// … @Carol Diaz", "delegate PR-1 @Carol Diaz why"): Teams sends the
// mention as <at>Carol Diaz</at>, and only its entity says who that is.
// The bot's own mention is dropped; someone the directory lacks is named.
func TestCommandMentionsName(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	say := func(person, text string, mentioned ...mentioned) *posted {
		t.Helper()
		before := len(w.conn.in(chat(person)))
		rec := w.post(w.activity("message", func(act map[string]any) {
			as(person)(act)
			act["text"] = text
			ents := act["entities"].([]any)
			for _, m := range mentioned {
				ents = append(ents, map[string]any{"type": "mention", "text": "<at>" + m.name + "</at>", "mentioned": map[string]any{"id": m.id, "name": m.name, "aadObjectId": m.aad}})
			}
			act["entities"] = ents
		}))
		msgs := w.conn.in(chat(person))
		if rec.Code != http.StatusOK || len(msgs) != before+1 {
			t.Fatalf("%s says %q: %d, %d answers", person, text, rec.Code, len(msgs)-before)
		}
		return msgs[len(msgs)-1]
	}
	bot := mentioned{"28:5f0e1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b", "Baton", ""}
	carol := mentioned{teamsID("carol"), "Carol Diaz", ""}
	mustContain(t, "away", say("bob", "<at>Baton</at> away until 2026-12-24 <at>Carol Diaz</at>", bot, carol).text(), "Carol Diaz stands in")
	mustContain(t, "someone not in the directory", say("erin", "away until 2026-12-24 <at>Zoe Lee</at>", mentioned{"29:1zoe", "Zoe Lee", ""}).text(),
		`"@Zoe Lee" is not a person in the directory`)
	// Someone the directory lacks is not taken for a person it has, by a
	// name that is also an id, nor by one word of a split mention.
	stranger := mentioned{"29:1stranger", "Carol", ""}
	mustContain(t, "a stranger named Carol", say("erin", "away until 2026-12-24 <at>Carol</at>", stranger).text(), `"@Carol" is not a person in the directory`)
	mustContain(t, "a split mention", say("erin", "away until 2026-12-24 <at>Carol</at> <at>Smith</at>", stranger, mentioned{"29:1stranger", "Smith", ""}).text(),
		`"@Carol" is not a person in the directory`)
	// Dana is in the directory by her Entra object id; a mention of her
	// without an entity (or one written otherwise) is refused, not dropped.
	w.install("dana")
	dana := mentioned{"29:1dana", "Dana Kowalski", danaAAD}
	mustContain(t, "by Entra object id", say("bob", "away until 2026-12-24 <at>Dana Kowalski</at>", dana).text(), "Dana Kowalski stands in")
	mustContain(t, "back", say("bob", "back").text(), "new tasks come to you alone again")
	mustContain(t, "no entity", say("bob", "away until 2026-12-24 <at>Carol Diaz</at>").text(), `"Carol Diaz" is not a person in the directory`)
	mustContain(t, "escaped otherwise", say("bob", "away until 2026-12-24 <at>Carol &amp; Co</at>", mentioned{teamsID("carol"), "Carol & Co", ""}).text(), "Carol Diaz stands in")
	mustContain(t, "back", say("bob", "back").text(), "new tasks come to you alone again")

	out, err := w.rig.Svc.Handle(t.Context(), flows.Event{Kind: flows.EventStart, Key: "s1", Actor: "alice", Platform: "teams", Flow: "purchase",
		Data: map[string]string{"item": "Laptop", "amount": "500", "justification": "the old one broke down"}})
	if err != nil || !out.OK {
		t.Fatalf("start: %+v %v", out, err)
	}
	id := out.Instance // waits on Bob
	mustContain(t, "delegate", say("bob", "delegate "+id+" <at>Carol Diaz</at> I'm travelling", carol).text(), "Carol Diaz")
	in, err := w.rig.Svc.Instance(t.Context(), id)
	if err != nil || len(in.Tasks) != 1 || !slices.Equal(in.Tasks[0].Delegates, []string{"carol"}) {
		t.Fatalf("after the delegation: %+v %v", in, err)
	}
	// Mentions in a comment are names, a directory person's or the one
	// Teams shows, each time they are written.
	zoe := mentioned{"29:1zoe", "Zoe Lee", ""}
	mustContain(t, "comment", say("alice", "comment "+id+" <at>Carol Diaz</at> thanks, ask <at>Zoe Lee</at>, and thanks again <at>Carol Diaz</at>", carol, zoe, carol).text(), "Comment added")
	audit, err := w.rig.Store.Audit(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if got := audit[len(audit)-1]; got.Action != "commented" || got.Reason != "@Carol Diaz thanks, ask @Zoe Lee (outside the directory), and thanks again @Carol Diaz" {
		t.Errorf("the comment recorded: %s %q", got.Action, got.Reason)
	}
	// The entities' order is not the text's: the person delegate takes is
	// the first written.
	say("bob", "delegate "+id+" <at>Dana Kowalski</at> because <at>Zoe Lee</at> asked", zoe, mentioned{"29:1dana", "Dana Kowalski", danaAAD})
	if in, err := w.rig.Svc.Instance(t.Context(), id); err != nil || !slices.Contains(in.Tasks[0].Delegates, "dana") {
		t.Fatalf("after the second delegation: %+v %v", in.Tasks, err)
	}
}

// A command typed in a channel (or a group chat) is answered in the
// person's 1:1 chat: everyone in the channel would read the timeline, its
// reasons and form values. The thread is told where the answer went; help
// is answered where it was asked.
func TestChannelCommandAnsweredPrivately(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	out, err := w.rig.Svc.Handle(t.Context(), flows.Event{Kind: flows.EventStart, Key: "s1", Actor: "alice", Platform: "teams", Flow: "purchase",
		Data: map[string]string{"item": "Laptop", "amount": "500", "justification": "a confidential reason"}})
	if err != nil || !out.OK {
		t.Fatalf("start: %+v %v", out, err)
	}
	thread := "19:finance@thread.tacv2;messageid=1764147000000"
	inChannel := func(id, text string) {
		t.Helper()
		rec := w.post(w.activity("message", func(act map[string]any) {
			as("alice")(act)
			act["id"], act["text"] = id, text
			act["conversation"] = map[string]any{"isGroup": true, "conversationType": "channel", "tenantId": testTenant, "id": thread}
			act["channelData"] = map[string]any{"tenant": map[string]any{"id": testTenant}, "channel": map[string]any{"id": "19:finance@thread.tacv2"}}
		}))
		if rec.Code != http.StatusOK {
			t.Fatal(rec.Code)
		}
	}
	w.install("alice")
	before := len(w.conn.in(chat("alice")))
	inChannel("1764147000991", "<at>Baton</at> status "+out.Instance)
	public := w.conn.last(t, thread)
	mustContain(t, "the thread", public.text(), "I answered you in your chat with Baton.")
	if strings.Contains(public.text(), "confidential") || strings.Contains(public.text(), "Bob Chen") {
		t.Errorf("the timeline was posted in the channel: %s", public.text())
	}
	private := w.conn.in(chat("alice"))
	if len(private) != before+1 {
		t.Fatalf("%d answers in alice's chat, want 1", len(private)-before)
	}
	mustContain(t, "alice's chat", private[len(private)-1].text(), "a confidential reason", "Bob Chen")

	inChannel("1764147000992", "<at>Baton</at> help")
	mustContain(t, "help", w.conn.last(t, thread).text(), "Baton: start and track requests")
	// Not a command: the note alone, not the whole help card.
	inChannel("1764147000993", "<at>Baton</at> frobnicate")
	if got := w.conn.last(t, thread).text(); !strings.Contains(got, `I don't know the command "frobnicate". Mention me with help`) || strings.Contains(got, "start and track requests") {
		t.Errorf("an unknown command in the channel: %s", got)
	}
	// A mistyped flow: the note alone too.
	inChannel("1764147000995", "<at>Baton</at> start purchse")
	if got := w.conn.last(t, thread).text(); !strings.Contains(got, `Did you mean "purchase"?`) || strings.Contains(got, "start and track requests") {
		t.Errorf("a mistyped flow in the channel: %s", got)
	}
	// Her chat out of reach: the command is done, only its answer is lost;
	// she is not asked to type it again (it would be done twice).
	w.conn.mu.Lock()
	w.conn.fail = func(r *http.Request) (int, string) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/v3/conversations") {
			return http.StatusForbidden, ""
		}
		return 0, ""
	}
	w.conn.mu.Unlock()
	w.conn.mu.Lock()
	delete(w.conn.conv, teamsID("olivia"))
	w.conn.mu.Unlock()
	rec := w.post(w.activity("message", func(act map[string]any) {
		as("olivia")(act)
		act["id"], act["text"] = "1764147000996", "<at>Baton</at> comment "+out.Instance+" please hurry"
		act["conversation"] = map[string]any{"isGroup": true, "conversationType": "channel", "tenantId": testTenant, "id": thread}
		act["channelData"] = map[string]any{"tenant": map[string]any{"id": testTenant}, "channel": map[string]any{"id": "19:finance@thread.tacv2"}}
	}))
	if got := w.conn.last(t, thread).text(); rec.Code != http.StatusOK || !strings.Contains(got, "What you asked is done: do not type it again.") {
		t.Errorf("the answer out of reach: %d %s", rec.Code, got)
	}
	// What changes nothing (a list, a form) is to be typed again there.
	rec = w.post(w.activity("message", func(act map[string]any) {
		as("olivia")(act)
		act["id"], act["text"] = "1764147000997", "<at>Baton</at> start purchase"
		act["conversation"] = map[string]any{"isGroup": true, "conversationType": "channel", "tenantId": testTenant, "id": thread}
		act["channelData"] = map[string]any{"tenant": map[string]any{"id": testTenant}, "channel": map[string]any{"id": "19:finance@thread.tacv2"}}
	}))
	if got := w.conn.last(t, thread).text(); rec.Code != http.StatusOK || !strings.Contains(got, "then type it there") || strings.Contains(got, "is done") {
		t.Errorf("a form out of reach: %d %s", rec.Code, got)
	}
	// start without a flow is answered with the flows to start, not a note.
	inChannel("1764147000994", "<at>Baton</at> start")
	if got := w.conn.last(t, thread).text(); !strings.Contains(got, "Which flow?") || !strings.Contains(got, "Start Purchase request") {
		t.Errorf("start in the channel: %s", got)
	}
}

// The bot's own mention is dropped by its entity, however it is written:
// a name other than the bot's (shortened, renamed), split in two by the
// new client, or with no name on the activity's recipient.
func TestBotMentionDroppedByEntity(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	const botID = "28:5f0e1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
	for _, tc := range []struct{ text, recipient string }{
		{"<at>Approvals</at> tasks", ""},
		{"<at>Approvals</at> tasks", "Approvals Bot"},
		{"<at>Approvals</at> <at>Bot</at> tasks", "Approvals Bot"},
	} {
		before := len(w.conn.in(chat("bob")))
		rec := w.post(w.activity("message", func(act map[string]any) {
			as("bob")(act)
			act["text"] = tc.text
			act["recipient"] = map[string]any{"id": botID, "name": tc.recipient}
			ents := act["entities"].([]any)
			for _, m := range mentionRE.FindAllString(tc.text, -1) {
				ents = append(ents, map[string]any{"type": "mention", "text": m, "mentioned": map[string]any{"id": botID, "name": tc.recipient}})
			}
			act["entities"] = ents
		}))
		msgs := w.conn.in(chat("bob"))
		if rec.Code != http.StatusOK || len(msgs) != before+1 {
			t.Fatalf("%q: %d, %d answers", tc.text, rec.Code, len(msgs)-before)
		}
		if got := msgs[len(msgs)-1].text(); !strings.Contains(got, "pending tasks") || strings.Contains(got, "I don't know the command") {
			t.Errorf("%q (recipient %q): %s", tc.text, tc.recipient, got)
		}
	}
}

// A click's answer is written as activities are, without HTML escapes
// ("&" would take six bytes of a card whose size Teams limits).
func TestInvokeAnswerUnescaped(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.install("bob")
	out, err := w.rig.Svc.Handle(t.Context(), flows.Event{Kind: flows.EventStart, Key: "s1", Actor: "alice", Platform: "teams", Flow: "purchase",
		Data: map[string]string{"item": "R&D <kit>", "amount": "500", "justification": "for the lab"}})
	if err != nil || !out.OK {
		t.Fatalf("start: %+v %v", out, err)
	}
	w.rig.Drain()
	card := w.conn.last(t, chat("bob"))
	rec := w.post(w.activity("invoke", func(act map[string]any) {
		as("bob")(act)
		act["replyToId"] = card.ID
		act["value"] = map[string]any{"action": map[string]any{"type": "Action.Execute", "verb": verbApprove,
			"data": findAction(card.Card, verbApprove, out.Instance)["data"]}, "trigger": "manual"}
	}))
	if body := rec.Body.String(); rec.Code != http.StatusOK || !strings.Contains(body, "R&D <kit>") || strings.Contains(body, `\u0026`) {
		t.Errorf("the answer: %d %s", rec.Code, body)
	}
}
