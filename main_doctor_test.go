package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/batonbot/baton/adapters/teams"
	"github.com/batonbot/baton/flows"
	"github.com/batonbot/baton/manifests"
	"github.com/batonbot/baton/storage"
	"github.com/batonbot/baton/storage/storagetest"
)

const (
	goodSlackToken = "xoxb-good-0123456789"
	goodTeamsPass  = "teams-client-secret-value"
	hookSecretVal  = "inbound-hook-secret-value"
)

// fakePlatforms stands in for Slack's auth.test and the Entra token endpoint.
func fakePlatforms(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/auth.test", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "Bearer "+goodSlackToken {
			json.NewEncoder(w).Encode(map[string]any{"ok": true, "user": "baton", "team": "Acme"})
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": "invalid_auth"})
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		id, secret, ok := r.BasicAuth()
		if !ok {
			id, secret = r.Form.Get("client_id"), r.Form.Get("client_secret")
		}
		w.Header().Set("Content-Type", "application/json")
		if id != "app-id-1" || secret != goodTeamsPass || r.Form.Get("scope") != teams.DefaultScope || r.Form.Get("grant_type") != "client_credentials" {
			w.WriteHeader(http.StatusUnauthorized)
			json.NewEncoder(w).Encode(map[string]any{"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided.\r\nTrace ID: 1"})
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"access_token": "eyJ.token", "token_type": "Bearer", "expires_in": 3600})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// testRedisURL is the test Redis (real when BATON_TEST_REDIS_URL is set,
// else an embedded one); real reports which.
func testRedisURL(t *testing.T) (u string, real bool) {
	t.Helper()
	if u := os.Getenv(storagetest.EnvURL); u != "" {
		return u, true
	}
	_, url := storagetest.EmbeddedURL(t)
	return url, false
}

// closedAddr is an address nothing listens on.
func closedAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func flowsDir(t *testing.T, files map[string]string) string {
	dir := t.TempDir()
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const doctorFlow = `id: lead
name: Lead
owner: olivia
form:
  - {name: company}
schedule: {cron: "0 9 * * MON", timezone: Europe/Paris, requester: olivia}
inbound: {secret: crm_hook, requester: olivia}
steps:
  - {id: a, type: notify, to: [requester], message: hi}
`

func runDoctor(t *testing.T, kv ...string) (int, string) {
	t.Helper()
	var environ []string
	for i := 0; i+1 < len(kv); i += 2 {
		environ = append(environ, kv[i]+"="+kv[i+1])
	}
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"doctor"}, env(kv...), environ, &stdout, &stderr)
	return code, stdout.String() + stderr.String()
}

func doctorWants(t *testing.T, out string, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if !strings.Contains(out, l) {
			t.Errorf("no line with %q in:\n%s", l, out)
		}
	}
}

func noSecrets(t *testing.T, out string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("a secret (%.6s…) was printed:\n%s", s, out)
		}
	}
}

func TestDoctorAllGood(t *testing.T) {
	t.Parallel()
	srv := fakePlatforms(t)
	redisURL, real := testRedisURL(t)
	code, out := runDoctor(t,
		"BATON_REDIS_URL", redisURL,
		"BATON_FLOWS_DIR", flowsDir(t, map[string]string{"lead.yaml": doctorFlow}),
		"BATON_SECRET_CRM_HOOK", hookSecretVal,
		"SLACK_BOT_TOKEN", goodSlackToken, "SLACK_SIGNING_SECRET", "signing-secret-value", "SLACK_API_URL", srv.URL+"/api/",
		"MicrosoftAppId", "app-id-1", "MicrosoftAppPassword", goodTeamsPass, "MicrosoftAppTenantId", "a1b2c3d4-0000-4000-8000-000000000001", "TEAMS_TOKEN_URL", srv.URL+"/token")
	if code != 0 {
		t.Errorf("exit %d, want 0:\n%s", code, out)
	}
	doctorWants(t, out, "ok   config: listen on :8080",
		"ok   directory: the built-in demo directory",
		"ok   flows: ", "1 flow, 1 schedule, 1 inbound webhook", "ok   secrets: BATON_SECRET_CRM_HOOK set",
		"ok   slack: auth.test: bot @baton in workspace Acme, HTTP mode",
		"ok   teams: got a Bot Framework token for app app-id-1 from "+srv.URL+"/token")
	if real {
		doctorWants(t, out, "ok   redis: ", "reachable, Redis ", "(standalone)", "baton doctor: all checks passed")
	} else {
		// Not "all checks passed" beside a warning.
		doctorWants(t, out, "warn redis: ", "its version is unknown", // the embedded store has no INFO server
			"baton doctor: no check failed, but 1 check warned: see the warn lines above")
	}
	if strings.Contains(out, "FAIL") {
		t.Errorf("a check failed:\n%s", out)
	}
	noSecrets(t, out, goodSlackToken, goodTeamsPass, hookSecretVal, "signing-secret-value", "eyJ.token")
}

