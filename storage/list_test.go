package storage_test

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/batonbot/baton/flows"
	"github.com/batonbot/baton/storage"
	"github.com/batonbot/baton/storage/storagetest"
)

// A person's requests filtered by what their index does not key on (a
// flow, a status) are found behind many newer ones that do not match, and
// come newest first.
func TestListFilteredPersonIndex(t *testing.T) {
	conformance(t, func(t *testing.T, s *storage.Store, e *flows.Engine) {
		at := t0
		startAt := func(flow, key string, data map[string]string) string {
			at = at.Add(time.Minute)
			prefix := map[string]string{"purchase": "PR", "access": "AR"}[flow]
			id, err := s.Reserve(t.Context(), flow, prefix, key)
			if err != nil {
				t.Fatal(err)
			}
			apply(t, s, e, flows.Event{Kind: flows.EventStart, Key: key, Instance: id, Actor: "alice", Flow: flow, Data: data}, at)
			return id
		}
		access := startAt("access", "a", map[string]string{"system": "github", "level": "read", "reason": "to review the code"})
		var purchases []string
		for i := range 40 {
			purchases = append(purchases, startAt("purchase", fmt.Sprint("p", i),
				map[string]string{"item": "Laptop", "amount": "500", "justification": "my old one broke down"}))
		}
		for _, limit := range []int{1, 5} {
			got, err := s.List(t.Context(), flows.Query{Requester: "alice", Flow: "access", Limit: limit})
			if err != nil || len(got) != 1 || got[0].ID != access {
				t.Fatalf("alice's access requests (limit %d): %v %v, want %s", limit, ids(got), err, access)
			}
		}
		got, err := s.List(t.Context(), flows.Query{Requester: "alice", Flow: "purchase", Limit: 5})
		if want := []string{purchases[39], purchases[38], purchases[37], purchases[36], purchases[35]}; err != nil || !slices.Equal(ids(got), want) {
			t.Fatalf("alice's newest purchases: %v %v, want %v", ids(got), err, want)
		}
	})
}

func ids(ins []*flows.Instance) []string {
	var out []string
	for _, in := range ins {
		out = append(out, in.ID)
	}
	return out
}

// The oldest open requests are found however many newer ones there are.
func TestListCreatedBefore(t *testing.T) {
	conformance(t, func(t *testing.T, s *storage.Store, e *flows.Engine) {
		startAt := func(key string, at time.Time) string {
			id, err := s.Reserve(t.Context(), "purchase", "PR", key)
			if err != nil {
				t.Fatal(err)
			}
			ev := flows.Event{Kind: flows.EventStart, Key: key, Instance: id, Actor: "alice", Flow: "purchase",
				Data: map[string]string{"item": "Laptop", "amount": "500", "justification": "my old one broke down"}}
			apply(t, s, e, ev, at)
			return id
		}
		old := map[string]bool{}
		for i := range 5 {
			old[startAt(fmt.Sprint("old", i), t0)] = true
		}
		for i := range 30 {
			startAt(fmt.Sprint("new", i), t0.Add(3*24*time.Hour))
		}
		cutoff := t0.Add(24 * time.Hour)
		for name, q := range map[string]flows.Query{
			"by status":   {Status: []flows.Status{flows.StatusRunning}, CreatedBefore: cutoff, Limit: 10},
			"by flow":     {Flow: "purchase", CreatedBefore: cutoff, Limit: 10},
			"by assignee": {Assignee: "bob", CreatedBefore: cutoff, Limit: 10},
		} {
			got, err := s.List(t.Context(), q)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(old) {
				t.Errorf("%s: %d instances, want the %d old ones", name, len(got), len(old))
			}
			for _, in := range got {
				if !old[in.ID] {
					t.Errorf("%s: %s was created %s, after the cut-off", name, in.ID, in.Created)
				}
			}
		}
		if got, _ := s.List(t.Context(), flows.Query{Flow: "purchase", Limit: 10}); len(got) != 10 || old[got[0].ID] {
			t.Errorf("without a cut-off: %d instances, newest first", len(got))
		}
	})
}

