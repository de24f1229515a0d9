package slack

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/batonbot/baton/bot/bottest"
	"github.com/batonbot/baton/flows"
	"github.com/batonbot/baton/manifests"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

const (
	testSecret   = "8f742231b10e8888abcd99yyyzzz85a5"
	testBotToken = "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy"
	testAppToken = "xapp-1-A0BATON-1764147600-0a1b2c3d4e5f60718293a4b5c6d7e8f9"
)

// slackIDs gives the demo directory's people and channels Slack ids.
var slackIDs = map[string]string{
	"alice": "U0ALICE", "bob": "U0BOB", "carol": "U0CAROL", "frank": "U0FRANK", "dana": "U0DANA",
	"erin": "U0ERIN", "gus": "U0GUS", "hana": "U0HANA", "ivan": "U0IVAN", "olivia": "U0OLIVIA",
	"#finance": "C0FINANCE", "#procurement": "C0PROCURE",
}

// testDirectory is the demo directory with everyone on Slack.
func testDirectory(t testing.TB) *flows.Directory {
	t.Helper()
	demo, err := flows.ParseDirectory("directory.yaml", manifests.Directory)
	if err != nil {
		t.Fatal(err)
	}
	people := demo.People()
	for i := range people {
		people[i].Slack = slackIDs[people[i].ID]
	}
	channels := demo.Channels()
	for i := range channels {
		channels[i].Slack = slackIDs["#"+channels[i].ID]
	}
	dir, err := flows.NewDirectory(people, channels)
	if err != nil {
		t.Fatal(err)
	}
	return dir.WithWorkingHours(demo.WorkingHours())
}

// syncBuffer is a log sink tests can read while the adapter writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// harness is Baton's runtime (bottest) with the Slack adapter over a Web
// API stand-in, its HTTP endpoints served by httptest.
type harness struct {
	t    testing.TB
	rig  *bottest.Rig
	api  *fakeSlack
	a    *Adapter
	srv  *httptest.Server
	logs *syncBuffer
	seen int   // calls already looked at (take)
	seq  int64 // trigger ids, action timestamps
}

type harnessOpt func(*Config, *[]*flows.Definition, **flows.Directory)

func newHarness(t testing.TB, opts ...harnessOpt) *harness {
	t.Helper()
	defs := mustFlows(t)
	dir := testDirectory(t)
	h := &harness{t: t, api: newFakeSlack(t), logs: &syncBuffer{}}
	cfg := Config{BotToken: testBotToken, SigningSecret: testSecret, APIURL: h.api.URL(),
		PostInterval: time.Millisecond, HomeDelay: time.Millisecond, HomeInterval: time.Millisecond}
	for _, o := range opts {
		o(&cfg, &defs, &dir)
	}
	h.rig = bottest.NewWith(t, defs, dir, []string{"olivia"})
	log := slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var err error
	h.a, err = New(Deps{Service: h.rig.Svc, KV: h.rig.Store, Locker: h.rig.Store, Log: log}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.rig.Use(h.a.Messenger())
	mux := http.NewServeMux()
	for pattern, handler := range h.a.Routes() {
		mux.Handle(pattern, handler)
	}
	h.srv = httptest.NewServer(mux)
	t.Cleanup(h.srv.Close)
	t.Cleanup(h.a.Wait)
	return h
}

// sign signs body as Slack would at ts.
func sign(secret string, ts int64, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("v0:" + strconv.FormatInt(ts, 10) + ":"))
	mac.Write(body)
	return "v0=" + hex.EncodeToString(mac.Sum(nil))
}

// post sends body to path, signed now, and returns the status and answer.
func (h *harness) post(path, contentType string, body []byte) (int, []byte) {
	h.t.Helper()
	return h.postSigned(path, contentType, body, time.Now().Unix(), testSecret)
}

