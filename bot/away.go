package bot

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/batonbot/baton/flows"
)

// AwayStore keeps who is out of office, for every replica
// (storage.Store implements it).
type AwayStore interface {
	SetAway(ctx context.Context, person string, a flows.Away) error
	ClearAway(ctx context.Context, person string) error
	AwayAt(ctx context.Context, now time.Time) (map[string]flows.Away, error)
}

// awayRefresh is how long a replica uses what it last read of who is away:
// another replica's away or back takes effect here within it.
const awayRefresh = 5 * time.Second

// awayCache is a replica's view of who is away: read without a lock on
// every event, read again from the store once it is awayRefresh old.
type awayCache struct {
	mu   sync.Mutex // held while reading the store
	snap atomic.Pointer[awaySnap]
}

type awaySnap struct {
	m    map[string]flows.Away
	read time.Time
}

// awayNow returns who is away, as last read within awayRefresh. If it
// cannot be read, the last view is used (and the failure logged).
func (s *Service) awayNow(ctx context.Context) map[string]flows.Away {
	if s.awayStore == nil {
		return nil
	}
	fresh := func(v *awaySnap, now time.Time) bool {
		return v != nil && now.Sub(v.read) < awayRefresh && !now.Before(v.read)
	}
	c := &s.away
	now := s.clock.Now()
	if v := c.snap.Load(); fresh(v, now) {
		return v.m
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	v := c.snap.Load()
	if fresh(v, now) { // read meanwhile
		return v.m
	}
	m, err := s.awayStore.AwayAt(ctx, now)
	if err != nil {
		s.log.Warn("read who is away; using what was read before, and trying again in a few seconds", "err", err)
		if v != nil {
			m = v.m
		}
		c.snap.Store(&awaySnap{m: m, read: now}) // not every event tries again at once
		return m
	}
	c.snap.Store(&awaySnap{m: m, read: now})
	return m
}

// forgetAway makes the next event read who is away afresh.
func (s *Service) forgetAway() { s.away.snap.Store(nil) }

// awayCommand runs "away [until] <last day> [person]" and "back".
func (s *Service) awayCommand(ctx context.Context, actor, platform, key string, c flows.Command) (Reply, error) {
	refuse := func(format string, args ...any) (Reply, error) {
		return Reply{Message: &flows.Message{Kind: flows.MsgInfo, Title: fmt.Sprintf(format, args...)}, Refused: true}, nil
	}
	if s.awayStore == nil {
		return refuse("Away is not available here.")
	}
	dir := s.engine.Directory()
	if _, ok := dir.Person(actor); !ok {
		return refuse("Away is for people in the directory; ask an admin to add you.")
	}
	loc := dir.Location(actor)
	usual := cmp.Or(dir.Backup(actor), dir.Manager(actor)) // the stand-in unless they name one
	now := s.clock.Now()
	away, err := s.awayStore.AwayAt(ctx, now)
	if err != nil {
		return Reply{}, err
	}
	a, isAway := away[actor]
	if c.Verb == flows.VerbBack {
		if !isAway {
			return refuse("You are not marked away: your tasks come to you.")
		}
		if err := s.awayStore.ClearAway(ctx, actor); err != nil {
			return Reply{}, err
		}
		s.forgetAway()
		return Reply{Message: &flows.Message{Kind: flows.MsgInfo, Title: fmt.Sprintf(
			"Welcome back: new tasks come to you alone again. Tasks you shared while away stay shared until they are decided.")}}, nil
	}
	if c.Arg == "" {
		if isAway {
			return Reply{Message: &flows.Message{Kind: flows.MsgInfo, Title: fmt.Sprintf(
				"You are away through %s, and %s stands in. Type %s when you return.", flows.AwayThrough(a.Until, loc), dir.Name(a.StandIn), s.typed(platform, "back"))}}, nil
		}
		if usual == "" { // no manager or backup to stand in by default
			return refuse("You are not away. To be, say your last day away, and who stands in (by their id): %s.", s.typed(platform, "away until 2026-12-24 ID"))
		}
		return refuse("You are not away. To be, say your last day away: %s (%s stands in), or name who else stands in by their id: %s.",
			s.typed(platform, "away until 2026-12-24"), dir.Name(usual), s.typed(platform, "away until 2026-12-24 ID"))
	}
	day, err := time.ParseInLocation(time.DateOnly, c.Arg, loc)
	if err != nil {
		return refuse("%q is not a date: write your last day away as YYYY-MM-DD, e.g. %s.", c.Arg, s.typed(platform, "away until 2026-12-24"))
	}
	until := day.AddDate(0, 0, 1) // back the next morning
	switch {
	case !until.After(now):
		return refuse("%s is already past: write your last day away, today or later.", c.Arg)
	case until.After(now.AddDate(1, 0, 0)):
		return refuse("%s is more than a year away: write a nearer last day, and say away again if need be.", c.Arg)
	}
	standIn := usual
	if c.Rest != "" {
		if standIn = s.typedPerson(c.Rest); standIn == "" {
			return refuse("%q is not a person in the directory: name who stands in by their id, e.g. %s.", shownPerson(c.Rest), s.typed(platform, "away until "+c.Arg+" carol"))
		}
	}
	other, standInAway := away[standIn]
	switch {
	case standIn == "":
		return refuse("You have no manager or backup in the directory: name who stands in, e.g. %s.", s.typed(platform, "away until "+c.Arg+" carol"))
	case standIn == actor:
		return refuse("Name someone else to stand in for you.")
	case standInAway:
		return refuse("%s is away too, through %s: name someone else to stand in, by their id: %s.", dir.Name(standIn), flows.AwayThrough(other.Until, dir.Location(standIn)), s.typed(platform, "away until "+c.Arg+" ID"))
	}
	a = flows.Away{Until: until, StandIn: standIn}
	if err := s.awayStore.SetAway(ctx, actor, a); err != nil {
		return Reply{}, err
	}
	s.forgetAway()
	// Each pending task goes to the stand-in, or, where they may not take
	// it, to the backup or the manager, as new tasks would.
	var candidates []string
	for _, p := range []string{standIn, dir.Backup(actor), dir.Manager(actor)} {
		if _, isAway := away[p]; p != "" && p != actor && !isAway && !slices.Contains(candidates, p) {
			candidates = append(candidates, p)
		}
	}
	why := "away through " + flows.AwayThrough(until, loc) // on the cards and in the record: why the task moved
	shared, err := s.sharePending(ctx, actor, platform, key, c.Arg, why, candidates)
	if err != nil {
		return Reply{}, err
	}
	went, read := shared.went, shared.read
	text := fmt.Sprintf("You are away through %s, and %s stands in: new tasks of yours are shared with them, and they decide on your behalf.",
		flows.AwayThrough(until, loc), dir.Name(standIn))
	if n := len(went[standIn]); n > 0 {
		text += " " + flows.Plural(n, "pending task was", "pending tasks were") + " shared now."
	}
	if n := len(shared.kept[standIn]); n > 0 {
		text += " " + flows.Plural(n, "pending task stays", "pending tasks stay") + " shared with them."
	}
	for _, to := range slices.Sorted(maps.Keys(went)) {
		ids := strings.Join(went[to], ", ")
		switch to {
		case standIn:
		case "":
			text += fmt.Sprintf(" Not shared, as nobody may take them: %s; pass them on from their cards.", ids)
		default:
			text += fmt.Sprintf(" Shared with %s instead, as %s may not take them: %s.", dir.Name(to), dir.Name(standIn), ids)
		}
	}
	for _, to := range slices.Sorted(maps.Keys(shared.kept)) {
		if to != standIn {
			text += fmt.Sprintf(" Still shared with %s, as %s may not take them: %s.", dir.Name(to), dir.Name(standIn), strings.Join(shared.kept[to], ", "))
		}
	}
	for _, old := range slices.Sorted(maps.Keys(shared.replaced)) {
		text += fmt.Sprintf(" %s no longer stands in on %s.", dir.Name(old), strings.Join(shared.replaced[old], ", "))
	}
	if read == awayShareMax {
		text += fmt.Sprintf(" (The first %d of your tasks: type %s again for the rest.)", awayShareMax, s.typed(platform, "away"))
	}
	return Reply{Message: &flows.Message{Kind: flows.MsgInfo, Title: text + " Type " + s.typed(platform, "back") + " when you return."}}, nil
}

// sharePending passes actor's own pending tasks on, as they would
// themselves (a delegation: recorded, and carded): each to the first of
// candidates who may take it (not its requester, nobody on its step
// already), who stands in for them there in place of whoever stood in
// before (an earlier away's stand-in).
func (s *Service) sharePending(ctx context.Context, actor, platform, key, lastDay, why string, candidates []string) (shared, error) {
	ins, err := s.store.List(ctx, flows.Query{Assignee: actor, Limit: awayShareMax})
	if err != nil {
		return shared{}, err
	}
	sh := shared{went: map[string][]string{}, kept: map[string][]string{}, replaced: map[string][]string{}, read: len(ins)}
	for _, in := range ins {
		i := slices.IndexFunc(in.Tasks, func(t flows.Task) bool { return t.Assignee == actor && t.Decision == flows.Pending })
		if i < 0 {
			continue // theirs as a delegate only: not theirs to pass on
		}
		// In the key: an away naming them again, after another, is not a
		// redelivery; nor, by the command's own key, is one naming them a
		// third time (carol, frank, carol, frank): only a sender's retry is.
		before := in.Tasks[i].StandIn
		to, kept := "", false
		for _, cand := range candidates {
			ev := flows.Event{Kind: flows.EventDelegate, Key: fmt.Sprintf("away:%s:%s:%s:%s:%d:%s:%s", actor, lastDay, cand, in.ID, in.Round, before, key),
				Instance: in.ID, Actor: actor, Platform: platform, Target: cand, Step: in.Step, Round: in.Round, Reason: why, StandIn: true}
			out, result, err := s.Apply(ctx, ev)
			var ie *flows.InputError
			if errors.As(err, &ie) {
				continue // may not take it: the next
			}
			if err != nil {
				return shared{}, err
			}
			if out.OK {
				to, kept = cand, result == ResultNoop
			}
			break
		}
		if to == "" && before != "" { // nobody may take it in their place: they still stand in
			to, kept = before, true
		}
		switch {
		case kept:
			sh.kept[to] = append(sh.kept[to], in.ID)
		default:
			sh.went[to] = append(sh.went[to], in.ID)
			if to != "" && before != "" && before != to {
				sh.replaced[before] = append(sh.replaced[before], in.ID)
			}
		}
	}
	for _, m := range []map[string][]string{sh.went, sh.kept, sh.replaced} {
		for _, ids := range m {
			slices.Sort(ids)
		}
	}
	return sh, nil
}

// shared is what sharePending did: the tasks' ids, sorted, by whom they
// went to ("" for nobody), by whom they stay with (who stood in there
// already), and by whom they were taken from (an earlier stand-in); and
// how many requests it read.
type shared struct {
	went, kept, replaced map[string][]string
	read                 int
}

// awayShareMax bounds the pending tasks away shares at once.
const awayShareMax = 1000

// typedPerson returns the directory person typed names, as the engine
// reads a person typed anywhere (an id in any case, slack:U123…), with or
// without @, or a Slack mention (<@U123> or <@U123|name>); "" if nobody in
// the directory.
// shownPerson is a person as typed, to quote back: a Slack mention as
// Slack showed it ("@carol diaz"), not its markup.
func shownPerson(typed string) string {
	if u, ok := strings.CutPrefix(strings.TrimSpace(typed), "<@"); ok && strings.HasSuffix(u, ">") {
		id, name, _ := strings.Cut(strings.TrimSuffix(u, ">"), "|")
		return "@" + cmp.Or(name, id)
	}
	return typed
}

func (s *Service) typedPerson(typed string) string {
	typed = strings.TrimPrefix(strings.TrimSpace(typed), "@")
	if u, ok := strings.CutPrefix(typed, "<@"); ok {
		u, _, _ = strings.Cut(strings.TrimSuffix(u, ">"), "|")
		typed = "slack:" + u
	}
	id, ok := s.engine.PersonID(typed)
	if _, known := s.engine.Directory().Person(id); !ok || !known {
		return ""
	}
	return id
}
