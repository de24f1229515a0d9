package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestHelp: every command's --help prints its usage on standard output
// (so `baton graph --help | less` works) and exits 0; a mistake prints it
// on standard error and exits 2.
func TestHelp(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"--help"}, {"-h"}, {"serve", "--help"}, {"graph", "--help"}, {"audit", "-h"}, {"token", "--help"},
		{"token", "create", "--help"}, {"doctor", "--help"}, {"teams-package", "--help"}, {"healthcheck", "--help"},
		{"validate", "--help"}, {"dead", "--help"}, {"dead", "retry", "-h"}, {"help"},
	} {
		var out, errOut bytes.Buffer
		code := run(t.Context(), args, env(), nil, &out, &errOut)
		if code != 0 || !strings.Contains(strings.ToLower(out.String()), "usage") || errOut.Len() != 0 {
			t.Errorf("baton %s: exit %d, stdout %q, stderr %q; want the usage on stdout and exit 0", strings.Join(args, " "), code, first(out.String()), errOut.String())
		}
	}
	for _, args := range [][]string{{"graph"}, {"audit"}, {"token"}, {"graph", "-bogus", "x"}, {"graph", "-bogus", "--help"}, {"--bogus", "--help"}, {"--bogus"}, {"healthcheck", "now"}, {"dead"}, {"dead", "retry"}} {
		var out, errOut bytes.Buffer
		code := run(t.Context(), args, env(), nil, &out, &errOut)
		if code != 2 || out.Len() != 0 || errOut.Len() == 0 {
			t.Errorf("baton %s: exit %d, stdout %q; want the mistake on stderr and exit 2", strings.Join(args, " "), code, first(out.String()))
		}
	}
}

// TestDoctorHelpSaysWhatItDoes: doctor takes the server's flags, but its
// help first says what doctor does.
func TestDoctorHelpSaysWhatItDoes(t *testing.T) {
	t.Parallel()
	var out, errOut bytes.Buffer
	if code := run(t.Context(), []string{"doctor", "--help"}, env(), nil, &out, &errOut); code != 0 || !strings.HasPrefix(out.String(), "usage: baton doctor") {
		t.Errorf("baton doctor --help: exit %d, first line %q", code, first(out.String()))
	}
}

func first(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// TestHelpHidesRedisPassword: the usage does not print BATON_REDIS_URL as
// a default, as it may hold a password.
func TestHelpHidesRedisPassword(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--help"}, {"audit", "-h"}, {"token", "create", "--help"}, {"dead", "--help"}, {"doctor", "--help"}, {"dead", "-bogus"}} {
		var out, errOut bytes.Buffer
		run(t.Context(), args, env("BATON_REDIS_URL", "redis://:s3cret@127.0.0.1:1/0"), nil, &out, &errOut)
		if all := out.String() + errOut.String(); strings.Contains(all, "s3cret") || !strings.Contains(all, "redis-url") {
			t.Errorf("baton %s printed the Redis password, or no -redis-url:\n%s", strings.Join(args, " "), all)
		}
	}
}