func (h *harness) postSigned(path, contentType string, body []byte, ts int64, secret string) (int, []byte) {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.srv.URL+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	if secret != "" {
		req.Header.Set("X-Slack-Request-Timestamp", strconv.FormatInt(ts, 10))
		req.Header.Set("X-Slack-Signature", sign(secret, ts, body))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

const formType = "application/x-www-form-urlencoded"

func (h *harness) next() string { return strconv.FormatInt(atomic.AddInt64(&h.seq, 1), 10) }

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// commandBody is the recorded slash command with user and text replaced.
func (h *harness) commandBody(user, text string) []byte {
	v, err := url.ParseQuery(strings.TrimSpace(string(readTestdata(h.t, "command.txt"))))
	if err != nil {
		h.t.Fatal(err)
	}
	n := h.next()
	v.Set("user_id", user)
	v.Set("text", text)
	v.Set("trigger_id", "trigger-cmd-"+n)
	v.Set("response_url", h.api.responseURL("cmd-"+n))
	return []byte(v.Encode())
}

// command runs /baton text as user and returns the acknowledgement.
func (h *harness) command(user, text string) map[string]any {
	h.t.Helper()
	code, body := h.post(PathCommands, formType, h.commandBody(user, text))
	if code != http.StatusOK {
		h.t.Fatalf("/baton %s: %d %s", text, code, body)
	}
	if len(body) == 0 {
		return nil
	}
	var out map[string]any
	if err := json.Unmarshal(body, &out); err != nil {
		h.t.Fatalf("/baton %s: answer %s: %v", text, body, err)
	}
	return out
}

// interactionBody wraps a payload as Slack sends it: a form with one
// "payload" field.
func interactionBody(payload map[string]any) []byte {
	b, _ := json.Marshal(payload)
	return []byte(url.Values{"payload": {string(b)}}.Encode())
}

func (h *harness) fixture(name string) map[string]any {
	var p map[string]any
	if err := json.Unmarshal(readTestdata(h.t, name), &p); err != nil {
		h.t.Fatal(err)
	}
	return p
}

// clickPayload is the recorded block_actions payload for user clicking the
// button with value in channel (a DM "D…", or "" for the App Home).
func (h *harness) clickPayload(user, value, channel string) map[string]any {
	p := h.fixture("block_actions.json")
	n := h.next()
	p["user"].(map[string]any)["id"] = user
	p["trigger_id"] = "trigger-click-" + n
	act := p["actions"].([]any)[0].(map[string]any)
	act["value"] = value
	kind := strings.Split(value, "|")[1]
	act["action_id"] = "baton:" + kind + ":0"
	act["action_ts"] = "1764147601." + n
	if channel == "" { // the App Home: no conversation, no response_url
		p["container"] = map[string]any{"type": "view", "view_id": "VHOME"}
		delete(p, "channel")
		delete(p, "message")
		delete(p, "response_url")
	} else {
		p["channel"].(map[string]any)["id"] = channel
		p["container"].(map[string]any)["channel_id"] = channel
		p["response_url"] = h.api.responseURL("click-" + n)
	}
	return p
}

// click sends a click and checks it is acknowledged with an empty 200.
func (h *harness) click(user, value, channel string) {
	h.t.Helper()
	code, body := h.post(PathInteractions, formType, interactionBody(h.clickPayload(user, value, channel)))
	if code != http.StatusOK || len(body) != 0 {
		h.t.Fatalf("click %s by %s: %d %s", value, user, code, body)
	}
}

// submitPayload is the recorded view_submission with the view's id,
// callback, metadata and state replaced. values maps block id to element
// state (e.g. {"type": "plain_text_input", "value": "x"}).
func (h *harness) submitPayload(user, viewID, callback, meta string, values map[string]map[string]any) map[string]any {
	p := h.fixture("view_submission.json")
	p["user"].(map[string]any)["id"] = user
	v := p["view"].(map[string]any)
	v["id"], v["callback_id"], v["private_metadata"] = viewID, callback, meta
	if values != nil {
		state := map[string]any{}
		for block, el := range values {
			state[block] = map[string]any{valueAction: el}
		}
		v["state"] = map[string]any{"values": state}
	}
	return p
}

// submit sends a view submission and returns the acknowledgement (nil for
// an empty one).
func (h *harness) submit(user, viewID, callback, meta string, values map[string]map[string]any) map[string]any {
	h.t.Helper()
	code, body := h.post(PathInteractions, formType, interactionBody(h.submitPayload(user, viewID, callback, meta, values)))
	if code != http.StatusOK {
		h.t.Fatalf("submit %s by %s: %d %s", callback, user, code, body)
	}
	if len(body) == 0 {
		return nil
	}
	var out map[string]any
	if err := json.Unmarshal(body, &out); err != nil {
		h.t.Fatal(err)
	}
	return out
}

// Element states, as view_submission payloads carry them.
func textInput(v string) map[string]any {
	return map[string]any{"type": "plain_text_input", "value": v}
}
func numberInput(v string) map[string]any {
	return map[string]any{"type": "number_input", "value": v}
}
func selected(v string) map[string]any {
	return map[string]any{"type": "static_select", "selected_option": map[string]any{"value": v, "text": map[string]any{"type": "plain_text", "text": v}}}
}
func userPicked(u string) map[string]any {
	return map[string]any{"type": "users_select", "selected_user": u}
}

// purchaseValues is a purchase form as Slack submits it.
func purchaseValues(item, amount string) map[string]map[string]any {
	return map[string]map[string]any{
		"item": textInput(item), "amount": numberInput(amount), "currency": selected("EUR"),
		"vendor": textInput("Dell"), "justification": textInput("my old one broke down"),
	}
}

// settle waits for the adapter's background work, then delivers the outbox
// (which may start more background work, waited for too).
func (h *harness) settle() {
	h.t.Helper()
	h.a.Wait()
	h.rig.Drain()
	h.a.Wait()
}

// takeSummaries returns the calls since the last take, one line each,
// sorted within the step (background work interleaves freely).
func (h *harness) takeSummaries() []string {
	var out []string
	for _, c := range h.api.take(&h.seen) {
		out = append(out, c.summary())
	}
	slices.Sort(out)
	// App Home refreshes fold differently from run to run: count them once.
	return slices.CompactFunc(out, func(a, b string) bool { return a == b && strings.HasPrefix(a, "views.publish") })
}

// golden compares got with testdata/name.golden (rewritten with -update).
func golden(t testing.TB, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(want, got) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // goldens are read by people
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
