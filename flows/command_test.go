package flows_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/batonbot/baton/flows"
)

func TestParseCommand(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want flows.Command
	}{
		{"", flows.Command{Verb: flows.VerbHelp}},
		{"   \t ", flows.Command{Verb: flows.VerbHelp}},
		{"help", flows.Command{Verb: flows.VerbHelp}},
		{"?", flows.Command{Verb: flows.VerbHelp}},
		{"HELP me", flows.Command{Verb: flows.VerbHelp, Arg: "me"}},
		{"start purchase", flows.Command{Verb: flows.VerbStart, Arg: "purchase"}},
		{"  Start   Purchase  ", flows.Command{Verb: flows.VerbStart, Arg: "purchase"}},
		{"new access", flows.Command{Verb: flows.VerbStart, Arg: "access"}},
		{"request content", flows.Command{Verb: flows.VerbStart, Arg: "content"}},
		{"start", flows.Command{Verb: flows.VerbStart}},
		{"tasks", flows.Command{Verb: flows.VerbTasks}},
		{"snooze pr-12 2h", flows.Command{Verb: flows.VerbSnooze, Arg: "PR-12", Rest: "2h"}},
		{"remind #PR 12 tomorrow", flows.Command{Verb: flows.VerbSnooze, Arg: "PR-12", Rest: "tomorrow"}},
		{"snooze PR-12", flows.Command{Verb: flows.VerbSnooze, Arg: "PR-12"}},
		{"snooze", flows.Command{Verb: flows.VerbHelp, Note: "Say which request: snooze <id>, e.g. snooze PR-12."}},
		{"snoze PR-1", flows.Command{Verb: flows.VerbHelp, Note: "I don't know the command \"snoze\". Did you mean \"snooze\"?"}},
		{"away until 2026-12-24 Carol", flows.Command{Verb: flows.VerbAway, Arg: "2026-12-24", Rest: "Carol"}},
		{"ooo 2026-12-24", flows.Command{Verb: flows.VerbAway, Arg: "2026-12-24"}},
		{"away", flows.Command{Verb: flows.VerbAway}},
		{"back", flows.Command{Verb: flows.VerbBack}},
		{"/baton tasks", flows.Command{Verb: flows.VerbTasks}},
		{"/Baton", flows.Command{Verb: flows.VerbHelp}},
		{"task", flows.Command{Verb: flows.VerbTasks}},
		{"todo", flows.Command{Verb: flows.VerbTasks}},
		{"inbox", flows.Command{Verb: flows.VerbTasks}},
		{"requests", flows.Command{Verb: flows.VerbRequests}},
		{"mine", flows.Command{Verb: flows.VerbRequests}},
		{"my requests", flows.Command{Verb: flows.VerbRequests, Arg: "requests"}},
		{"status pr-12", flows.Command{Verb: flows.VerbStatus, Arg: "PR-12"}},
		{"show #PR-12", flows.Command{Verb: flows.VerbStatus, Arg: "PR-12"}},
		{"status pr 12", flows.Command{Verb: flows.VerbStatus, Arg: "PR-12"}},
		{"cancel PR 3 bought it", flows.Command{Verb: flows.VerbCancel, Arg: "PR-3", Rest: "bought it"}},
		{"cancel PR3 5 too many", flows.Command{Verb: flows.VerbCancel, Arg: "PR3", Rest: "5 too many"}},
		{"status", flows.Command{Verb: flows.VerbHelp, Note: "Say which request: status <id>, e.g. status PR-12."}},
		{"cancel PR-3 bought   it\telsewhere", flows.Command{Verb: flows.VerbCancel, Arg: "PR-3", Rest: "bought it elsewhere"}},
		{"withdraw pr-3", flows.Command{Verb: flows.VerbCancel, Arg: "PR-3"}},
		{"cancel", flows.Command{Verb: flows.VerbHelp, Note: "Say which request: cancel <id>, e.g. cancel PR-12."}},
		{"strat purchase", flows.Command{Verb: flows.VerbHelp, Note: `I don't know the command "strat". Did you mean "start"?`}},
		{"stauts PR-1", flows.Command{Verb: flows.VerbHelp, Note: `I don't know the command "stauts". Did you mean "status"?`}},
		{"Taks", flows.Command{Verb: flows.VerbHelp, Note: `I don't know the command "Taks". Did you mean "tasks"?`}},
		{"approve everything", flows.Command{Verb: flows.VerbHelp, Note: "Decisions are made with the buttons on the task's card (they ask for a reason where one is needed); type tasks to see what waits on you."}},
		{"frobnicate", flows.Command{Verb: flows.VerbHelp, Note: `I don't know the command "frobnicate".`}},
		{"cancel #cr-12 dup", flows.Command{Verb: flows.VerbCancel, Arg: "CR-12", Rest: "dup"}},
		{"\u00a0start\u2003purchase", flows.Command{Verb: flows.VerbStart, Arg: "purchase"}},
	}
	for _, tt := range tests {
		if got := flows.ParseCommand(tt.in); got != tt.want {
			t.Errorf("ParseCommand(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

// TestRequestIDs: an id typed without its dash may stand for a split
// after each flow prefix it starts with, or after its letters (a flow since
// removed), where a number as ids have it follows.
func TestRequestIDs(t *testing.T) {
	e := newEngine(t, strings.Replace(buyFlow, "prefix: BUY", "prefix: A", 1), strings.NewReplacer("id: buy", "id: buy2", "prefix: BUY", "prefix: A1").Replace(buyFlow))
	for in, want := range map[string][]string{
		"A15": {"A-15", "A1-5"}, "A10": {"A-10"}, "A105": {"A-105"}, "A7": {"A-7"}, "A-15": {"A-15"},
		"PR3": {"PR-3"}, "A": nil, "AX": nil, "A1": {"A-1"}, "A01": nil,
	} {
		if got := e.RequestIDs(in); !slices.Equal(got, want) {
			t.Errorf("RequestIDs(%q) = %q, want %q", in, got, want)
		}
	}
}
