package flows

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// WorkingHours is when people work: some days of the week, the same hours
// on each (in each person's own timezone), but for holidays. A flow that
// sets working_hours: true counts its people's due times, reminders and
// escalations in working time only, so that nobody is reminded at night
// and nothing escalates over a weekend. Hand-written: the Go libraries for
// business hours count one timezone's calendar, and a step here waits on
// people in several.
type WorkingHours struct {
	Days       []time.Weekday
	Start, End time.Duration   // since midnight, local time: 09:00-17:00 is 9 h and 17 h
	Holidays   map[string]bool // "2006-01-02": no one works that day (each in their own timezone)
	Location   *time.Location  // the timezone of people without one, and of channels
}

type rawWorkingHours struct {
	Days     []string `yaml:"days"`
	Hours    string   `yaml:"hours"`
	Holidays []string `yaml:"holidays"`
	Timezone string   `yaml:"timezone"`
}

// standardHours are the working hours of a directory that sets none: every
// default of working_hours (Monday to Friday, 09:00-17:00, UTC).
var standardHours = func() WorkingHours {
	w, err := parseWorkingHours(&rawWorkingHours{})
	if err != nil {
		panic(err)
	}
	return *w
}()

var weekdays = map[string]time.Weekday{"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday,
	"wed": time.Wednesday, "thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday}

// parseWorkingHours checks and builds the directory's working_hours.
func parseWorkingHours(r *rawWorkingHours) (*WorkingHours, error) {
	w := &WorkingHours{Holidays: map[string]bool{}, Location: time.UTC}
	var errs []string
	days := r.Days
	switch {
	case days == nil:
		days = []string{"mon", "tue", "wed", "thu", "fri"}
	case len(days) == 0:
		errs = append(errs, "days: list the days people work, e.g. [mon, tue, wed, thu, fri] (leave it out for those)")
	}
	for _, d := range days {
		wd, ok := weekdays[strings.ToLower(strings.TrimSpace(d))]
		switch {
		case !ok:
			errs = append(errs, fmt.Sprintf("day %q is not a day; use mon, tue, wed, thu, fri, sat or sun", d))
		case slices.Contains(w.Days, wd):
			errs = append(errs, fmt.Sprintf("day %q is listed twice", d))
		default:
			w.Days = append(w.Days, wd)
		}
	}
	hours := r.Hours
	if hours == "" {
		hours = "09:00-17:00"
	}
	from, to, ok := strings.Cut(hours, "-")
	start, err1 := clockTime(from)
	end, err2 := clockTime(to)
	switch {
	case !ok || err1 != nil || err2 != nil:
		errs = append(errs, fmt.Sprintf("hours %q: write the start and the end of the day, e.g. 09:00-17:00", r.Hours))
	case start >= end:
		errs = append(errs, fmt.Sprintf("hours %q: the day must end after it starts, on the same day (up to 24:00)", r.Hours))
	}
	w.Start, w.End = start, end
	for _, h := range r.Holidays {
		day, err := time.Parse(time.DateOnly, strings.TrimSpace(h))
		if err != nil {
			errs = append(errs, fmt.Sprintf("holiday %q is not a date; write it as YYYY-MM-DD, e.g. 2026-12-25", h))
			continue
		}
		w.Holidays[day.Format(time.DateOnly)] = true
	}
	if r.Timezone != "" {
		loc, err := time.LoadLocation(r.Timezone)
		switch {
		case r.Timezone == "Local": // each machine's own: replicas would disagree
			errs = append(errs, "timezone Local is each machine's own; name one, like Europe/Paris")
		case err != nil:
			errs = append(errs, fmt.Sprintf("timezone %q is unknown; use an IANA name like Europe/Paris", r.Timezone))
		default:
			w.Location = loc
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("working_hours: %s", strings.Join(errs, "; "))
	}
	return w, nil
}

// clockTime parses "HH:MM" (00:00 to 24:00) as the time since midnight.
func clockTime(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	digit := func(i int) int { return int(s[i] - '0') }
	if len(s) != 5 || s[2] != ':' || strings.IndexFunc(s[:2]+s[3:], func(r rune) bool { return r < '0' || r > '9' }) >= 0 {
		return 0, fmt.Errorf("bad time %q", s)
	}
	h, m := digit(0)*10+digit(1), digit(3)*10+digit(4)
	if m > 59 || h > 24 || h == 24 && m > 0 {
		return 0, fmt.Errorf("bad time %q", s)
	}
	return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute, nil
}

// Day is the working time of one working day.
func (w *WorkingHours) Day() time.Duration { return w.End - w.Start }

// Length is sp counted in working time: a day (d) is one working day, a
// week (w) as many working days as a week has, and hours and minutes are
// working hours and minutes.
func (w *WorkingHours) Length(sp Span) time.Duration {
	days := sp.Weeks*float64(len(w.Days)) + sp.Days
	return time.Duration(days*float64(w.Day())) + sp.Clock
}

// String describes the hours as a card or the help shows them.
func (w *WorkingHours) String() string {
	names := make([]string, len(w.Days))
	for i, d := range w.Days {
		names[i] = d.String()[:3]
	}
	clock := func(d time.Duration) string {
		return fmt.Sprintf("%02d:%02d", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
	return strings.Join(names, ", ") + " " + clock(w.Start) + "-" + clock(w.End)
}

// Workday reports whether people in loc work on the day it is there at t.
func (w *WorkingHours) Workday(t time.Time, loc *time.Location) bool {
	y, m, d := t.In(loc).Date()
	return w.workday(y, m, d, loc)
}

// workday reports whether people in loc work on the day y-m-d there.
func (w *WorkingHours) workday(y int, m time.Month, d int, loc *time.Location) bool {
	day := time.Date(y, m, d, 12, 0, 0, 0, loc)
	return slices.Contains(w.Days, day.Weekday()) && !w.Holidays[day.Format(time.DateOnly)]
}

// hoursOn returns the working hours of the day y-m-d in loc.
func (w *WorkingHours) hoursOn(y int, m time.Month, d int, loc *time.Location) (open, close time.Time) {
	at := func(c time.Duration) time.Time {
		return time.Date(y, m, d, int(c/time.Hour), int(c%time.Hour/time.Minute), 0, 0, loc)
	}
	return at(w.Start), at(w.End)
}

// maxSearch bounds how many days ahead the next working day is looked for
// (holidays cannot fill a year and a week: beyond it, the clock is kept).
const maxSearch = 380

// at returns whether people in loc are at work at t, and until when; or,
// when they are not, when they next are (the zero time if never).
func (w *WorkingHours) at(t time.Time, loc *time.Location) (working bool, until time.Time) {
	lt := t.In(loc)
	y, m, d := lt.Date()
	for i := range maxSearch {
		if w.workday(y, m, d+i, loc) {
			open, close := w.hoursOn(y, m, d+i, loc)
			if !t.Before(open) && t.Before(close) {
				return true, close
			}
			if t.Before(open) {
				return false, open
			}
		}
	}
	return false, time.Time{}
}

// next returns t if at least one of the people in locs is at work at t,
// else when the first of them next is (t if never).
func (w *WorkingHours) next(t time.Time, locs []*time.Location) time.Time {
	var first time.Time
	for _, loc := range locs {
		working, open := w.at(t, loc)
		if working {
			return t
		}
		if !open.IsZero() && (first.IsZero() || open.Before(first)) {
			first = open
		}
	}
	if first.IsZero() {
		return t
	}
	return first
}

// Add returns the time d of working time after t, counting the time when at
// least one of the people in locs is at work (each in their timezone).
func (w *WorkingHours) Add(t time.Time, locs []*time.Location, d time.Duration) time.Time {
	// Each round goes past one stretch of working time, or one gap: d spans
	// at most one stretch per working day, and the bound is only there for
	// holidays that leave no working day ahead.
	for range 1_000_000 {
		// The stretch of time from t while someone works: it ends when no one
		// does (one person's day may end while another's goes on), or once
		// it holds d (the people's days may together leave no gap at all).
		end := t
		for end.Sub(t) < d {
			next := end
			for _, loc := range locs {
				if ok, until := w.at(end, loc); ok && until.After(next) {
					next = until
				}
			}
			if next.Equal(end) {
				break
			}
			end = next
		}
		if end.After(t) {
			if d <= end.Sub(t) {
				return t.Add(d)
			}
			d -= end.Sub(t)
			t = end
			continue
		}
		// No one works at t: go to when the first of them starts again.
		first := w.next(t, locs)
		if !first.After(t) { // no working time ahead
			break
		}
		t = first
	}
	return t.Add(d) // no working time ahead (holidays all year): the clock's
}
