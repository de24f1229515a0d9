package api_test

import (
	"context"
	"encoding/base64"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/batonbot/baton/adapters/api"
	"github.com/batonbot/baton/bot/bottest"
	"github.com/batonbot/baton/flows"
	"github.com/batonbot/baton/storage"
)

// pages walks GET /api/v1/instances (query: more parameters, "&…") limit
// at a time, following next_cursor, and returns each page's ids. Every
// page but the last is full (unless the rig's listings stop short) and has
// a next_cursor; the last has none.
func (r *rig) pages(token, query string, limit int) [][]string {
	r.t.Helper()
	var out [][]string
	cursor := ""
	for range 100 {
		path := "/api/v1/instances?limit=" + strconv.Itoa(limit) + query
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		p := r.do("GET", path, token, nil)
		r.want(p, 200, "")
		ids := listIDs(p)
		if n, _ := p.body["count"].(float64); int(n) != len(ids) {
			r.t.Fatalf("%s: count %v for %d instances", path, p.body["count"], len(ids))
		}
		out = append(out, ids)
		next, ok := p.body["next_cursor"].(string)
		if !ok {
			return out
		}
		if next == "" || len(ids) != limit && !r.short {
			r.t.Fatalf("%s: next_cursor %q after a page of %d: %s", path, next, len(ids), p.raw)
		}
		cursor = next
	}
	r.t.Fatalf("%s by %d: the pages never end", query, limit)
	return nil
}

// newestFirst sorts groups of ids, oldest group first, each created in one
// millisecond, into the listing's order: newest first, then by id, greatest
// first.
func newestFirst(groups ...[]string) []string {
	var out []string
	for _, g := range slices.Backward(groups) {
		g = slices.Clone(g)
		slices.SortFunc(g, func(a, b string) int { return strings.Compare(b, a) })
		out = append(out, g...)
	}
	return out
}

// Following next_cursor lists every instance exactly once, newest first,
// ties in one millisecond by id, whatever the page size; a page that ends
// the listing has no next_cursor, even when it is full.
func TestListPagesWithCursor(t *testing.T) {
	r := newRig(t)
	tok := r.token("crm", api.ScopeAdmin, "")
	var groups [][]string
	var alice []string // waiting on bob
	for _, n := range []int{3, 7, 2} {
		var g []string
		for i := range n {
			who := []string{"alice", "carol"}[i%2]
			id := r.start(tok, 900, who)
			if who == "alice" {
				alice = append(alice, id)
			}
			g = append(g, id)
		}
		groups = append(groups, g)
		r.Clock.Advance(time.Millisecond)
	}
	want := newestFirst(groups...)
	if got := r.pages(tok, "", 500); len(got) != 1 || !slices.Equal(got[0], want) {
		t.Fatalf("one page: %v, want %v", got, want)
	}
	for _, limit := range []int{1, 4, 5} {
		pages := r.pages(tok, "", limit)
		if got := slices.Concat(pages...); !slices.Equal(got, want) {
			t.Errorf("by %d: %v, want %v", limit, got, want)
		}
		if n := (len(want) + limit - 1) / limit; len(pages) != n {
			t.Errorf("by %d: %d pages, want %d", limit, len(pages), n)
		}
	}
	// The cursor goes with the query's filters.
	var bobs []string
	for _, id := range want {
		if slices.Contains(alice, id) {
			bobs = append(bobs, id)
		}
	}
	for _, query := range []string{"&assignee=bob", "&requester=alice&flow=purchase&status=open"} {
		for _, limit := range []int{1, 2} {
			if got := slices.Concat(r.pages(tok, query, limit)...); !slices.Equal(got, bobs) {
				t.Errorf("%s by %d: %v, want %v", query, limit, got, bobs)
			}
		}
	}
	// An empty cursor is no cursor: the first page.
	p := r.do("GET", "/api/v1/instances?limit=2&cursor=", tok, nil)
	r.want(p, 200, "")
	if got := listIDs(p); !slices.Equal(got, want[:2]) {
		t.Errorf("with an empty cursor: %v, want %v", got, want[:2])
	}
}

// shallow is a store whose listings stop short of a page after one
// instance (as a filtered listing does past Config.ListDepth): it says it
// read up to that one.
type shallow struct{ *storage.Store }