func TestDoctorFailures(t *testing.T) {
	t.Parallel()
	srv := fakePlatforms(t)
	addr := closedAddr(t)
	broken := strings.Replace(doctorFlow, `cron: "0 9 * * MON"`, `cron: "0 9 * * MONDAY"`, 1)
	code, out := runDoctor(t,
		"BATON_REDIS_URL", "redis://:hunter2pass@"+addr+"/0",
		"BATON_FLOWS_DIR", flowsDir(t, map[string]string{"lead.yaml": broken}),
		"BATON_DIRECTORY", filepath.Join(t.TempDir(), "missing.yaml"),
		"SLACK_BOT_TOKEN", "xoxb-revoked-token-value", "SLACK_SIGNING_SECRET", "signing-secret-value", "SLACK_API_URL", srv.URL+"/api/",
		"MicrosoftAppId", "app-id-1", "MicrosoftAppPassword", "wrong-teams-password", "MicrosoftAppTenantId", "a1b2c3d4-0000-4000-8000-000000000001", "TEAMS_TOKEN_URL", srv.URL+"/token")
	if code != 1 {
		t.Errorf("exit %d, want 1:\n%s", code, out)
	}
	doctorWants(t, out,
		"FAIL redis: cannot reach redis://:xxxxx@"+addr+"/0", "check BATON_REDIS_URL",
		"FAIL flows: ", "lead.yaml:6: schedule.cron: cron \"0 9 * * MONDAY\"",
		"FAIL directory: ", "set BATON_DIRECTORY to a readable YAML file",
		"FAIL slack: auth.test: invalid_auth: SLACK_BOT_TOKEN was refused",
		"FAIL teams: token from "+srv.URL+"/token refused: invalid_client AADSTS7000215: Invalid client secret provided.; check MicrosoftAppId",
		"baton doctor: some checks failed")
	if strings.Contains(out, "Trace ID") {
		t.Errorf("the token endpoint's description was not cut to its first line:\n%s", out)
	}
	noSecrets(t, out, "hunter2pass", "xoxb-revoked-token-value", "wrong-teams-password", "signing-secret-value")
}

// A Redis URL that does not parse, or that carries a password in its
// query, is reported without the password.
func TestDoctorRedisURLSecrets(t *testing.T) {
	t.Parallel()
	addr := closedAddr(t)
	for _, tt := range []struct{ url, secret, want string }{
		{"redis://:sec%zzret@" + addr + "/0", "sec%zzret", "FAIL redis: BATON_REDIS_URL (unparsable URL): redis url: it has a % that does not start an escape"},
		{"redis://" + addr + "/0?password=hunter2query&Sentinel_Password=hunter3", "hunter2query", "password=xxxxx"},
	} {
		code, out := runDoctor(t, "BATON_REDIS_URL", tt.url)
		if code != 1 {
			t.Errorf("exit %d, want 1:\n%s", code, out)
		}
		doctorWants(t, out, tt.want)
		noSecrets(t, out, tt.secret, "hunter3")
	}
}

