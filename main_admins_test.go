package main

import (
	"strings"
	"testing"

	"github.com/batonbot/baton/bot"
)

// An admin the directory does not know stops start-up, saying how to fix
// it: a typo would otherwise leave Baton without the admin it was meant to
// have.
func TestUnknownAdminStopsStartUp(t *testing.T) {
	t.Parallel()
	engine, err := loadEngine(bot.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := checkAdmins(engine, []string{"olivia"}); err != nil {
		t.Errorf("olivia, in the demo directory: %v", err)
	}
	if err := checkAdmins(engine, []string{"olivia", "olivai"}); err == nil || !strings.Contains(err.Error(), `BATON_ADMINS: "olivai" is not a person in the people directory`) {
		t.Errorf("a misspelt admin: %v", err)
	}
}
