// Package teams holds Baton's Microsoft Teams app package: the manifest
// (manifest.json, schema v1.30) with the bot and its command list, and both
// icons (color.png 192×192, outline.png 32×32, drawn by icons_test.go). Build
// writes the zip that is uploaded to Teams. It imports only the standard
// library.
package teams

import (
	"archive/zip"
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"
)

// Files holds manifest.json and the icons.
//
//go:embed manifest.json color.png outline.png
var Files embed.FS

// Options are what differs between installations.
type Options struct {
	BotID   string // the bot's Microsoft App ID (MicrosoftAppId), required
	AppID   string // the Teams app's id; empty: the bot id
	Version string // the app's version; empty: the manifest's (raise it for each upload of a change)
}

var (
	guidRE   = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	semverRE = regexp.MustCompile(`^\d+\.\d+\.\d+$`)
)

// Manifest returns manifest.json with the options filled in.
func Manifest(o Options) ([]byte, error) {
	var errs []error
	if !guidRE.MatchString(o.BotID) {
		errs = append(errs, fmt.Errorf("bot id %q: set MicrosoftAppId (or -bot-id) to the bot's Application (client) ID, a GUID", o.BotID))
	}
	if o.AppID == "" {
		o.AppID = o.BotID
	} else if !guidRE.MatchString(o.AppID) {
		errs = append(errs, fmt.Errorf("app id %q: write a GUID", o.AppID))
	}
	if o.Version != "" && !semverRE.MatchString(o.Version) {
		errs = append(errs, fmt.Errorf("version %q: write major.minor.patch, e.g. 1.0.1", o.Version))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	src, err := Files.ReadFile("manifest.json")
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(src, &m); err != nil {
		return nil, fmt.Errorf("manifest.json: %w", err)
	}
	m["id"] = strings.ToLower(o.AppID)
	if o.Version != "" {
		m["version"] = o.Version
	}
	bots, _ := m["bots"].([]any)
	if len(bots) != 1 {
		return nil, errors.New("manifest.json: expected exactly one bot")
	}
	bots[0].(map[string]any)["botId"] = strings.ToLower(o.BotID)
	return json.MarshalIndent(m, "", "  ")
}

// Build writes the app package: a zip of manifest.json and the icons, at
// its root as Teams expects.
func Build(w io.Writer, o Options) error {
	manifest, err := Manifest(o)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	// A fixed time keeps the zip the same for the same inputs.
	stamp := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, f := range []struct {
		name string
		data []byte
	}{{"manifest.json", manifest}, {"color.png", nil}, {"outline.png", nil}} {
		data := f.data
		if data == nil {
			if data, err = Files.ReadFile(f.name); err != nil {
				return err
			}
		}
		fw, err := zw.CreateHeader(&zip.FileHeader{Name: f.name, Method: zip.Deflate, Modified: stamp})
		if err != nil {
			return err
		}
		if _, err := fw.Write(data); err != nil {
			return err
		}
	}
	if err := zw.Close(); err != nil {
		return err
	}
	_, err = w.Write(buf.Bytes())
	return err
}
