package main

import (
	"context"
	"slices"
	"testing"

	"github.com/batonbot/baton/bot"
	"github.com/batonbot/baton/flows"
	"github.com/batonbot/baton/manifests"
)

// reaches is a messenger reaching the people it lists.
type reaches []string

func (r reaches) Platform() string { return "fake" }
func (r reaches) Reach(to flows.Recipient) (bot.Address, bool) {
	return bot.Address{ID: to.Person}, slices.Contains(r, to.Person)
}
func (r reaches) Send(context.Context, bot.Address, *flows.Message, string) (string, error) {
	return "", nil
}
func (r reaches) Update(context.Context, string, *flows.Message) error { return nil }

// The people no platform reaches are named (start-up warns of them).
func TestUnreachable(t *testing.T) {
	t.Parallel()
	dir, err := flows.ParseDirectory("directory.yaml", manifests.Directory)
	if err != nil {
		t.Fatal(err)
	}
	var everyone []string
	for _, p := range dir.People() {
		everyone = append(everyone, p.ID)
	}
	all := slices.DeleteFunc(slices.Clone(everyone), func(id string) bool { return id == "gus" || id == "hana" })
	if got := unreachable(dir, []bot.Messenger{reaches(all[:3]), reaches(all[3:])}); !slices.Equal(got, []string{"gus", "hana"}) {
		t.Errorf("unreachable %v, want gus and hana", got)
	}
	if got := unreachable(dir, []bot.Messenger{reaches(everyone)}); len(got) != 0 {
		t.Errorf("unreachable %v, want none", got)
	}
}
