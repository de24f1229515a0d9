// Package manifests holds Baton's declarative files: the built-in example
// flow definitions and demo directory (embedded in the binary), the Slack
// and Teams app manifests, and deployment manifests. It imports nothing of
// this module.
package manifests