// doctor fails on a flow's webhooks: subscriber whose signing secret is
// not set, as start-up refuses it.
func TestDoctorSubscriberSecret(t *testing.T) {
	t.Parallel()
	flow := `id: crm
name: CRM
owner: olivia
webhooks:
  - {url: "https://events.example.com/in", secret: crm_events}
steps:
  - {id: a, type: notify, to: [requester], message: hi}
`
	code, out := runDoctor(t, "BATON_FLOWS_DIR", flowsDir(t, map[string]string{"crm.yaml": flow}))
	if code != 1 {
		t.Errorf("exit %d, want 1:\n%s", code, out)
	}
	doctorWants(t, out, "FAIL secrets: flow crm webhooks to https://events.example.com needs BATON_SECRET_CRM_EVENTS")
}

// doctor checks the settings start-up refuses (buildExternal's).
func TestDoctorExternalSettings(t *testing.T) {
	t.Parallel()
	for _, kv := range [][2]string{
		{"BATON_PUBLIC_URL", "notaurl"},
		{"BATON_LINK_TTL", "forever"},
		{"BATON_LINK_SECRET", "short"},
		{"BATON_DASHBOARD_TOKEN", "short"}, // doctor passed it, and start-up refused it
		{"BATON_SMTP_URL", "http://mail.example.com"},
	} {
		code, out := runDoctor(t, kv[0], kv[1])
		if code != 1 {
			t.Errorf("%s=%s: exit %d, want 1:\n%s", kv[0], kv[1], code, out)
		}
		doctorWants(t, out, "FAIL config: "+kv[0])
	}
}

// An admin the directory lacks fails (start-up refuses it), once: not
// also as a warning about people.
func TestDoctorUnknownAdmin(t *testing.T) {
	t.Parallel()
	redisURL, _ := testRedisURL(t)
	code, out := runDoctor(t, "BATON_REDIS_URL", redisURL, "BATON_ADMINS", "olivia,olivai")
	if code != 1 {
		t.Errorf("exit %d, want 1:\n%s", code, out)
	}
	doctorWants(t, out, `FAIL admins: BATON_ADMINS (-admins): "olivai" is not a person in the people directory`)
	if n := strings.Count(out, "olivai"); n != 1 {
		t.Errorf("olivai named %d times, want once:\n%s", n, out)
	}
	// Every one of them, at once.
	_, out = runDoctor(t, "BATON_REDIS_URL", redisURL, "BATON_ADMINS", "olivai,olivia,bobb")
	doctorWants(t, out, `FAIL admins: BATON_ADMINS (-admins): "olivai", "bobb" are not people in the people directory`)
}

func TestDoctorMissingSecretAndBadConfig(t *testing.T) {
	t.Parallel()
	redisURL, _ := testRedisURL(t)
	stranger := strings.Replace(doctorFlow, "timezone: Europe/Paris, requester: olivia", "timezone: Europe/Paris, requester: zoe", 1)
	code, out := runDoctor(t, "BATON_REDIS_URL", redisURL, "BATON_FLOWS_DIR", flowsDir(t, map[string]string{"lead.yaml": stranger}))
	if code != 1 {
		t.Errorf("exit %d, want 1:\n%s", code, out)
	}
	doctorWants(t, out, "FAIL secrets: flow lead (inbound) needs BATON_SECRET_CRM_HOOK",
		// Each on a line of its own, with its file, line and path.
		"warn people: 1 mismatch between the flows and the built-in demo directory: work sent there reaches nobody, or goes to a stand-in; fix the flows or the directory:\n       /",
		`/lead.yaml:6: schedule.requester: "zoe" is not a person in the directory; add them to it, or name someone who is`+"\n",
		"skip slack: not configured", "skip teams: not configured")

	// A secret set but short enough to guess is warned of, and not shown.
	_, out = runDoctor(t, "BATON_REDIS_URL", redisURL, "BATON_FLOWS_DIR", flowsDir(t, map[string]string{"lead.yaml": doctorFlow}), "BATON_SECRET_CRM_HOOK", "abc")
	// The summary counts the warnings (on the embedded store, also that
	// its version is unknown: it answers no INFO server).
	warned := strings.Count("\n"+out, "\nwarn ")
	doctorWants(t, out, "warn secrets: BATON_SECRET_CRM_HOOK is shorter than 16 characters",
		fmt.Sprintf("baton doctor: no check failed, but %s: see the warn lines above", flows.Plural(warned, "check warned", "checks warned"))) // not "all checks passed"
	noSecrets(t, out, "abc\n", "abc ")

	code, out = runDoctor(t, "BATON_LOG_LEVEL", "loud", "SLACK_SIGNING_SECRET", "signing-secret-value")
	if code != 1 {
		t.Errorf("exit %d, want 1:\n%s", code, out)
	}
	doctorWants(t, out, "FAIL config: BATON_LOG_LEVEL (-log-level) \"loud\": use debug, info, warn or error",
		"skip redis: not checked until the configuration is fixed", "skip flows: not checked until",
		"FAIL slack: SLACK_BOT_TOKEN is not set")
	noSecrets(t, out, "signing-secret-value")
}

