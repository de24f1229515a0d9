package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/batonbot/baton/flows"
)

// The pages served beyond the console: the approval page for external
// participants (/x/), the operations dashboard (/dashboard) and the
// console's outbox mail view. They share the console's stylesheet and its
// strict Content-Security-Policy, with a template set of their own.

//go:embed pages/*.html
var pagesFS embed.FS

var pageFuncs = template.FuncMap{
	"lines": func(s string) []string { return strings.Split(s, "\n") },
	"link":  link,
	"when":  func(t time.Time) string { return flows.FormatTime(t, time.UTC) },
	"ago": func(t, now time.Time) string {
		if t.IsZero() {
			return ""
		}
		return flows.Relative(t, now)
	},
	"dur": func(d time.Duration) string { return flows.FormatDuration(d) },
	"words": func(s any) string {
		return strings.ReplaceAll(fmt.Sprint(s), "_", " ")
	},
	"join":       strings.Join,
	"plural":     func(n int64, one, many string) string { return flows.Plural(int(n), one, many) },
	"labelColon": flows.LabelColon,
}

// pageTemplates parses the pages; asset is the URL prefix of the static
// files for these pages (each handler serves them under its own path).
func pageTemplates(asset string) *template.Template {
	funcs := template.FuncMap{"asset": func(name string) string { return asset + name + "?v=" + assetVersion }}
	for k, v := range pageFuncs {
		funcs[k] = v
	}
	return template.Must(template.New("").Funcs(funcs).ParseFS(pagesFS, "pages/*.html"))
}

// renderPage renders a template in full, then sends it with the console's
// security headers. No page sends a Referer: an approval link's token is in
// its URL.
func renderPage(w http.ResponseWriter, log *slog.Logger, t *template.Template, code int, name string, data any) {
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, name, data); err != nil {
		log.Error("render page", "template", name, "err", err)
		http.Error(w, "Baton could not render this page; the error was logged.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", contentSecurityPolicy)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = buf.WriteTo(w)
}