func (s shallow) Page(ctx context.Context, q flows.Query) ([]*flows.Instance, flows.Place, error) {
	ins, _, err := s.Store.Page(ctx, q)
	if err != nil || len(ins) < 2 {
		return ins, flows.Place{}, err
	}
	return ins[:1], flows.Place{Created: ins[0].Created, ID: ins[0].ID}, nil
}

// A listing that stops short of a page gets a next_cursor where it
// stopped: following it lists every instance once, in order, for any token.
func TestListGoesOnWhereAListingStoppedShort(t *testing.T) {
	t.Parallel()
	b := bottest.New(t)
	r := newRigOver(t, b, api.Config{PersonWindow: 3}, shallow{b.Store})
	r.short = true
	crm := r.token("crm", api.ScopeAdmin, "")
	var all, alices []string
	for i := range 5 {
		who := []string{"alice", "carol"}[i%2]
		id := r.start(crm, 900, who)
		if who == "alice" {
			alices = append([]string{id}, alices...)
		}
		all = append([]string{id}, all...)
		r.Clock.Advance(time.Millisecond)
	}
	alice := r.token("alice", api.ScopeRead, "alice")
	for _, c := range []struct {
		token, query string
		want         []string
	}{
		{crm, "", all},
		{crm, "&requester=alice&status=open", alices},
		{alice, "", alices},
		{alice, "&flow=purchase", alices},
	} {
		for _, limit := range []int{1, 3} {
			pages := r.pages(c.token, c.query, limit)
			if got := slices.Concat(pages...); !slices.Equal(got, c.want) {
				t.Errorf("%q by %d: %v, want %v", c.query, limit, got, c.want)
			}
			if limit > 1 && len(pages) < len(c.want) {
				t.Errorf("%q by %d: %d pages: the listings did not stop short", c.query, limit, len(pages))
			}
		}
	}
}

// A cursor cut short, edited or made up is a 400 naming the cursor (with
// any other field's problem), not another place in the listing.
func TestListBadCursor(t *testing.T) {
	r := newRig(t)
	tok := r.token("crm", api.ScopeRead, "")
	admin := r.token("admin", api.ScopeAdmin, "")
	for range 3 {
		r.start(admin, 900, "alice")
	}
	p := r.do("GET", "/api/v1/instances?limit=1", tok, nil)
	r.want(p, 200, "")
	good, _ := p.body["next_cursor"].(string)
	raw, err := base64.RawURLEncoding.DecodeString(good)
	if err != nil || !strings.Contains(string(raw), ":PR-3:") {
		t.Fatalf("next_cursor %q (%q, %v)", good, raw, err)
	}
	edited := base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(raw), ":PR-3:", ":PR-2:", 1)))
	for _, cursor := range []string{"nope", "%%%", good[:len(good)-3], edited, base64.RawURLEncoding.EncodeToString([]byte("1:PR-1"))} {
		p := r.do("GET", "/api/v1/instances?limit=1&cursor="+url.QueryEscape(cursor), tok, nil)
		r.want(p, 400, "bad_request")
		if msg, _ := p.fields()["cursor"].(string); !strings.Contains(msg, "next_cursor") {
			t.Errorf("cursor %q: %s", cursor, p.raw)
		}
	}
	p = r.do("GET", "/api/v1/instances?limit=0&cursor=nope", tok, nil)
	r.want(p, 400, "bad_request")
	if f := p.fields(); f["cursor"] == nil || f["limit"] == nil {
		t.Errorf("want cursor and limit errors: %s", p.raw)
	}
	p = r.do("GET", "/api/v1/instances?limit=1&cursor="+url.QueryEscape(good), tok, nil)
	r.want(p, 200, "")
	if got := listIDs(p); !slices.Equal(got, []string{"PR-2"}) {
		t.Errorf("the good cursor: %v, want PR-2", got)
	}
}