// TestDoctorClusterMismatch needs a real (non-cluster) Redis.
func TestDoctorClusterMismatch(t *testing.T) {
	t.Parallel()
	u, real := testRedisURL(t)
	if !real {
		t.Skip("set " + storagetest.EnvURL + " to check cluster mode against a real Redis")
	}
	host := strings.SplitN(strings.TrimPrefix(u, "redis://"), "/", 2)[0]
	code, out := runDoctor(t, "BATON_REDIS_URL", "redis-cluster://"+host)
	if code != 1 {
		t.Errorf("exit %d, want 1:\n%s", code, out)
	}
	doctorWants(t, out, "FAIL redis: ", "is not a Redis Cluster: write the URL as redis://")
}

// Flows that count working hours: doctor says which hours, and warns when
// the directory sets none or lists no holiday ahead.
func TestDoctorWorkingHours(t *testing.T) {
	t.Parallel()
	redisURL, _ := testRedisURL(t)
	flow := "id: rev\nname: Review\nowner: olivia\nworking_hours: true\nsteps:\n  - {id: a, type: approval, assignees: [manager], due: 1d}\n"
	dirWith := func(hours string) string {
		p := filepath.Join(t.TempDir(), "people.yaml")
		src := hours + "people:\n  - {id: olivia, name: Olivia Brown, manager: dana}\n  - {id: dana, name: Dana Kowalski}\n"
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tt := range []struct{ hours, want string }{
		{"", "warn working hours: flows rev count working hours, and the directory sets none: Monday to Friday, 09:00-17:00 apply"},
		{"working_hours: {holidays: [2020-12-25]}\n", "warn working hours: no holiday listed after today in the directory's working_hours (the last: 2020-12-25): add the coming ones"},
		{"working_hours: {days: [sun, mon, tue, wed, thu], timezone: Asia/Jerusalem, holidays: [2099-10-01, 2099-09-30]}\n",
			"ok   working hours: Sun, Mon, Tue, Wed, Thu 09:00-17:00 (Asia/Jerusalem for people without a timezone), 2 holidays, the last on 2099-10-01; counted by flows rev"},
	} {
		_, out := runDoctor(t, "BATON_REDIS_URL", redisURL, "BATON_FLOWS_DIR", flowsDir(t, map[string]string{"rev.yaml": flow}), "BATON_DIRECTORY", dirWith(tt.hours))
		doctorWants(t, out, tt.want)
	}
	// The built-in examples and demo directory: the content review flow counts
	// the demo's hours (checked on a day before the demo's last holiday).
	defs, err := flows.LoadDefinitions(manifests.Flows, "flows")
	if err != nil {
		t.Fatal(err)
	}
	dir, err := flows.ParseDirectory("directory.yaml", manifests.Directory)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	doctorHours(&checkup{out: &b}, defs, dir, time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC))
	doctorWants(t, b.String(), "ok   working hours: Mon, Tue, Wed, Thu, Fri 09:00-17:00 (Europe/London for people without a timezone), 3 holidays, the last on 2027-01-01; counted by flows content")
}

