package flows

import (
	"fmt"
	"strings"
)

// Strangers lists what the flows name that the people directory does not
// have: a person (an owner, an assignee, an escalation or notify target, a
// scheduled or inbound requester), a group
// with nobody in it, a channel. Work routed to one reaches nobody (a
// notice is kept aside as undeliverable; a step falls back to a stand-in),
// so start-up and baton doctor warn of each. An empty directory (none
// configured: any id goes) has no strangers.
func (e *Engine) Strangers() []string {
	if e.dir.Empty() {
		return nil
	}
	var out []string
	person := func(where, id string) {
		if _, ok := e.dir.Person(id); !ok {
			out = append(out, fmt.Sprintf("%s: %q is not a person in the directory", where, id))
		}
	}
	// target checks a reference as steps write them: person:ID, group:NAME,
	// channel:NAME (the rest, such as manager, requester or field:NAME, is
	// resolved per request).
	target := func(where, ref string) {
		kind, id, _ := strings.Cut(ref, ":")
		switch kind {
		case "person":
			person(where, id)
		case "group":
			if len(e.dir.Members(id)) == 0 {
				out = append(out, fmt.Sprintf("%s: group %q has nobody in the directory", where, id))
			}
		case "channel":
			if _, ok := e.dir.Channel(id); !ok {
				out = append(out, fmt.Sprintf("%s: channel %q is not in the directory", where, id))
			}
		}
	}
	for _, d := range e.order {
		flow := "flow " + d.ID
		person(flow+" owner", d.Owner)
		for i, s := range d.Schedules {
			person(fmt.Sprintf("%s schedule[%d] requester", flow, i), s.Requester)
		}
		if d.Inbound != nil {
			person(flow+" inbound requester", d.Inbound.Requester)
		}
		for _, s := range d.Steps {
			step := flow + " step " + s.ID
			for _, a := range s.Assignees {
				target(step+" assignees", a)
			}
			if s.Channel != "" {
				target(step+" channel", "channel:"+s.Channel)
			}
			for i, r := range s.Escalate {
				for _, ref := range []string{r.Notify, r.Reassign} {
					target(fmt.Sprintf("%s escalate[%d]", step, i), ref)
				}
			}
			for _, to := range s.To {
				target(step+" to", to)
			}
		}
	}
	// (BATON_ADMINS is the caller's to check: start-up refuses an admin the
	// directory lacks, and baton doctor fails it, rather than warn.)
	return out
}

// ScheduleProblems checks each schedule's data as its starts will be
// checked: against the directory, and for its requester (who may not be
// named as their own approver). Parsing checked it against the form alone.
// Each problem means every scheduled start of it would be refused: start-up
// and baton doctor warn of them, baton validate refuses them.
func (e *Engine) ScheduleProblems() []string {
	var out []string
	for _, d := range e.order {
		for i, s := range d.Schedules {
			if _, err := e.ParseForm(d, s.Requester, s.Data); err != nil {
				out = append(out, fmt.Sprintf("%s: schedule[%d].data: %v; every scheduled start would be refused", d.Source, i, err))
			}
		}
	}
	return out
}
