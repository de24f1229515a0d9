package flows

import (
	"slices"
	"strings"
	"unicode"
)

// Verb is a chat command.
type Verb string

// The command grammar every adapter shares: "start <flow>", "tasks",
// "requests", "status <id>", "cancel <id> [reason]", "snooze <id> [for]",
// "comment <id> <text>", "delegate <id> <person> [reason]", "skip <id>
// <reason>", "retry <id>", "away [until] <date> [person]", "back", "help".
const (
	VerbStart    Verb = "start"
	VerbTasks    Verb = "tasks"
	VerbRequests Verb = "requests"
	VerbStatus   Verb = "status"
	VerbCancel   Verb = "cancel"
	VerbSnooze   Verb = "snooze"
	VerbComment  Verb = "comment"
	VerbDelegate Verb = "delegate"
	VerbSkip     Verb = "skip"
	VerbRetry    Verb = "retry"
	VerbAway     Verb = "away"
	VerbBack     Verb = "back"
	VerbHelp     Verb = "help"
)

// Command is a parsed command line.
type Command struct {
	Verb Verb
	Arg  string // flow for start, instance id for the verbs on a request (OnRequest), the last day for away
	Rest string // the reason for cancel and skip (a note for retry), how long for snooze, the text of a comment, whom to delegate to (and why), who stands in for away
	Note string // set for help when the input was not understood
}

var verbAliases = map[string]Verb{
	"start": VerbStart, "new": VerbStart, "request": VerbStart,
	"tasks": VerbTasks, "task": VerbTasks, "todo": VerbTasks, "inbox": VerbTasks,
	"requests": VerbRequests, "mine": VerbRequests, "my": VerbRequests,
	"status": VerbStatus, "show": VerbStatus,
	"cancel": VerbCancel, "withdraw": VerbCancel,
	"snooze": VerbSnooze, "remind": VerbSnooze,
	"comment": VerbComment, "delegate": VerbDelegate, "skip": VerbSkip, "retry": VerbRetry,
	"away": VerbAway, "ooo": VerbAway, "back": VerbBack,
	"help": VerbHelp, "?": VerbHelp,
}

// decisionWordsTyped are what people type to decide, which no command does.
var decisionWordsTyped = map[string]bool{"approve": true, "reject": true, "decline": true, "deny": true, "accept": true, "ok": true}

// ParseCommand parses a command line such as the text of "/baton start
// purchase". It never fails: what it cannot understand becomes help with a
// note saying why (and the nearest command for a typo).
func ParseCommand(text string) Command {
	fields := strings.FieldsFunc(text, unicode.IsSpace)
	if len(fields) > 0 && strings.EqualFold(fields[0], "/baton") { // Slack's command typed where it is not one
		fields = fields[1:]
	}
	if len(fields) == 0 {
		return Command{Verb: VerbHelp}
	}
	word := strings.ToLower(fields[0])
	verb, ok := verbAliases[word]
	if !ok && decisionWordsTyped[word] {
		return Command{Verb: VerbHelp, Note: "Decisions are made with the buttons on the task's card (they ask for a reason where one is needed); type tasks to see what waits on you."}
	}
	if !ok {
		note := "I don't know the command \"" + fields[0] + "\"."
		if s := nearest(word, []string{"start", "tasks", "requests", "status", "cancel", "snooze", "comment", "delegate", "skip", "retry", "away", "back", "help"}); s != "" {
			note += " Did you mean \"" + s + "\"?"
		}
		return Command{Verb: VerbHelp, Note: note}
	}
	c := Command{Verb: verb}
	if verb == VerbAway && len(fields) > 1 && strings.EqualFold(fields[1], "until") { // away until 2026-12-03 carol
		fields = slices.Delete(fields, 1, 2)
	}
	if len(fields) > 1 {
		c.Arg = fields[1]
		if verb.OnRequest() {
			c.Arg = strings.ToUpper(strings.Trim(c.Arg, "#"))
			// "PR 12" is PR-12: a prefix's letters, then the number.
			if len(fields) > 2 && c.Arg != "" && strings.Trim(c.Arg, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == "" && strings.Trim(fields[2], "0123456789") == "" {
				c.Arg += "-" + fields[2]
				fields = slices.Delete(fields, 2, 3)
			}
		} else {
			c.Arg = strings.ToLower(c.Arg)
		}
	}
	if len(fields) > 2 {
		c.Rest = strings.Join(fields[2:], " ")
	}
	switch {
	case verb.OnRequest() && c.Arg == "":
		return Command{Verb: VerbHelp, Note: "Say which request: " + string(verb) + " <id>, e.g. " + string(verb) + " PR-12."}
	}
	return c
}

// OnRequest reports whether the verb's argument is a request's id.
func (v Verb) OnRequest() bool {
	switch v {
	case VerbStatus, VerbCancel, VerbSnooze, VerbComment, VerbDelegate, VerbSkip, VerbRetry:
		return true
	}
	return false
}

// TakesPerson reports whether the verb names a person after its other
// arguments (delegate's, away's): an adapter keeps that one mention as the
// platform wrote it, and writes any other as a name.
func (v Verb) TakesPerson() bool { return v == VerbDelegate || v == VerbAway }

// Changes reports whether the verb changes a request or a person's state,
// rather than showing something or opening a form: done once, it must not
// be asked for again.
func (v Verb) Changes() bool {
	switch v {
	case VerbComment, VerbDelegate, VerbSkip, VerbRetry, VerbCancel, VerbSnooze, VerbAway, VerbBack:
		return true
	}
	return false
}

// RequestIDs returns the ids a request id typed without its dash ("PR3",
// "#pr3") may stand for: split after each flow prefix it starts with, and
// after its letters (a flow since removed), where what follows is a number
// as ids have it (no leading zero). An id with a dash gives only itself, and
// anything else nothing. The caller looks them up: two flows' prefixes (A,
// A1) can make "A15" A-15 or A1-5.
func (e *Engine) RequestIDs(arg string) []string {
	if strings.Contains(arg, "-") {
		return []string{arg}
	}
	var out []string
	add := func(prefix string) {
		rest, ok := strings.CutPrefix(arg, prefix)
		if ok && prefix != "" && rest != "" && rest[0] != '0' && strings.Trim(rest, "0123456789") == "" && !slices.Contains(out, prefix+"-"+rest) {
			out = append(out, prefix+"-"+rest)
		}
	}
	for _, def := range e.flows {
		add(strings.ToUpper(def.Prefix))
	}
	add(strings.TrimRight(arg, "0123456789"))
	slices.Sort(out)
	return out
}