// smtpStandIn is a relay for baton doctor's email check, on 127.0.0.1: it
// takes user "baton" with password goodSMTPPass and any sender but
// refused@corp.example, and counts the mails it was asked to take (RCPT,
// DATA), which the check must never do.
func smtpStandIn(t *testing.T) (addr string, mails *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mails = new(atomic.Int32)
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	serve := func(c net.Conn) {
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		r := bufio.NewReader(c)
		say := func(line string) { fmt.Fprintf(c, "%s\r\n", line) }
		say("220 stand-in ESMTP")
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			verb, arg, _ := strings.Cut(strings.TrimRight(line, "\r\n"), " ")
			switch strings.ToUpper(verb) {
			case "EHLO":
				say("250-stand-in")
				say("250 AUTH PLAIN")
			case "AUTH":
				if arg != "PLAIN "+base64.StdEncoding.EncodeToString([]byte("\x00baton\x00"+goodSMTPPass)) {
					// echoing what it was given, as a careless relay might
					pw, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(arg, "PLAIN "))
					say("535 5.7.8 Authentication credentials invalid: " + strings.ReplaceAll(string(pw), "\x00", " "))
					continue
				}
				say("235 ok")
			case "MAIL":
				if strings.Contains(arg, "refused@corp.example") {
					say("553 5.7.1 Sender address rejected: not owned by user baton")
					continue
				}
				say("250 ok")
			case "RCPT", "DATA":
				mails.Add(1)
				say("554 no mail expected")
			case "RSET":
				say("250 ok")
			case "QUIT":
				say("221 bye")
				return
			default:
				say("502 not implemented")
			}
		}
	}
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { serve(c) })
		}
	})
	return ln.Addr().String(), mails
}

const goodSMTPPass = "smtp-password-value"

// baton doctor checks the SMTP relay as a mail would use it, and sends
// nothing: a relay that takes Baton's sign-in and sender is ok; a refused
// password, a refused sender or a relay that cannot be reached fails with
// what to fix, and no password is printed.
func TestDoctorEmail(t *testing.T) {
	t.Parallel()
	addr, mails := smtpStandIn(t)
	closed := closedAddr(t)
	for _, tt := range []struct{ url, want string }{
		{"smtp://baton:" + goodSMTPPass + "@" + addr + "?from=baton@corp.example",
			"ok   email: relay " + addr + " accepted MAIL FROM baton@corp.example (unencrypted, signed in as baton); no mail sent"},
		{"smtp://baton:wrong-smtp-pass@" + addr + "?from=baton@corp.example",
			`FAIL email: smtp auth as baton: 535 "5.7.8 Authentication credentials invalid:  baton [redacted]"; check BATON_SMTP_URL`},
		{"smtp://baton:" + goodSMTPPass + "@" + addr + "?from=refused@corp.example",
			`FAIL email: smtp MAIL FROM refused@corp.example: 553 "5.7.1 Sender address rejected`},
		{"smtp://baton:" + goodSMTPPass + "@" + closed + "?from=baton@corp.example",
			"FAIL email: smtp dial " + closed + ": "},
		{"smtp://baton:" + goodSMTPPass + "@" + addr, "FAIL config: BATON_SMTP_URL needs the sender: add ?from=baton@example.com"},
	} {
		_, out := runDoctor(t, "BATON_SMTP_URL", tt.url)
		doctorWants(t, out, tt.want)
		noSecrets(t, out, goodSMTPPass, "wrong-smtp-pass")
		if strings.HasPrefix(tt.want, "FAIL config") && (strings.Count(out, "needs the sender") != 1 || !strings.Contains(out, "skip email: not checked until the configuration is fixed")) {
			t.Errorf("a bad BATON_SMTP_URL is reported once, by config, and email is not checked:\n%s", out)
		}
	}
	if n := mails.Load(); n != 0 {
		t.Errorf("the check asked the relay to take %d mails, want none", n)
	}
	// Without a relay the mail is shown in the console where start-up would
	// serve it, and else goes nowhere: said as start-up says it.
	_, out := runDoctor(t)
	doctorWants(t, out, "skip email: not configured (BATON_SMTP_URL is not set): mail to external participants (email: assignees) is shown in the console (/console/mail), not sent",
		"console auto (on: the demo, with no chat platform and no Redis)")
	_, out = runDoctor(t, "BATON_CONSOLE", "off")
	doctorWants(t, out, "skip email: not configured (BATON_SMTP_URL is not set): mail to external participants (email: assignees) is not sent anywhere, as the console is off; set BATON_SMTP_URL=")
	_, out = runDoctor(t, "SLACK_BOT_TOKEN", "xoxb-1-2-abc", "SLACK_SIGNING_SECRET", strings.Repeat("s", 32), "SLACK_API_URL", "http://"+closed+"/")
	doctorWants(t, out, "is not sent anywhere, as the console is off", "console auto (off: a chat platform or Redis is configured;")
}

