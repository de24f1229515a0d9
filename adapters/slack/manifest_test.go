package slack

import (
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
)

// TestManifestMatchesCode: the app manifest declares the slash command,
// request URLs, events and scopes the adapter serves and uses, no more.
func TestManifestMatchesCode(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("../../manifests/slack/app-manifest.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Features struct {
			AppHome struct {
				Home     bool `yaml:"home_tab_enabled"`
				Messages bool `yaml:"messages_tab_enabled"`
				ReadOnly bool `yaml:"messages_tab_read_only_enabled"`
			} `yaml:"app_home"`
			Commands []struct {
				Command     string `yaml:"command"`
				URL         string `yaml:"url"`
				Description string `yaml:"description"`
				Escape      bool   `yaml:"should_escape"`
			} `yaml:"slash_commands"`
		} `yaml:"features"`
		OAuth struct {
			Scopes struct {
				Bot []string `yaml:"bot"`
			} `yaml:"scopes"`
		} `yaml:"oauth_config"`
		Settings struct {
			Events struct {
				URL       string   `yaml:"request_url"`
				BotEvents []string `yaml:"bot_events"`
			} `yaml:"event_subscriptions"`
			Interactivity struct {
				Enabled bool   `yaml:"is_enabled"`
				URL     string `yaml:"request_url"`
			} `yaml:"interactivity"`
			SocketMode *bool `yaml:"socket_mode_enabled"`
		} `yaml:"settings"`
	}
	if err := yaml.Unmarshal(src, &m); err != nil {
		t.Fatal(err)
	}
	path := func(u string) string {
		p, err := url.Parse(u)
		if err != nil || p.Scheme != "https" {
			t.Errorf("request URL %q is not https", u)
			return ""
		}
		return p.Path
	}
	// Escaped, a person picked from Slack's list arrives as <@U…|name>,
	// which names them whatever their display name (commandText).
	if len(m.Features.Commands) != 1 || m.Features.Commands[0].Command != Command || path(m.Features.Commands[0].URL) != PathCommands || !m.Features.Commands[0].Escape {
		t.Errorf("slash commands %+v, want %s at %s", m.Features.Commands, Command, PathCommands)
	}
	if path(m.Settings.Events.URL) != PathEvents || !slices.Equal(m.Settings.Events.BotEvents, Events) {
		t.Errorf("events %s %v, want %s %v", m.Settings.Events.URL, m.Settings.Events.BotEvents, PathEvents, Events)
	}
	if !m.Settings.Interactivity.Enabled || path(m.Settings.Interactivity.URL) != PathInteractions {
		t.Errorf("interactivity %+v, want enabled at %s", m.Settings.Interactivity, PathInteractions)
	}
	scopes := slices.Sorted(slices.Values(m.OAuth.Scopes.Bot))
	if !slices.Equal(scopes, Scopes) {
		t.Errorf("bot scopes %v, want exactly %v", scopes, Scopes)
	}
	if !m.Features.AppHome.Home || m.Settings.SocketMode == nil {
		t.Errorf("the App Home must be on and socket_mode_enabled present (the switch): %+v", m)
	}
	// Every route the adapter serves is in the manifest.
	h := newHarness(t)
	// The opt-in for replies in a card's thread: named in the comments,
	// not asked for by default.
	for _, name := range slices.Concat(ThreadEvents, ThreadScopes) {
		if !strings.Contains(comments(string(src)), " "+name+" ") {
			t.Errorf("the manifest's comments do not say to add %s for replies in a card's thread", name)
		}
		if slices.Contains(m.Settings.Events.BotEvents, name) || slices.Contains(scopes, name) {
			t.Errorf("%s is asked for by default; it is the opt-in for replies in threads", name)
		}
	}
	for pattern := range h.a.Routes() {
		route := strings.TrimPrefix(pattern, "POST ")
		if !strings.Contains(string(src), "https://baton.example.com"+route) {
			t.Errorf("route %s is not in the manifest", route)
		}
	}
}

// comments returns the comment lines of a YAML file, joined by spaces.
func comments(src string) string {
	var b strings.Builder
	for line := range strings.Lines(src) {
		if c, ok := strings.CutPrefix(strings.TrimSpace(line), "#"); ok {
			b.WriteString(" " + strings.TrimSpace(c) + " ")
		}
	}
	return b.String()
}
