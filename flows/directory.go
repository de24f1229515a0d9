package flows

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// Person is one entry of the people directory.
type Person struct {
	ID       string   `yaml:"id" json:"id"`
	Name     string   `yaml:"name" json:"name,omitempty"`
	Email    string   `yaml:"email" json:"email,omitempty"`
	Slack    string   `yaml:"slack" json:"slack,omitempty"` // Slack user id (U…)
	Teams    string   `yaml:"teams" json:"teams,omitempty"` // Teams user id (29:…) or Entra object id
	Manager  string   `yaml:"manager" json:"manager,omitempty"`
	Timezone string   `yaml:"timezone" json:"timezone,omitempty"` // IANA name, e.g. Europe/Paris
	Groups   []string `yaml:"groups" json:"groups,omitempty"`
	Backup   string   `yaml:"backup" json:"backup,omitempty"` // who stands in when they are away (before their manager)
}

// Channel is a named place to post, with its id on each platform.
type Channel struct {
	ID    string `yaml:"id" json:"id"`
	Name  string `yaml:"name" json:"name,omitempty"`
	Slack string `yaml:"slack" json:"slack,omitempty"` // Slack channel id (C…)
	Teams string `yaml:"teams" json:"teams,omitempty"` // Teams conversation id (19:…)
}

type rawDirectory struct {
	People       []Person         `yaml:"people"`
	Channels     []Channel        `yaml:"channels"`
	WorkingHours *rawWorkingHours `yaml:"working_hours"`
}

// Directory maps people to their chat identities, managers, timezones and
// groups. It is immutable once built and safe for concurrent use. People who
// are not in it still work as themselves (under their platform-qualified id,
// e.g. slack:U123), with no manager and UTC as their timezone.
type Directory struct {
	people   map[string]*Person
	byIdent  map[string]string // "slack:U123" / "teams:29:…" / "email:a@b" -> person id
	groups   map[string][]string
	channels map[string]*Channel
	locs     map[string]*time.Location
	hours    *WorkingHours // nil: none set
}

