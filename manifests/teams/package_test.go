package teams

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"image"
	"image/png"
	"io"
	"strings"
	"testing"
	"unicode/utf8"
)

const botID = "5f0e1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"

// manifest is the part of the Teams app manifest schema the package must get right.
type manifest struct {
	Schema          string `json:"$schema"`
	ManifestVersion string `json:"manifestVersion"`
	Version         string `json:"version"`
	ID              string `json:"id"`
	Developer       struct {
		Name, WebsiteURL, PrivacyURL, TermsOfUseURL string
	} `json:"developer"`
	Name        struct{ Short, Full string }    `json:"name"`
	Description struct{ Short, Full string }    `json:"description"`
	Icons       struct{ Color, Outline string } `json:"icons"`
	AccentColor string                          `json:"accentColor"`
	Bots        []struct {
		BotID        string   `json:"botId"`
		Scopes       []string `json:"scopes"`
		CommandLists []struct {
			Scopes   []string                              `json:"scopes"`
			Commands []struct{ Title, Description string } `json:"commands"`
		} `json:"commandLists"`
	} `json:"bots"`
}

func TestPackage(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := Build(&buf, Options{BotID: botID, Version: "1.2.3"}); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		files[f.Name], _ = io.ReadAll(rc)
		rc.Close()
	}
	if len(files) != 3 || files["manifest.json"] == nil || files["color.png"] == nil || files["outline.png"] == nil {
		t.Fatalf("package holds %d files, want manifest.json, color.png and outline.png at the root", len(files))
	}
	var m manifest
	if err := json.Unmarshal(files["manifest.json"], &m); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(m.Schema, "/v"+m.ManifestVersion+"/MicrosoftTeams.schema.json") {
		t.Errorf("$schema %q does not match manifestVersion %q", m.Schema, m.ManifestVersion)
	}
	if m.ID != botID || m.Version != "1.2.3" || len(m.Bots) != 1 || m.Bots[0].BotID != botID {
		t.Errorf("id %q, version %q, bots %+v: options not applied", m.ID, m.Version, m.Bots)
	}
	// The schema's length limits.
	for _, l := range []struct {
		what string
		s    string
		max  int
	}{{"name.short", m.Name.Short, 30}, {"name.full", m.Name.Full, 100}, {"description.short", m.Description.Short, 80},
		{"description.full", m.Description.Full, 4000}, {"developer.name", m.Developer.Name, 32}} {
		if n := utf8.RuneCountInString(l.s); n == 0 || n > l.max {
			t.Errorf("%s has %d characters, want 1..%d", l.what, n, l.max)
		}
	}
	for _, u := range []string{m.Developer.WebsiteURL, m.Developer.PrivacyURL, m.Developer.TermsOfUseURL} {
		if !strings.HasPrefix(u, "https://") {
			t.Errorf("developer URL %q must be https", u)
		}
	}
	// The commands a menu offers, within the limits: ten per menu (the
	// manifest schemas before 1.22; delegate, skip and retry, for fewer
	// people, are left to help).
	want := []string{"start", "tasks", "requests", "status", "cancel", "snooze", "comment", "away", "back", "help"}
	lists := m.Bots[0].CommandLists
	if len(lists) != 1 || len(lists[0].Commands) != len(want) {
		t.Fatalf("command lists %+v", lists)
	}
	for i, c := range lists[0].Commands {
		if c.Title != want[i] || len(c.Title) > 32 || c.Description == "" || utf8.RuneCountInString(c.Description) > 128 {
			t.Errorf("command %d: %+v", i, c)
		}
	}
	// Icons: color 192×192, outline 32×32 white on transparency.
	for name, size := range map[string]int{m.Icons.Color: 192, m.Icons.Outline: 32} {
		img, err := png.Decode(bytes.NewReader(files[name]))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if img.Bounds() != image.Rect(0, 0, size, size) {
			t.Errorf("%s is %v, want %d×%d", name, img.Bounds(), size, size)
		}
	}
	outline, _ := png.Decode(bytes.NewReader(files[m.Icons.Outline]))
	transparent := 0
	for y := range 32 {
		for x := range 32 {
			r, g, b, a := outline.At(x, y).RGBA()
			if a == 0 {
				transparent++
			} else if r*0xffff/a < 0xf000 || g*0xffff/a < 0xf000 || b*0xffff/a < 0xf000 {
				t.Fatalf("outline.png (%d,%d) is not white", x, y)
			}
		}
	}
	if transparent < 32*32/2 {
		t.Errorf("outline.png has %d transparent pixels: it should be a white outline on transparency", transparent)
	}
}

func TestPackageRefusesBadOptions(t *testing.T) {
	t.Parallel()
	for _, o := range []Options{{}, {BotID: "not-a-guid"}, {BotID: botID, AppID: "x"}, {BotID: botID, Version: "1.0"}} {
		if err := Build(io.Discard, o); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
}
