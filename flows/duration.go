package flows

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// ParseDuration parses a duration as written in flow definitions: one or more
// number+unit pairs with units s, m, h, d (24 h) and w (7 d), e.g. "30m",
// "4h", "2d", "1d12h". Go's time.ParseDuration has no day or week unit, and
// approval deadlines are mostly counted in days, hence this small parser.
// The result is always positive; there is no upper limit.
func ParseDuration(s string) (time.Duration, error) {
	_, d, err := parseSpan(s)
	return d, err
}

// Span is a duration as written, by unit, so that it can be counted in
// working time as well as on the clock: its weeks (w), days (d), and the
// rest (h, m, s).
type Span struct {
	Weeks, Days float64
	Clock       time.Duration
}

// String writes the span by unit as it was written: "1 w", "1 d 12 h",
// "36 h", "90 min" is "1 h 30 min".
func (sp Span) String() string {
	var parts []string
	num := func(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
	if sp.Weeks > 0 {
		parts = append(parts, num(sp.Weeks)+" w")
	}
	if sp.Days > 0 {
		parts = append(parts, num(sp.Days)+" d")
	}
	h, m, sec := sp.Clock/time.Hour, sp.Clock%time.Hour/time.Minute, sp.Clock%time.Minute/time.Second
	if h > 0 {
		parts = append(parts, fmt.Sprintf("%d h", h))
	}
	if m > 0 {
		parts = append(parts, fmt.Sprintf("%d min", m))
	}
	if sec > 0 && h == 0 {
		parts = append(parts, fmt.Sprintf("%d s", sec))
	}
	return strings.Join(parts, " ")
}

// ParseSpan parses a duration as ParseDuration does, keeping its units.
func ParseSpan(s string) (Span, error) {
	sp, _, err := parseSpan(s)
	return sp, err
}

// notBefore reports whether span a (of length ad on the clock) surely
// comes no earlier than span b (of length bd). In working time a day is as
// long as the directory's working day (at most 24 hours) and a week its
// working days (at least one, at most seven), so there a is surely not
// earlier when it is so unit by unit, or by those bounds (24h is not
// before 1d, 1w not before 1d); otherwise it may well be earlier (4h
// against 1d).
func notBefore(a, b Span, ad, bd time.Duration, working bool) bool {
	if !working {
		return ad >= bd
	}
	const day = 24 * time.Hour
	aDays, bDays := a.Days+a.Weeks, b.Days+7*b.Weeks // a's fewest days, b's most
	bLongest := time.Duration(bDays*float64(day)) + b.Clock
	return a.Weeks >= b.Weeks && a.Days >= b.Days && a.Clock >= b.Clock ||
		aDays >= bDays && a.Clock >= b.Clock ||
		a.Clock >= bLongest
}

// parseSpan returns the span written in s, and its length on the clock.
func parseSpan(s string) (Span, time.Duration, error) {
	in := strings.TrimSpace(s)
	if in == "" {
		return Span{}, 0, fmt.Errorf("empty duration: write a number and a unit (s, m, h, d, w), e.g. 30m, 4h, 2d")
	}
	var sp Span
	var total time.Duration
	rest := in
	for rest != "" {
		if rest[0] == ' ' && rest != in { // 1d 12h
			return Span{}, 0, fmt.Errorf("invalid duration %q: write it without spaces, e.g. %s", s, strings.Join(strings.Fields(in), ""))
		}
		i := 0
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9' || rest[i] == '.') {
			i++
		}
		if i == 0 && rest[0] == '-' && rest == in && len(rest) > 1 && (rest[1] >= '0' && rest[1] <= '9' || rest[1] == '.') {
			return Span{}, 0, fmt.Errorf("invalid duration %q: a duration cannot be negative; write it without the minus, e.g. %s", s, strings.TrimLeft(in, "-"))
		}
		if i == 0 && (rest[0] == '-' || rest[0] == '+') { // 1h-30m, 1h+30m, a lone minus
			return Span{}, 0, fmt.Errorf("invalid duration %q: write numbers and units with no signs, e.g. 30m, 4h, 1h30m", s)
		}
		if i == 0 || i == len(rest) {
			return Span{}, 0, fmt.Errorf("invalid duration %q: write a number and a unit (s, m, h, d, w), e.g. 30m, 4h, 2d", s)
		}
		n, err := strconv.ParseFloat(rest[:i], 64)
		if err != nil {
			return Span{}, 0, fmt.Errorf("invalid duration %q: write a number and a unit (s, m, h, d, w), e.g. 30m, 4h, 2d", s)
		}
		word := rest[i:] // the unit as typed: its letters (runes, not bytes: "\xcbA" is no letter)
		if end := strings.IndexFunc(word, func(r rune) bool { return !unicode.IsLetter(r) }); end >= 0 {
			word = word[:end]
		}
		if utf8.RuneCountInString(word) > 1 {
			lower := strings.ToLower(word)
			switch u := lower[:1]; {
			case lower == "ms" || strings.HasPrefix(lower, "milli") || strings.HasPrefix(lower, "msec"):
				if n >= 1000 { // timers count whole seconds: say the nearest
					return Span{}, 0, fmt.Errorf("invalid duration %q: a unit is one letter (s, m, h, d or w), and timers count whole seconds: write %.0fs, not %s%s", s, math.Round(n/1000), rest[:i], word)
				}
				return Span{}, 0, fmt.Errorf("invalid duration %q: the shortest is 1s; timers are looked for once a second", s)
			case strings.HasPrefix(lower, "mo"):
				return Span{}, 0, fmt.Errorf("invalid duration %q: months vary in length; write weeks or days (w, d), e.g. 8w or 60d", s)
			case strings.Contains("smhdw", u):
				return Span{}, 0, fmt.Errorf("invalid duration %q: a unit is one letter (s, m, h, d or w): write %s%s, not %s%s", s, rest[:i], u, rest[:i], word)
			}
			return Span{}, 0, fmt.Errorf("invalid duration %q: %s is no unit; a unit is one letter (s, m, h, d or w), e.g. 30m, 4h, 2d", s, word)
		}
		var unit time.Duration
		switch rest[i] {
		case 's':
			unit = time.Second
		case 'm':
			unit = time.Minute
		case 'h':
			unit = time.Hour
		case 'd':
			unit = 24 * time.Hour
		case 'w':
			unit = 7 * 24 * time.Hour
		case ' ':
			return Span{}, 0, fmt.Errorf("invalid duration %q: write it without spaces, with a one-letter unit (s, m, h, d, w), e.g. 30m, 4h, 2d", s)
		default:
			_, size := utf8.DecodeRuneInString(rest[i:])
			return Span{}, 0, fmt.Errorf("invalid duration %q: unknown unit %q; use s, m, h, d or w, e.g. 30m, 4h, 2d", s, rest[i:i+size])
		}
		d := n * float64(unit)
		if d > float64(1<<62) || total > 1<<62-time.Duration(d) { // the sum must not wrap around
			return Span{}, 0, fmt.Errorf("invalid duration %q: too long", s)
		}
		total += time.Duration(d)
		switch rest[i] {
		case 'w':
			sp.Weeks += n
		case 'd':
			sp.Days += n
		default:
			sp.Clock += time.Duration(d)
		}
		rest = rest[i+1:]
	}
	if total <= 0 {
		return Span{}, 0, fmt.Errorf("invalid duration %q: it must be longer than zero", s)
	}
	if total < time.Second { // timers are looked for once a second
		return Span{}, 0, fmt.Errorf("invalid duration %q: the shortest is 1s", s)
	}
	return sp, total, nil
}

// FormatDuration writes d the way people read it on a card: "45 min", "3 h",
// "2 d 4 h". Seconds are dropped above a minute.
func FormatDuration(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d/time.Second))
	case d < time.Hour:
		m, sec := int(d/time.Minute), int(d%time.Minute/time.Second)
		if sec == 0 {
			return fmt.Sprintf("%d min", m)
		}
		return fmt.Sprintf("%d min %d s", m, sec)
	case d < 24*time.Hour:
		h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
		if m == 0 {
			return fmt.Sprintf("%d h", h)
		}
		return fmt.Sprintf("%d h %d min", h, m)
	default:
		days, h := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour)
		if h == 0 {
			return fmt.Sprintf("%d d", days)
		}
		return fmt.Sprintf("%d d %d h", days, h)
	}
}