// A listing by status alone covers every flow, and finds the requests of
// data written before the shards kept their sets of flows (versions up to
// 4542456 kept an index per status instead, which goes).
func TestListByStatusAloneCoversEveryFlow(t *testing.T) {
	onBackends(t, storage.Config{Shards: 4}, func(t *testing.T, be storagetest.Backend, s *storage.Store) {
		e := engine(t)
		pr := start(t, s, e, "s1", "500")
		id, err := s.Reserve(t.Context(), "access", "AR", "s2")
		if err != nil {
			t.Fatal(err)
		}
		ev := flows.Event{Kind: flows.EventStart, Key: "s2", Instance: id, Actor: "alice", Flow: "access",
			Data: map[string]string{"system": "github", "level": "read", "reason": "code review"}}
		apply(t, s, e, ev, t0.Add(time.Minute))
		list := func(q flows.Query) []string {
			t.Helper()
			got, err := s.List(t.Context(), q)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, in := range got {
				ids = append(ids, in.ID)
			}
			return ids
		}
		for _, q := range []flows.Query{{Status: []flows.Status{flows.StatusRunning}}, {}} {
			if got := list(q); !slices.Equal(got, []string{id, pr}) {
				t.Fatalf("%+v: %v, want the access request, then the purchase", q, got)
			}
		}

		// As an earlier version left its data: no sets of flows, and an
		// index per status. A fresh store (another replica, or a restart)
		// lists them all the same.
		ctx := t.Context()
		legacy := "{" + s.Prefix() + ":" + strconv.Itoa(s.ShardOf(pr)) + "}:ix:status:running"
		for _, cmd := range []*redis.IntCmd{
			be.Client.Del(ctx, "{"+s.Prefix()+":"+strconv.Itoa(s.ShardOf(pr))+"}:flows"),
			be.Client.Del(ctx, "{"+s.Prefix()+":"+strconv.Itoa(s.ShardOf(id))+"}:flows"),
			be.Client.Del(ctx, "{"+s.Prefix()+":g}:flows-seeded"),
			be.Client.ZAdd(ctx, legacy, redis.Z{Score: float64(t0.UnixMilli()), Member: pr}),
		} {
			if err := cmd.Err(); err != nil {
				t.Fatal(err)
			}
		}
		for sh := range 4 {
			if n, _ := be.Client.Exists(ctx, "{"+s.Prefix()+":"+strconv.Itoa(sh)+"}:flows").Result(); n != 0 {
				t.Fatalf("shard %d still has its set of flows", sh)
			}
		}
		s = storage.New(be.Client, storage.Config{Prefix: s.Prefix(), Shards: 4})
		if err := s.Init(ctx); err != nil {
			t.Fatal(err)
		}
		if got := list(flows.Query{Status: []flows.Status{flows.StatusRunning}}); !slices.Equal(got, []string{id, pr}) {
			t.Fatalf("after the upgrade: %v, want the access request, then the purchase", got)
		}
		if n, err := be.Client.Exists(ctx, legacy).Result(); err != nil || n != 0 {
			t.Fatalf("the old status index is left: %d %v", n, err)
		}
	})
}

