package flows

import (
	"fmt"
	"strings"
)

// DirectoryProblems lists what the flows name that the people directory
// does not have: a person (an owner, an assignee, an escalation or notify
// target, a scheduled or inbound requester), a group with nobody in it, a
// channel; and a quorum more than the people a step can have. Each has the
// file, line and path of where the flow names it, and the nearest name the
// directory has when one is close. Work routed to a stranger reaches
// nobody (a notice is kept aside as undeliverable; a step falls back to a
// stand-in, as a quorum too large brings stand-ins in), so start-up and
// baton doctor warn of each, and baton validate refuses them. An empty
// directory (none configured: any id goes) has none.
func (e *Engine) DirectoryProblems() []Problem {
	if e.dir.Empty() {
		return nil
	}
	var out []Problem
	var d *Definition
	add := func(path, format string, args ...any) {
		out = append(out, Problem{File: d.Source, Line: d.line(path), Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	ids := make([]string, 0, len(e.dir.people))
	for _, p := range e.dir.People() {
		ids = append(ids, p.ID)
	}
	var channels []string
	for _, c := range e.dir.Channels() {
		channels = append(channels, c.ID)
	}
	groups := e.dir.Groups()
	// Ids are short, and nearest's "about one edit in three" (plus one)
	// takes zoe for bob: a name is suggested only within one edit in three
	// (one for a short id).
	mean := func(name string, known []string) string {
		n := nearest(name, known)
		if n == "" || editDistance(strings.ToLower(name), strings.ToLower(n)) > max(1, len([]rune(name))/3) {
			return ""
		}
		return fmt.Sprintf(" (did you mean %q?)", n)
	}
	person := func(path, id string) {
		if _, ok := e.dir.Person(id); ok {
			return
		}
		if m := mean(id, ids); m != "" {
			add(path, "%q is not a person in the directory%s", id, m)
		} else {
			add(path, "%q is not a person in the directory; add them to it, or name someone who is", id)
		}
	}
	// target checks a reference as steps write them: person:ID, group:NAME,
	// channel:NAME (the rest, such as manager, requester or field:NAME, is
	// resolved per request).
	target := func(path, ref string) {
		kind, id, _ := strings.Cut(ref, ":")
		switch kind {
		case "person":
			person(path, id)
		case "group":
			if len(e.dir.Members(id)) > 0 {
				return
			}
			if m := mean(id, groups); m != "" {
				add(path, "group %q has nobody in the directory%s", id, m)
			} else {
				add(path, "group %q has nobody in the directory; give people there this group (groups: [%s]), or name another", id, id)
			}
		case "channel":
			if _, ok := e.dir.Channel(id); ok {
				return
			}
			if m := mean(id, channels); m != "" {
				add(path, "channel %q is not in the directory%s", id, m)
			} else {
				add(path, "channel %q is not in the directory; add it to the directory's channels, or name another", id)
			}
		}
	}
	for _, d = range e.order {
		person("owner", d.Owner)
		_, listed := d.keyLines["schedule[0]"]
		for i, s := range d.Schedules {
			p := fmt.Sprintf("schedule[%d]", i)
			if _, single := d.keyLines["schedule"]; single && !listed {
				p = "schedule"
			}
			person(p+".requester", s.Requester)
		}
		if d.Inbound != nil {
			person("inbound.requester", d.Inbound.Requester)
		}
		for i, s := range d.Steps {
			p := fmt.Sprintf("steps[%d]", i)
			for j, a := range s.Assignees {
				target(fmt.Sprintf("%s.assignees[%d]", p, j), a)
			}
			if s.Channel != "" {
				target(p+".channel", "channel:"+s.Channel)
			}
			for j, r := range s.Escalate {
				if r.Notify != "" {
					target(fmt.Sprintf("%s.escalate[%d].notify", p, j), r.Notify)
				} else {
					target(fmt.Sprintf("%s.escalate[%d].reassign", p, j), r.Reassign)
				}
			}
			for j, to := range s.To {
				target(fmt.Sprintf("%s.to[%d]", p, j), to)
			}
			if s.Kind != StepApproval || s.Policy != PolicyQuorum {
				continue
			}
			// (Without a group, parsing compared it with the assignees.)
			if most, groups := e.mostApprovers(d, &s); s.Quorum > most && len(groups) > 0 {
				add(p+".quorum", "quorum: %d needs %d people who may approve, and this step can have at most %d (%s in the directory); lower the quorum, or add people to the step or the group (else the requester's manager, the owner and then an admin are added to make it up)",
					s.Quorum, s.Quorum, most, JoinNames(groups))
			}
		}
	}
	// (BATON_ADMINS is the caller's to check: start-up refuses an admin the
	// directory lacks, and baton doctor fails it, rather than warn.)
	return out
}

// mostApprovers is how many people at most an approval step s of d can
// have: its groups' members, the people it names, and one for each other
// assignee (a manager, a field); and, for what it says, each group with
// its number of people.
func (e *Engine) mostApprovers(d *Definition, s *Step) (int, []string) {
	people := map[string]bool{}
	others := 0
	var groups []string
	for _, a := range s.Assignees {
		kind, id, _ := strings.Cut(a, ":")
		switch {
		case a == "requester":
			if s.AllowSelfApproval {
				others++
			}
		case a == "owner":
			people[d.Owner] = true
		case kind == "person":
			people[id] = true
		case kind == "group":
			members := e.dir.Members(id)
			for _, m := range members {
				people[m] = true
			}
			groups = append(groups, fmt.Sprintf("group %s has %s", id, Plural(len(members), "person", "people")))
		default: // manager, field:NAME, email:ADDRESS
			others++
		}
	}
	return len(people) + others, groups
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