// ParseDirectory parses and validates a people directory file.
func ParseDirectory(file string, src []byte) (*Directory, error) {
	var raw rawDirectory
	src = bytes.TrimPrefix(src, utf8BOM)
	// Read as flows are: every unknown key and value of the wrong type in
	// one run, with its line, path and a "did you mean".
	v := newValidator(file, reflect.TypeFor[rawDirectory]())
	f, err := parser.ParseBytes(src, 0)
	if err != nil {
		v.yamlError(err, nil)
		return nil, v.err()
	}
	docs := slices.DeleteFunc(slices.Clone(f.Docs), func(d *ast.DocumentNode) bool { return d.Body == nil })
	if len(docs) > 1 {
		v.add("", "the file holds %d YAML documents (split by ---); put everyone in one, as Baton reads only a single document", len(docs))
		return nil, v.err()
	}
	if len(docs) == 1 {
		body := docs[0].Body
		ast.Walk(v, body)
		if !v.tagsHaveValues() {
			return nil, v.err()
		}
		if _, ok := v.decode(body, func() any { raw = rawDirectory{}; return &raw }); !ok || len(v.problems) > 0 {
			return nil, v.err()
		}
	}
	d, err := NewDirectory(raw.People, raw.Channels)
	var hours *WorkingHours
	if raw.WorkingHours != nil {
		var herr error
		if hours, herr = parseWorkingHours(raw.WorkingHours); herr != nil {
			err = errors.Join(err, herr)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	d.hours = hours
	return d, nil
}

// NewDirectory builds a directory, checking ids are unique, managers exist,
// management chains have no cycles and timezones are known.
func NewDirectory(people []Person, channels []Channel) (*Directory, error) {
	d := &Directory{people: map[string]*Person{}, byIdent: map[string]string{}, groups: map[string][]string{},
		channels: map[string]*Channel{}, locs: map[string]*time.Location{}}
	var errs []error
	for i := range people {
		p := people[i]
		switch {
		case p.ID == "" || strings.ContainsAny(p.ID, " \t\n,:"):
			errs = append(errs, fmt.Errorf("people[%d]: id %q must be one word without ':' (e.g. alice)", i, p.ID))
			continue
		case d.people[p.ID] != nil:
			errs = append(errs, fmt.Errorf("people[%d]: id %q appears twice", i, p.ID))
			continue
		}
		if p.Timezone != "" {
			loc, err := time.LoadLocation(p.Timezone)
			if err != nil {
				errs = append(errs, fmt.Errorf("person %s: timezone %q is unknown; use an IANA name like Europe/Paris", p.ID, p.Timezone))
			}
			d.locs[p.ID] = loc
		}
		d.people[p.ID] = &p
		for _, id := range []string{"slack:" + p.Slack, "teams:" + p.Teams, "email:" + strings.ToLower(p.Email)} {
			if strings.HasSuffix(id, ":") {
				continue
			}
			if other, dup := d.byIdent[id]; dup {
				errs = append(errs, fmt.Errorf("person %s: %s is also %s's", p.ID, id, other))
			}
			d.byIdent[id] = p.ID
		}
		for _, g := range p.Groups {
			d.groups[g] = append(d.groups[g], p.ID)
		}
	}
	for _, p := range d.people {
		for _, ref := range []struct{ what, id string }{{"manager", p.Manager}, {"backup", p.Backup}} {
			switch {
			case ref.id == p.ID && ref.what == "backup": // as their own manager, the chain below says so
				errs = append(errs, fmt.Errorf("person %s: backup is %s themselves; name someone else, or leave backup out", p.ID, p.ID))
			case ref.id != "" && d.people[ref.id] == nil:
				errs = append(errs, fmt.Errorf("person %s: %s %q is not in the directory", p.ID, ref.what, ref.id))
			}
		}
		seen := map[string]bool{p.ID: true}
		chain := []string{p.ID}
		for m := p.Manager; m != "" && d.people[m] != nil; m = d.people[m].Manager {
			chain = append(chain, m)
			if seen[m] {
				errs = append(errs, fmt.Errorf("person %s: the management chain loops back to %s (%s); change one of these managers",
					p.ID, m, strings.Join(chain, " → ")))
				break
			}
			seen[m] = true
		}
	}
	for i := range channels {
		c := channels[i]
		if c.ID == "" || d.channels[c.ID] != nil {
			errs = append(errs, fmt.Errorf("channels[%d]: id %q is empty or appears twice", i, c.ID))
			continue
		}
		d.channels[c.ID] = &c
	}
	for g := range d.groups {
		slices.Sort(d.groups[g])
	}
	slices.SortFunc(errs, func(a, b error) int { return cmp.Compare(a.Error(), b.Error()) })
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return d, nil
}

// Person returns the directory entry for id.
func (d *Directory) Person(id string) (Person, bool) {
	if d == nil || d.people[id] == nil {
		return Person{}, false
	}
	return *d.people[id], true
}

// Empty reports whether the directory knows nobody.
func (d *Directory) Empty() bool { return d == nil || len(d.people) == 0 }

// Find returns the id of the person whose id is s, in any case; "" if
// nobody (or more than one person) has it.
func (d *Directory) Find(s string) string {
	if _, ok := d.Person(s); ok {
		return s
	}
	if d == nil {
		return ""
	}
	found := ""
	for id := range d.people { // in no order: two matches give ""
		if strings.EqualFold(id, s) {
			if found != "" {
				return ""
			}
			found = id
		}
	}
	return found
}

// People returns every person, sorted by id.
func (d *Directory) People() []Person {
	if d == nil {
		return nil
	}
	out := make([]Person, 0, len(d.people))
	for _, p := range d.people {
		out = append(out, *p)
	}
	slices.SortFunc(out, func(a, b Person) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// Name is the display name of a person (their id if unknown; an external
// participant, email:ADDRESS, is "ADDRESS (external)"). System, the actor
// of what Baton does by itself, is "Baton", as people see it written (the
// audit trail keeps the id).
func (d *Directory) Name(id string) string {
	if id == System {
		return "Baton"
	}
	if ch, ok := strings.CutPrefix(id, "#"); ok { // a channel, as records keep it ("#vendors")
		if c, ok := d.Channel(ch); ok && c.Name != "" {
			return c.Name
		}
		return id
	}
	if p, ok := d.Person(id); ok && p.Name != "" {
		return p.Name
	}
	if addr, ok := ExternalEmail(id); ok {
		return addr + " (external)"
	}
	return id
}

// Manager returns id's manager, or "".
func (d *Directory) Manager(id string) string {
	p, _ := d.Person(id)
	return p.Manager
}

// Backup returns id's backup, or "".
func (d *Directory) Backup(id string) string {
	p, _ := d.Person(id)
	return p.Backup
}

// Groups returns the name of every group someone is in, sorted.
func (d *Directory) Groups() []string {
	if d == nil {
		return nil
	}
	return slices.Sorted(maps.Keys(d.groups))
}

// Members returns the people in group g, sorted.
func (d *Directory) Members(g string) []string {
	if d == nil {
		return nil
	}
	return slices.Clone(d.groups[g])
}

// Location is the person's timezone: their own, else the working hours'
// (the timezone of channels and of people without one), else UTC.
func (d *Directory) Location(id string) *time.Location {
	if d != nil {
		if l := d.locs[id]; l != nil {
			return l
		}
		if d.hours != nil {
			return d.hours.Location
		}
	}
	return time.UTC
}

// WorkingHours returns the directory's working hours, or nil if it sets none.
func (d *Directory) WorkingHours() *WorkingHours {
	if d == nil {
		return nil
	}
	return d.hours
}

// WithWorkingHours returns a copy of the directory with working hours w
// (nil: none).
func (d *Directory) WithWorkingHours(w *WorkingHours) *Directory {
	c := *d
	c.hours = w
	return &c
}

// Resolve maps a platform identity to a person id: platform is "slack",
// "teams" or "email". People not in the directory are "platform:id".
func (d *Directory) Resolve(platform, id string) string {
	if platform == "email" {
		id = strings.ToLower(id)
	}
	key := platform + ":" + id
	if d != nil {
		if pid, ok := d.byIdent[key]; ok {
			return pid
		}
	}
	return key
}

// Identity returns the person's id on a platform ("slack", "teams",
// "email"), or "". For people outside the directory it unpacks the
// platform-qualified id.
func (d *Directory) Identity(person, platform string) string {
	if p, ok := d.Person(person); ok {
		switch platform {
		case "slack":
			return p.Slack
		case "teams":
			return p.Teams
		case "email":
			return p.Email
		}
		return ""
	}
	if rest, ok := strings.CutPrefix(person, platform+":"); ok {
		return rest
	}
	return ""
}

// Channel returns the channel with id.
func (d *Directory) Channel(id string) (Channel, bool) {
	if d == nil || d.channels[id] == nil {
		return Channel{}, false
	}
	return *d.channels[id], true
}

// Channels returns every channel, sorted by id.
func (d *Directory) Channels() []Channel {
	if d == nil {
		return nil
	}
	out := make([]Channel, 0, len(d.channels))
	for _, c := range d.channels {
		out = append(out, *c)
	}
	slices.SortFunc(out, func(a, b Channel) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// LooksLikeDirectory reports whether src reads as a people directory rather
// than a flow: a mapping with people and no steps (baton validate checks
// such a file as the directory it is).
func LooksLikeDirectory(src []byte) bool {
	f, _, err := parseYAML(src)
	if err != nil || f == nil || len(f.Docs) != 1 {
		return false
	}
	m, ok := f.Docs[0].Body.(*ast.MappingNode)
	if !ok {
		return false
	}
	people, steps := false, false
	for _, mv := range m.Values {
		switch mv.Key.String() {
		case "people":
			people = true
		case "steps":
			steps = true
		}
	}
	return people && !steps
}
