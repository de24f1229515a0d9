package manifests

import "embed"

// Flows holds the built-in example flow definitions (flows/*.yaml).
//
//go:embed flows/*.yaml
var Flows embed.FS

// Directory is the demo people directory the console uses when no directory
// is configured.
//
//go:embed directory.yaml
var Directory []byte