// Paging with q.After walks every listing exactly once, in one order (newest
// first by the creation millisecond, then by id, greatest first), however
// many instances share a millisecond across the shards, and whatever the
// page size: each page starts right after the last instance of the one
// before.
func TestListPagesThroughTies(t *testing.T) {
	conformance(t, func(t *testing.T, s *storage.Store, e *flows.Engine) {
		var all []*flows.Instance
		startAt := func(flow, actor string, at time.Time) {
			key := fmt.Sprint("k", len(all))
			id, err := s.Reserve(t.Context(), flow, map[string]string{"purchase": "PR", "access": "AR"}[flow], key)
			if err != nil {
				t.Fatal(err)
			}
			data := map[string]string{"item": "Laptop", "amount": "500", "justification": "my old one broke down"}
			if flow == "access" {
				data = map[string]string{"system": "github", "level": "read", "reason": "to review the code"}
			}
			apply(t, s, e, flows.Event{Kind: flows.EventStart, Key: key, Instance: id, Actor: actor, Flow: flow, Data: data}, at)
			in, err := s.Get(t.Context(), id)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, in)
		}
		// Three milliseconds, the middle one crowded; within one, the
		// nanoseconds differ but do not count.
		for i, n := range []int{5, 24, 4} {
			ms := t0.Add(time.Duration(i) * time.Millisecond)
			for j := range n {
				flow, actor := "purchase", []string{"alice", "carol"}[j%2]
				if j%3 == 0 {
					flow = "access"
				}
				startAt(flow, actor, ms.Add(time.Duration(j)*time.Microsecond))
			}
		}
		shards := map[int]bool{}
		for _, in := range all {
			if in.Created.UnixMilli() == t0.Add(time.Millisecond).UnixMilli() {
				shards[s.ShardOf(in.ID)] = true
			}
		}
		if len(shards) < 2 {
			t.Fatalf("the crowded millisecond is on %d shard, want several", len(shards))
		}
		// Bob approves alice's access requests, the newest first: their
		// next step (erin's) starts in the reverse order of their creation,
		// and her tasks are still listed by creation.
		for i, in := range slices.Backward(all) {
			if in.Flow == "access" && in.Requester == "alice" {
				a := apply(t, s, e, flows.Event{Kind: flows.EventApprove, Key: "ok" + in.ID, Instance: in.ID, Actor: "bob"}, t0.Add(time.Duration(len(all)-i)*time.Minute))
				if !a.Outcome.OK {
					t.Fatalf("approve %s: %+v", in.ID, a.Outcome)
				}
			}
		}

		cases := map[string]flows.Query{
			"everything":             {},
			"by status":              {Status: []flows.Status{flows.StatusRunning}},
			"by flow":                {Flow: "purchase"},
			"by requester":           {Requester: "alice"},
			"by requester, filtered": {Requester: "alice", Flow: "access"},
			"by assignee":            {Assignee: "bob"},
			"by assignee, filtered":  {Assignee: "bob", Flow: "purchase"},
			"by a later assignee":    {Assignee: "erin"},
			"created before":         {Flow: "purchase", CreatedBefore: t0.Add(2 * time.Millisecond)},
		}
		created := map[string]int64{}
		for _, in := range all {
			created[in.ID] = in.Created.UnixMilli()
		}
		// Not paged, a person's tasks are listed as they came to them, the
		// newest first, and a limit keeps the newest: erin's first is the
		// oldest request, whose approval came last.
		if got, err := s.List(t.Context(), flows.Query{Assignee: "erin", Limit: 2}); err != nil || !slices.Equal(ids(got), []string{"AR-1", "AR-3"}) {
			t.Errorf("erin's newest tasks: %v %v, want AR-1, AR-3", ids(got), err)
		}
		for name, q := range cases {
			var want []string
			for _, in := range all {
				in, err := s.Get(t.Context(), in.ID) // as decided since
				if err != nil {
					t.Fatal(err)
				}
				if (q.Flow == "" || in.Flow == q.Flow) && (len(q.Status) == 0 || slices.Contains(q.Status, in.Status)) &&
					(q.Requester == "" || in.Requester == q.Requester) &&
					(q.Assignee == "" || slices.Contains(in.Deciders(), q.Assignee)) &&
					(q.CreatedBefore.IsZero() || in.Created.Before(q.CreatedBefore)) {
					want = append(want, in.ID)
				}
			}
			slices.SortFunc(want, func(a, b string) int {
				return cmp.Or(cmp.Compare(created[b], created[a]), strings.Compare(b, a))
			})
			if len(want) < 3 {
				t.Fatalf("%s: only %d instances to page through", name, len(want))
			}
			q.Limit, q.Paged = 1000, true
			whole, err := s.List(t.Context(), q)
			if err != nil || !slices.Equal(ids(whole), want) {
				t.Fatalf("%s: listed %v %v, want %v", name, ids(whole), err, want)
			}
			for _, size := range []int{1, 3, 7, len(want)} {
				q.Limit, q.After.Created, q.After.ID = size, time.Time{}, ""
				var got []string
				for pages := 0; ; pages++ {
					page, err := s.List(t.Context(), q)
					if err != nil {
						t.Fatal(err)
					}
					if len(page) > size || pages > len(want) {
						t.Fatalf("%s by %d: page %d holds %d", name, size, pages, len(page))
					}
					got = append(got, ids(page)...)
					if len(page) < size {
						break
					}
					last := page[len(page)-1]
					q.After.Created, q.After.ID = last.Created, last.ID
				}
				if !slices.Equal(got, want) {
					t.Errorf("%s by %d: pages %v, want %v", name, size, got, want)
				}
			}
		}
	})
}

// A filtered listing that reads its indexes to their depth without
// filling a page says where it stopped: paging on from there finds every
// match, however far behind the others (the depth lowered to 4 here, from
// 2,000).
func TestPageStopsShortAndGoesOn(t *testing.T) {
	onBackends(t, storage.Config{Shards: 2, ListDepth: 4}, func(t *testing.T, _ storagetest.Backend, s *storage.Store) {
		e := engine(t)
		var running []string
		for i := range 30 {
			id, err := s.Reserve(t.Context(), "purchase", "PR", fmt.Sprint("s", i))
			if err != nil {
				t.Fatal(err)
			}
			apply(t, s, e, flows.Event{Kind: flows.EventStart, Key: fmt.Sprint("s", i), Instance: id, Actor: "alice", Flow: "purchase",
				Data: map[string]string{"item": "Laptop", "amount": "500", "justification": "my old one broke down"}}, t0.Add(time.Duration(i)*time.Minute))
			if i == 2 || i == 13 || i == 25 {
				running = append([]string{id}, running...) // newest first
				continue
			}
			apply(t, s, e, flows.Event{Kind: flows.EventApprove, Key: "a" + id, Instance: id, Actor: "bob"}, t0.Add(time.Hour))
		}
		q := flows.Query{Requester: "alice", Status: []flows.Status{flows.StatusRunning}, Limit: 2, Paged: true}
		var got []string
		short := false
		for range 40 {
			page, upTo, err := s.Page(t.Context(), q)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, ids(page)...)
			switch {
			case len(page) == q.Limit:
				last := page[len(page)-1]
				q.After = flows.Place{Created: last.Created, ID: last.ID}
			case upTo.ID != "":
				short = true
				q.After = upTo
			default:
				if !slices.Equal(got, running) || !short {
					t.Fatalf("paged %v (stopped short: %v), want %v", got, short, running)
				}
				return
			}
		}
		t.Fatalf("no end after 40 pages: %v", got)
	})
}