// A flows directory that is not there is said so, as start-up says it.
func TestDoctorMissingFlowsDir(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "flows")
	code, out := runDoctor(t, "BATON_FLOWS_DIR", missing)
	if code != 1 {
		t.Errorf("exit %d, want 1:\n%s", code, out)
	}
	doctorWants(t, out, "FAIL flows: flows directory "+missing+": there is no such directory; set BATON_FLOWS_DIR")
}

// Open requests of a flow whose file is gone are said: nothing moves them
// on but cancelling or withdrawing them.
func TestDoctorStrandedRequests(t *testing.T) {
	t.Parallel()
	rdb, url := storagetest.EmbeddedURL(t)
	store := storage.New(rdb, storage.Config{})
	if err := store.Init(t.Context()); err != nil {
		t.Fatal(err)
	}
	def, err := flows.ParseDefinition("gone.yaml", []byte("id: gone\nname: Gone\nowner: olivia\nsteps:\n  - {id: a, type: approval, assignees: [person:bob]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	dir, err := flows.ParseDirectory("directory.yaml", manifests.Directory)
	if err != nil {
		t.Fatal(err)
	}
	engine, err := flows.NewEngine([]*flows.Definition{def}, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"G-1", "G-2"} {
		ev := flows.Event{Kind: flows.EventStart, Key: "s" + id, Instance: id, Actor: "alice", Flow: "gone"}
		if _, err := store.Apply(t.Context(), ev, func(cur *flows.Instance) (*flows.Transition, error) { return engine.Apply(cur, ev, time.Now()) }); err != nil {
			t.Fatal(err)
		}
	}
	_, out := runDoctor(t, "BATON_REDIS_URL", url, "BATON_FLOWS_DIR", flowsDir(t, map[string]string{"lead.yaml": doctorFlow}), "BATON_SECRET_CRM_HOOK", hookSecretVal)
	doctorWants(t, out, `warn requests: flow "gone": 2 open requests, and the flow is no longer defined`)
	// Defined again: nothing to say.
	_, out = runDoctor(t, "BATON_REDIS_URL", url, "BATON_FLOWS_DIR", flowsDir(t, map[string]string{"lead.yaml": doctorFlow, "gone.yaml": "id: gone\nname: Gone\nowner: olivia\nsteps:\n  - {id: a, type: approval, assignees: [person:bob]}\n"}), "BATON_SECRET_CRM_HOOK", hookSecretVal)
	if strings.Contains(out, "requests:") {
		t.Errorf("with the flow defined:\n%s", out)
	}
	// Defined with its step renamed: the requests waiting there are named.
	_, out = runDoctor(t, "BATON_REDIS_URL", url, "BATON_FLOWS_DIR", flowsDir(t, map[string]string{"lead.yaml": doctorFlow, "gone.yaml": "id: gone\nname: Gone\nowner: olivia\nsteps:\n  - {id: b, type: approval, assignees: [person:bob]}\n"}), "BATON_SECRET_CRM_HOOK", hookSecretVal)
	doctorWants(t, out, `warn requests: flow "gone": 2 open requests at a step it no longer has (G-2 at a, G-1 at a): the owner or an admin skips that step`)
}
