package main

import (
	"bytes"
	"runtime"
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
		{"validate", "--help"}, {"version", "--help"}, {"dead", "--help"}, {"dead", "retry", "-h"}, {"help"}, {"help", "token"}, {"help", "graph"}, {"help", "--help"}, {"help", "-h"},
	} {
		var out, errOut bytes.Buffer
		code := run(t.Context(), args, env(), nil, &out, &errOut)
		if code != 0 || !strings.Contains(strings.ToLower(out.String()), "usage") || errOut.Len() != 0 {
			t.Errorf("baton %s: exit %d, stdout %q, stderr %q; want the usage on stdout and exit 0", strings.Join(args, " "), code, first(out.String()), errOut.String())
		}
	}
	for _, args := range [][]string{{"graph"}, {"audit"}, {"token"}, {"graph", "-bogus", "x"}, {"graph", "-bogus", "--help"}, {"--bogus", "--help"}, {"--bogus"}, {"healthcheck", "now"}, {"dead"}, {"dead", "retry"}, {"help", "nonsense"}} {
		var out, errOut bytes.Buffer
		code := run(t.Context(), args, env(), nil, &out, &errOut)
		if code != 2 || out.Len() != 0 || errOut.Len() == 0 {
			t.Errorf("baton %s: exit %d, stdout %q; want the mistake on stderr and exit 2", strings.Join(args, " "), code, first(out.String()))
		}
	}
}

// TestHelpCommand: baton help COMMAND is COMMAND's help, and a mistake in
// what baton token create is asked is told before Redis is looked for.
func TestHelpCommand(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		args         []string
		code         int
		out, errText string
	}{
		{[]string{"help", "token"}, 0, "usage: baton token create", ""},
		{[]string{"help", "validate"}, 0, "usage: baton validate [-directory FILE] PATH", ""},
		{[]string{"help", "nonsense"}, 2, "", `there is no command "nonsense"; the commands are validate, graph`},
		{[]string{"token", "create", "--name", "BAD", "--scope", "read"}, 2, "", `name "BAD": use lowercase letters`},
		{[]string{"token", "create", "--name", "crm", "--scope", "owner"}, 2, "", `scope "owner": use read, start or admin`},
	} {
		var out, errOut bytes.Buffer
		code := run(t.Context(), tt.args, env(), nil, &out, &errOut)
		if code != tt.code || !strings.Contains(out.String(), tt.out) || !strings.Contains(errOut.String(), tt.errText) {
			t.Errorf("baton %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(tt.args, " "), code, out.String(), errOut.String())
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

// TestMistypedCommand: a word no command is gets the nearest command
// suggested, exiting 2, before anything is looked for; so does a
// subcommand of dead.
func TestMistypedCommand(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"valdiate", "flows"}, `baton: there is no command "valdiate"; did you mean validate?`},
		{[]string{"docter"}, `did you mean doctor?`},
		{[]string{"frobnicate"}, `baton: there is no command "frobnicate" (the commands are serve, validate,`},
		{[]string{"dead", "retri", "-all"}, `baton dead: there is no subcommand "retri"; did you mean retry?`},
		{[]string{"help", "valdiate"}, `baton help: there is no command "valdiate"; did you mean validate?`},
		{[]string{""}, `baton: there is no command "" (the commands are`}, // nothing is near nothing
	} {
		var out, errOut bytes.Buffer
		code := run(t.Context(), c.args, env(), nil, &out, &errOut)
		if code != 2 || out.Len() != 0 || !strings.Contains(errOut.String(), c.want) {
			t.Errorf("baton %s: exit %d, stderr %q; want 2 saying %q", strings.Join(c.args, " "), code, errOut.String(), c.want)
		}
	}
}

// TestVersion: baton version prints the build, ending with the Go version.
func TestVersion(t *testing.T) {
	t.Parallel()
	var out, errOut bytes.Buffer
	if code := run(t.Context(), []string{"version"}, env(), nil, &out, &errOut); code != 0 || !strings.HasPrefix(out.String(), "baton ") ||
		!strings.HasSuffix(out.String(), " "+runtime.Version()+"\n") || errOut.Len() != 0 {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out.String(), errOut.String())
	}
}

// TestAuditRedisDown: a command that cannot reach Redis says what to check.
func TestAuditRedisDown(t *testing.T) {
	t.Parallel()
	var out, errOut bytes.Buffer
	code := run(t.Context(), []string{"audit", "PR-1"}, env("BATON_REDIS_URL", "redis://127.0.0.1:1/0"), nil, &out, &errOut)
	if code != 1 || !strings.Contains(errOut.String(), "check BATON_REDIS_URL (or -redis-url) and that Redis is running") {
		t.Errorf("exit %d, stderr %q", code, errOut.String())
	}
}
