package flows

import (
	"strings"
	"unicode"
)

// Verb is a chat command.
type Verb string

// The command grammar every adapter shares: "start <flow>", "tasks",
// "requests", "status <id>", "cancel <id> [reason]", "help".
const (
	VerbStart    Verb = "start"
	VerbTasks    Verb = "tasks"
	VerbRequests Verb = "requests"
	VerbStatus   Verb = "status"
	VerbCancel   Verb = "cancel"
	VerbHelp     Verb = "help"
)

// Command is a parsed command line.
type Command struct {
	Verb Verb
	Arg  string // flow for start, instance id for status and cancel
	Rest string // the reason for cancel
	Note string // set for help when the input was not understood
}

var verbAliases = map[string]Verb{
	"start": VerbStart, "new": VerbStart, "request": VerbStart,
	"tasks": VerbTasks, "task": VerbTasks, "todo": VerbTasks, "inbox": VerbTasks,
	"requests": VerbRequests, "mine": VerbRequests, "my": VerbRequests,
	"status": VerbStatus, "show": VerbStatus,
	"cancel": VerbCancel, "withdraw": VerbCancel,
	"help": VerbHelp, "?": VerbHelp,
}

// decisionWordsTyped are what people type to decide, which no command does.
var decisionWordsTyped = map[string]bool{"approve": true, "reject": true, "decline": true, "deny": true, "accept": true, "ok": true}

// ParseCommand parses a command line such as the text of "/baton start
// purchase". It never fails: what it cannot understand becomes help with a
// note saying why (and the nearest command for a typo).
func ParseCommand(text string) Command {
	fields := strings.FieldsFunc(text, unicode.IsSpace)
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
		if s := nearest(word, []string{"start", "tasks", "requests", "status", "cancel", "help"}); s != "" {
			note += " Did you mean \"" + s + "\"?"
		}
		return Command{Verb: VerbHelp, Note: note}
	}
	c := Command{Verb: verb}
	if len(fields) > 1 {
		c.Arg = fields[1]
		if verb == VerbStatus || verb == VerbCancel {
			c.Arg = strings.ToUpper(strings.Trim(c.Arg, "#"))
		} else {
			c.Arg = strings.ToLower(c.Arg)
		}
	}
	if len(fields) > 2 {
		c.Rest = strings.Join(fields[2:], " ")
	}
	switch {
	case (verb == VerbStatus || verb == VerbCancel) && c.Arg == "":
		return Command{Verb: VerbHelp, Note: "Say which request: " + string(verb) + " <id>, e.g. " + string(verb) + " PR-12."}
	}
	return c
}

// RequestID reads a request id typed without its dash ("PR3", "#pr3") as
// the id it names (PR-3): when its letters are a flow's prefix, the longest
// one (prefixes may end in digits: A1-5 is not A-15 where A1 is a prefix).
// Anything else is returned as it is.
func (e *Engine) RequestID(arg string) string {
	if strings.Contains(arg, "-") {
		return arg
	}
	best := ""
	for _, def := range e.flows {
		p := strings.ToUpper(def.Prefix)
		rest, ok := strings.CutPrefix(arg, p)
		if ok && p != "" && rest != "" && strings.Trim(rest, "0123456789") == "" && len(p) > len(best) {
			best = p
		}
	}
	if best == "" {
		return arg
	}
	return best + "-" + strings.TrimPrefix(arg, best)
}