// A person-bound token's pages split its one listing: the person's own
// requests and tasks (however old) and what else they may see among the
// newest, newest first, each once, ties by id, whatever the page size.
func TestBoundTokenListPages(t *testing.T) {
	r := newRigWith(t, api.Config{PersonWindow: 3})
	crm := r.token("crm", api.ScopeAdmin, "")
	gus := r.token("gus", api.ScopeRead, "gus")
	decide := func(id, who, step string) {
		t.Helper()
		r.want(r.do("POST", "/api/v1/instances/"+id+"/decisions", crm, map[string]any{"decision": "approve", "on_behalf_of": who, "step": step}), 200, "")
	}
	adminAccess := func() string {
		t.Helper()
		p := r.do("POST", "/api/v1/flows/access/instances", crm, map[string]any{"on_behalf_of": "alice",
			"data": map[string]any{"system": "github", "level": "admin", "reason": "to run the releases"}})
		r.want(p, 201, "")
		id := p.body["instance"].(string)
		decide(id, "bob", "manager") // on to security: erin and gus
		return id
	}
	others := func(n int) {
		for range n {
			r.start(crm, 900, "alice") // waiting on bob: not for gus to see
		}
	}
	own := r.start(crm, 900, "gus")
	r.Clock.Advance(time.Minute)
	waiting := adminAccess() // waiting on gus
	r.Clock.Advance(time.Minute)
	// Gus decided this one too, but it is not among the 3 newest: no page
	// lists it, as no single listing would (a window moving with the
	// pages would find it on some and not others).
	decide(adminAccess(), "gus", "security")
	r.Clock.Advance(time.Minute)
	others(2)
	r.Clock.Advance(time.Minute)
	var tied []string // in one millisecond
	for range 3 {
		tied = append(tied, r.start(crm, 900, "gus"))
	}
	r.Clock.Advance(time.Minute)
	decided := adminAccess()
	decide(decided, "gus", "security") // still waiting on erin: gus sees it, among the newest
	r.Clock.Advance(time.Minute)
	others(2)

	want := newestFirst([]string{own}, []string{waiting}, tied, []string{decided})
	for _, limit := range []int{50, 1, 2, 4, 6} {
		if got := slices.Concat(r.pages(gus, "", limit)...); !slices.Equal(got, want) {
			t.Errorf("by %d: %v, want %v", limit, got, want)
		}
	}
	mine := newestFirst([]string{own}, tied)
	for _, limit := range []int{1, 3} {
		if got := slices.Concat(r.pages(gus, "&flow=purchase", limit)...); !slices.Equal(got, mine) {
			t.Errorf("purchases by %d: %v, want %v", limit, got, mine)
		}
		// What they asked for is theirs, all of it, past the window.
		if got := slices.Concat(r.pages(gus, "&requester=gus", limit)...); !slices.Equal(got, mine) {
			t.Errorf("requester=gus by %d: %v, want %v", limit, got, mine)
		}
	}
}

// Requests started while a person-bound token pages do not push what the
// person decided out of the window its first page saw.
func TestBoundTokenWindowHoldsAcrossPages(t *testing.T) {
	r := newRigWith(t, api.Config{PersonWindow: 3})
	crm := r.token("crm", api.ScopeAdmin, "")
	gus := r.token("gus", api.ScopeRead, "gus")
	var want []string
	for range 2 { // decided by gus, still waiting on erin: his to see
		p := r.do("POST", "/api/v1/flows/access/instances", crm, map[string]any{"on_behalf_of": "alice",
			"data": map[string]any{"system": "github", "level": "admin", "reason": "to run the releases"}})
		r.want(p, 201, "")
		id := p.body["instance"].(string)
		for _, d := range [][2]string{{"bob", "manager"}, {"gus", "security"}} {
			r.want(r.do("POST", "/api/v1/instances/"+id+"/decisions", crm, map[string]any{"decision": "approve", "on_behalf_of": d[0], "step": d[1]}), 200, "")
		}
		want = append([]string{id}, want...)
		r.Clock.Advance(time.Minute)
	}
	r.start(crm, 900, "alice") // not his: the window's third
	var got []string
	cursor := ""
	for range 10 {
		path := "/api/v1/instances?limit=1"
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		p := r.do("GET", path, gus, nil)
		r.want(p, 200, "")
		got = append(got, listIDs(p)...)
		next, ok := p.body["next_cursor"].(string)
		if !ok {
			break
		}
		cursor = next
		r.Clock.Advance(time.Minute)
		r.start(crm, 900, "alice")
	}
	if !slices.Equal(got, want) {
		t.Errorf("with starts between pages: %v, want %v", got, want)
	}
}
