package flows

import (
	"cmp"
	"slices"
	"strings"
	"time"
)

// Overview is what an operations leader sees on the dashboard: how many
// requests are in each status, where every open one stands and who owns
// its current step, which are overdue, and how long each step takes.
type Overview struct {
	Now      time.Time
	ByStatus []StatusCount
	Open     []Standing // open requests, longest waiting first
	Overdue  []Standing // the open ones past their current step's due time, most overdue first
	Cycle    []StepCycle
}

// StatusCount is the number of requests in a status.
type StatusCount struct {
	Status Status
	Count  int
}

// Standing is where one open request stands.
type Standing struct {
	ID        string
	Flow      string // flow name
	Title     string
	Status    Status
	Step      string    // current step name ("" when it waits on its requester)
	Owners    []string  // display names of who must act now
	Since     time.Time // when the current step (or the send-back) started
	Due       time.Time // zero when the step has no due time
	Overdue   bool
	Late      time.Duration // how far past due
	Requester string
}

// StepCycle is how long one step of a flow took, over its finished rounds.
type StepCycle struct {
	Flow   string // flow name
	Step   string // step name
	Count  int
	Median time.Duration
	P90    time.Duration
}

// Overview summarises instances at now. Cycle times count every finished
// round of a step that waited for someone (a decision, work, a system),
// from the step's start to its end: skipped and notify steps, and rounds
// ended by cancellation or withdrawal, are left out.
func (e *Engine) Overview(ins []*Instance, now time.Time) Overview {
	o := Overview{Now: now}
	counts := map[Status]int{}
	type key struct{ flow, step string }
	durations := map[key][]time.Duration{}
	for _, in := range ins {
		counts[in.Status]++
		def, _ := e.Flow(in.Flow)
		for _, h := range in.History {
			switch h.Outcome {
			case "skipped", "notified", "cancelled", "withdrawn", "reassigned":
				continue
			}
			if h.Ended.Before(h.Started) || h.Started.IsZero() {
				continue
			}
			durations[key{in.Flow, h.Step}] = append(durations[key{in.Flow, h.Step}], h.Ended.Sub(h.Started))
		}
		if !in.Status.Open() {
			continue
		}
		st := Standing{ID: in.ID, Flow: in.Flow, Title: in.Title, Status: in.Status, Since: in.StepStarted, Requester: e.dir.Name(in.Requester)}
		if def != nil {
			st.Flow = def.Name
		}
		switch in.Status {
		case StatusRunning:
			st.Step = in.Step + " (no longer in the flow)" // until it is found below
			if def != nil {
				if s := def.Step(in.Step); s != nil {
					st.Step = s.Name
					if s.Kind == StepWebhook {
						st.Owners = []string{hostOf(s.Webhook.URL) + " (webhook)"}
					}
				}
			}
			st.Owners = waitingLabels(st.Owners, in.Tasks, e.dir.Name)
			st.Due = in.Due
			if !in.Due.IsZero() && !in.Due.After(now) {
				st.Overdue, st.Late = true, now.Sub(in.Due)
			}
		case StatusFailed: // stopped at the step it failed at: its owner (or an admin) moves it on
			st.Step = in.Step
			if s := stepOf(def, in.Step); s != nil {
				st.Step = s.Name
			}
			if def != nil && def.Owner != "" {
				st.Owners = []string{e.dir.Name(def.Owner) + " (owner)"}
			}
			st.Since = in.Failed
		default: // sent back: the requester owns the next move
			st.Owners = []string{e.dir.Name(in.Requester) + " (requester)"}
			if n := len(in.History); n > 0 {
				st.Since = in.History[n-1].Ended
			}
		}
		o.Open = append(o.Open, st)
		if st.Overdue {
			o.Overdue = append(o.Overdue, st)
		}
	}
	for _, s := range Statuses {
		o.ByStatus = append(o.ByStatus, StatusCount{Status: s, Count: counts[s]})
	}
	slices.SortStableFunc(o.Open, func(a, b Standing) int { return cmp.Or(a.Since.Compare(b.Since), cmp.Compare(a.ID, b.ID)) })
	slices.SortStableFunc(o.Overdue, func(a, b Standing) int { return cmp.Or(cmp.Compare(b.Late, a.Late), cmp.Compare(a.ID, b.ID)) })
	for k, ds := range durations {
		slices.Sort(ds)
		c := StepCycle{Flow: k.flow, Step: k.step, Count: len(ds), Median: percentile(ds, 50), P90: percentile(ds, 90)}
		if def, ok := e.Flow(k.flow); ok {
			c.Flow = def.Name
			if s := def.Step(k.step); s != nil {
				c.Step = s.Name
			}
		}
		o.Cycle = append(o.Cycle, c)
	}
	slices.SortFunc(o.Cycle, func(a, b StepCycle) int {
		return cmp.Or(strings.Compare(a.Flow, b.Flow), strings.Compare(a.Step, b.Step))
	})
	return o
}

// percentile is the nearest-rank percentile p of sorted durations.
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := (p*len(sorted) + 99) / 100 // ceil(p/100 * n)
	return sorted[max(rank, 1)-1]
}
