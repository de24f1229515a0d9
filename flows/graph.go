package flows

import (
	"cmp"
	"fmt"
	"strings"
)

// Mermaid writes the flow as a Mermaid flowchart: each step, its kind and
// assignees, its conditions (with the path taken when they are false), and
// the way back to the requester when a step rejects or asks for changes.
func (d *Definition) Mermaid() string {
	var b strings.Builder
	q := func(s string) string {
		return `"` + strings.NewReplacer(`"`, "#quot;", "\n", "<br/>", "<", "#lt;", ">", "#gt;", "#", "#35;", "`", "#96;").Replace(s) + `"`
	}
	// Node ids: s_ and the step id with - as _ (Mermaid ids do not take -),
	// made unique again where that merges two ids (a-b and a_b).
	nodes := make([]string, len(d.Steps))
	used := map[string]bool{}
	for i, s := range d.Steps {
		n := "s_" + strings.ReplaceAll(s.ID, "-", "_")
		for used[n] {
			n += "_"
		}
		used[n], nodes[i] = true, n
	}
	node := func(i int) string {
		if i >= len(d.Steps) {
			return "done"
		}
		return nodes[i]
	}
	fmt.Fprintf(&b, "flowchart TD\n")
	fmt.Fprintf(&b, "  start([%s])\n", q("start "+d.Command+"\n"+d.Name))
	approvals := false
	for i, s := range d.Steps {
		label := s.Name + "\n" + string(s.Kind)
		switch s.Kind {
		case StepApproval:
			approvals = true
			pol := string(s.Policy)
			if s.Policy == PolicyQuorum {
				pol = fmt.Sprintf("quorum %d", s.Quorum)
			}
			label += " (" + pol + ") · " + strings.Join(s.Assignees, ", ")
		case StepTask:
			label += " · " + strings.Join(s.Assignees, ", ")
		case StepNotify:
			label += " · " + strings.Join(s.To, ", ")
		case StepWebhook:
			label += " · " + hostOf(s.Webhook.URL)
		}
		switch {
		case s.Due > 0 && s.Kind == StepWebhook: // a call not answered by then fails
			label += "\ndue " + d.waitText(&s, s.Due, s.due) + ", then on_error " + cmp.Or(s.Webhook.OnError, "fail")
		case s.Due > 0:
			label += "\ndue " + d.waitText(&s, s.Due, s.due) + ", then " + string(s.OnTimeout)
		}
		for i, r := range s.Escalate {
			if r.Notify != "" {
				label += fmt.Sprintf("\nafter %s: notify %s", d.waitText(&s, r.After, s.rungSpan(i)), r.Notify)
			} else {
				label += fmt.Sprintf("\nafter %s: reassign to %s", d.waitText(&s, r.After, s.rungSpan(i)), r.Reassign)
			}
		}
		open, closing := "[", "]"
		switch s.Kind {
		case StepNotify:
			open, closing = ">", "]"
		case StepWebhook:
			open, closing = "[[", "]]"
		}
		fmt.Fprintf(&b, "  %s%s%s%s\n", node(i), open, q(label), closing)
	}
	fmt.Fprintf(&b, "  done([%s])\n", q("completed"))
	if approvals {
		fmt.Fprintf(&b, "  back([%s])\n", q("back to the requester\nedit and resubmit, or withdraw"))
	}
	// enter writes the edges that lead from `from` into step i, honouring
	// conditions: a false `when` passes over the step to the one below it
	// (its next applies only when it runs).
	seen := map[string]bool{}
	edge := func(s string) {
		if !seen[s] {
			seen[s] = true
			b.WriteString(s)
		}
	}
	var enter func(from string, label string, i int)
	enter = func(from string, label string, i int) {
		if i < len(d.Steps) && d.Steps[i].When != "" {
			edge(fmt.Sprintf("  %s -->|%s| %s\n", from, q(joinLabel(label, "if "+d.Steps[i].When)), node(i)))
			// One "otherwise" however many conditions were false before:
			// it means none of the ones above held.
			if !strings.HasSuffix(label, "otherwise") {
				label = joinLabel(label, "otherwise")
			}
			enter(from, label, i+1)
			return
		}
		if label == "" {
			edge(fmt.Sprintf("  %s --> %s\n", from, node(i)))
		} else {
			edge(fmt.Sprintf("  %s -->|%s| %s\n", from, q(label), node(i)))
		}
	}
	enter("start", "", 0)
	for i, s := range d.Steps {
		label := ""
		switch s.Kind {
		case StepApproval:
			label = "approved"
			edge(fmt.Sprintf("  %s -.->|%s| back\n", node(i), q("rejected / changes")))
			edge(fmt.Sprintf("  back -.->|%s| %s\n", q("resubmit"), node(i)))
		case StepTask:
			label = "done"
		}
		enter(node(i), label, d.successor(i))
	}
	return b.String()
}

func joinLabel(a, b string) string {
	if a == "" {
		return b
	}
	return a + ", " + b
}
