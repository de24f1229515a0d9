package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/redis/go-redis/v9"

	"github.com/batonbot/baton/bot"
	"github.com/batonbot/baton/flows"
	"github.com/batonbot/baton/storage"
	"github.com/batonbot/baton/storage/storagetest"
)

// auditHarness is Baton over an embedded Redis under the default key
// prefix, the one `baton audit` reads (a shared Redis is not used: its
// default prefix may hold someone's data). It returns the client and URL.
func auditHarness(t *testing.T) (*harness, redis.UniversalClient, string) {
	t.Helper()
	rdb, url := storagetest.EmbeddedURL(t)
	clock := clockwork.NewFakeClockAt(t0)
	cfg := bot.Config{Console: "local", TimerInterval: time.Second, Admins: []string{"olivia"}, HTTPAddr: "127.0.0.1:0"}
	a, err := build(t.Context(), cfg, func(string) string { return "" }, slog.New(slog.NewTextHandler(io.Discard, nil)), rdb, clock, storage.Config{})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, a: a, clock: clock, srv: httptest.NewServer(a.server.Handler())}
	t.Cleanup(h.srv.Close)
	return h, rdb, url
}

// runAudit runs `baton audit [args] ID` and returns the exit code and what
// it printed.
func runAudit(t *testing.T, redisURL string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(t.Context(), append([]string{"audit"}, args...), env("BATON_REDIS_URL", redisURL), nil, &out, &errOut)
	return code, out.String(), errOut.String()
}

// sealed returns e as stored, its hash computed as the engine does (over
// the same bytes as encoding/json): a forger who knows the format can make
// a chain that verifies on its own.
func sealed(t *testing.T, e flows.AuditEntry) string {
	t.Helper()
	e.Hash = ""
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	e.Hash = hex.EncodeToString(sum[:])
	b, err = json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestAuditCommandNoticesCutEnd: the audit trail is checked against the
// count and head hash the instance records, so entries removed from (or
// replaced at) its end do not verify, in print and in the JSON export;
// entries written after the instance was read are no harm.
func TestAuditCommandNoticesCutEnd(t *testing.T) {
	t.Parallel()
	h, rdb, redisURL := auditHarness(t)
	id := h.start("alice", "purchase", url.Values{"item": {"Chair"}, "amount": {"300"}, "justification": {"my old one broke down"}})
	h.act("bob", "approve", id, "manager", 1, true)
	in := h.instance(id)
	if in.Status != flows.StatusCompleted || in.AuditSeq < 2 {
		t.Fatalf("%s: status %s, %d audit entries", id, in.Status, in.AuditSeq)
	}
	ctx := t.Context()
	keys, err := rdb.Keys(ctx, "*:a:"+id).Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("the audit key of %s: %v %v", id, keys, err)
	}
	key := keys[0]
	trail, err := h.a.store.Audit(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	last := trail[len(trail)-1]

	verifies := func(what string, entries int) {
		t.Helper()
		for _, args := range [][]string{{id}, {"-json", id}} {
			code, stdout, stderr := runAudit(t, redisURL, args...)
			if code != 0 || !strings.Contains(stderr, id+": "+strconv.Itoa(entries)+" entries, hash chain verified") ||
				strings.Count(strings.TrimSpace(stdout), "\n")+1 != entries {
				t.Fatalf("%s: audit %v: exit %d, want 0 and %d entries:\n%s%s", what, args, code, entries, stdout, stderr)
			}
		}
	}
	refused := func(what string, reasons ...string) {
		t.Helper()
		for _, args := range [][]string{{id}, {"-json", id}} {
			code, stdout, stderr := runAudit(t, redisURL, args...)
			if code != 1 || !strings.Contains(stderr, "baton: "+id+": AUDIT TRAIL DOES NOT VERIFY: ") || strings.Contains(stderr, "verified") {
				t.Fatalf("%s: audit %v: exit %d, want 1 and AUDIT TRAIL DOES NOT VERIFY:\n%s%s", what, args, code, stdout, stderr)
			}
			for _, r := range reasons {
				if !strings.Contains(stderr, r) {
					t.Errorf("%s: audit %v does not say %q:\n%s", what, args, r, stderr)
				}
			}
		}
	}

	verifies("the whole trail", in.AuditSeq)

	// An entry chained after the head, as a transition committed between
	// reading the instance and reading its trail would be.
	next := flows.AuditEntry{Seq: last.Seq + 1, At: last.At, Actor: "carol", Action: "commented", Reason: "later", Prev: last.Hash}
	if err := rdb.RPush(ctx, key, sealed(t, next)).Err(); err != nil {
		t.Fatal(err)
	}
	verifies("an entry after the recorded head", in.AuditSeq+1)
	if err := rdb.RPop(ctx, key).Err(); err != nil {
		t.Fatal(err)
	}

	// The last entry rewritten and sealed again: the chain holds, the
	// instance's head does not match.
	forged := last
	forged.Actor, forged.Hash = "mallory", ""
	if err := rdb.LSet(ctx, key, -1, sealed(t, forged)).Err(); err != nil {
		t.Fatal(err)
	}
	refused("the last entry replaced", "audit entry "+strconv.Itoa(in.AuditSeq)+": hash ", "the instance records "+in.AuditHead[:16]+" as its head")

	// The last entry cut off: the chain holds, the count does not.
	if err := rdb.RPop(ctx, key).Err(); err != nil {
		t.Fatal(err)
	}
	refused("the last entry removed", "the trail ends at entry "+strconv.Itoa(in.AuditSeq-1)+" but the instance records "+strconv.Itoa(in.AuditSeq)+
		" (head "+in.AuditHead[:16]+")")
}

// TestAuditCommandShowsChannel: the printed trail says through what and
// by what means each entry came (the platform, the API token), as the
// JSON export does.
func TestAuditCommandShowsChannel(t *testing.T) {
	t.Parallel()
	h, _, redisURL := auditHarness(t)
	id := h.start("alice", "purchase", url.Values{"item": {"Chair"}, "amount": {"300"}, "justification": {"my old one broke down"}})
	out, err := h.a.svc.Handle(t.Context(), flows.Event{Kind: flows.EventComment, Key: "c1", Instance: id, Actor: "bob",
		Platform: "api", Via: "api token crm", Reason: "on it"})
	if err != nil || !out.OK {
		t.Fatal(err, out)
	}
	code, stdout, stderr := runAudit(t, redisURL, id)
	if code != 0 {
		t.Fatalf("audit: exit %d\n%s", code, stderr)
	}
	var comment string
	for line := range strings.Lines(stdout) {
		if strings.Contains(line, "commented") {
			comment = line
		}
	}
	if !strings.Contains(comment, `via="api token crm"`) || !strings.Contains(comment, "platform=api") {
		t.Errorf("the comment's line lacks its token or platform: %q\n%s", comment, stdout)
	}
	if !strings.Contains(stdout, "platform=web") {
		t.Errorf("the console's start does not say so:\n%s", stdout)
	}
}
