package main

import (
	"fmt"
	"io"
)

// teamsPlatform wires the Microsoft Teams adapter when Teams is configured
// (MicrosoftAppId and MicrosoftAppPassword); it returns nil otherwise.
func teamsPlatform(d platformDeps) (*platform, error) {
	return nil, nil
}

// teamsPackage builds the Teams app package (manifest.json and icons, zipped).
func teamsPackage(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "baton: teams-package is not available yet")
	return 1
}
