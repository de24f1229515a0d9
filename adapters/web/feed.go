package web

import (
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/batonbot/baton/bot"
	"github.com/batonbot/baton/flows"
)

// feedCap is how many messages each inbox keeps (oldest dropped first).
const feedCap = 300

// entry is a message as a person or channel received it on the console.
type entry struct {
	Ref     string
	At      time.Time
	Updated time.Time
	Msg     *flows.Message
	Parent  string // ref of the card this replies to
	Box     string // "p:<person>" or "c:<channel>"
	Change  int    // the feed's change count when it was last sent or updated
}

// feed holds every inbox of the console in memory. The console is the local
// demo surface: what matters durably (instances, audit, timers) is in Redis;
// an inbox lost on restart is re-created by the next card.
type feed struct {
	mu sync.Mutex
	// boot is this process's part of every ref: the dispatcher keeps refs in
	// Redis, and after a restart an update for a card of the previous
	// process must find no card, not the new card that took its number.
	boot  string
	seq   int
	boxes map[string][]*entry
	byRef map[string]*entry
	subs  map[string]map[chan struct{}]bool // box -> listeners

	// changes counts the cards sent and updated: a note records it, to
	// tell the cards that came after it (changedSince).
	changes int
}

func newFeed() *feed {
	return &feed{boot: rand.Text()[:8], boxes: map[string][]*entry{}, byRef: map[string]*entry{}, subs: map[string]map[chan struct{}]bool{}}
}

func personBox(p string) string  { return "p:" + p }
func channelBox(c string) string { return "c:" + c }

func (f *feed) add(box string, m *flows.Message, parent string, now time.Time) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	f.changes++
	e := &entry{Ref: fmt.Sprintf("web-%s-%d", f.boot, f.seq), At: now, Updated: now, Msg: m, Parent: parent, Box: box, Change: f.changes}
	f.boxes[box] = append(f.boxes[box], e)
	if over := len(f.boxes[box]) - feedCap; over > 0 {
		for _, old := range f.boxes[box][:over] {
			delete(f.byRef, old.Ref)
		}
		f.boxes[box] = slices.Clone(f.boxes[box][over:])
	}
	f.byRef[e.Ref] = e
	f.notify(box)
	return e.Ref
}

func (f *feed) update(ref string, m *flows.Message, now time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	e := f.byRef[ref]
	if e == nil {
		return false
	}
	if e.Parent != "" && m.Outcome != "" {
		// A reply (a reminder) to a card that closed keeps what it said,
		// and says how it ended, as on Slack.
		c := *e.Msg
		c.Outcome, c.At, c.Actions = m.Outcome, m.At, nil
		m = &c
	}
	f.changes++
	e.Msg, e.Updated, e.Change = m, now, f.changes
	f.notify(e.Box)
	return true
}

// notify wakes the box's listeners; f.mu is held.
func (f *feed) notify(box string) {
	for ch := range f.subs[box] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	if box[0] == 'c' { // channel posts show on everyone's page
		for b, subs := range f.subs {
			if b[0] == 'p' {
				for ch := range subs {
					select {
					case ch <- struct{}{}:
					default:
					}
				}
			}
		}
	}
}

// subscribe returns a channel that receives a signal whenever box changes.
func (f *feed) subscribe(box string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	f.mu.Lock()
	if f.subs[box] == nil {
		f.subs[box] = map[chan struct{}]bool{}
	}
	f.subs[box][ch] = true
	f.mu.Unlock()
	return ch, func() {
		f.mu.Lock()
		delete(f.subs[box], ch)
		f.mu.Unlock()
	}
}

// thread is a card with its replies.
type thread struct {
	*entry
	Replies []*entry
}

// Entry is the card itself (for templates).
func (t thread) Entry() *entry { return t.entry }

// threads returns a box's cards newest first, replies (oldest first) under
// their card. The entries are copies: an update may replace a card's
// message while a page is being rendered from them.
func (f *feed) threads(box string) []thread {
	f.mu.Lock()
	defer f.mu.Unlock()
	snapshot := make([]*entry, len(f.boxes[box]))
	for i, e := range f.boxes[box] {
		c := *e
		snapshot[i] = &c
	}
	var out []thread
	index := map[string]int{}
	for _, e := range snapshot {
		if e.Parent == "" {
			index[e.Ref] = len(out)
			out = append(out, thread{entry: e})
		}
	}
	for _, e := range snapshot {
		if e.Parent == "" {
			continue
		}
		if i, ok := index[e.Parent]; ok {
			out[i].Replies = append(out[i].Replies, e)
		} else {
			index[e.Ref] = len(out)
			out = append(out, thread{entry: e})
		}
	}
	slices.Reverse(out)
	return out
}

// changeCount is how many cards have been sent and updated so far.
func (f *feed) changeCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.changes
}

// changedSince returns the requests of box's cards sent or updated after
// the change count n (each once; cards of no request left out).
func (f *feed) changedSince(box string, n int) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	for _, e := range f.boxes[box] {
		if e.Change > n && e.Msg.Instance != "" && !slices.Contains(ids, e.Msg.Instance) {
			ids = append(ids, e.Msg.Instance)
		}
	}
	return ids
}

// boxOf returns the box of a ref.
func (f *feed) boxOf(ref string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if e := f.byRef[ref]; e != nil {
		return e.Box
	}
	return ""
}

// Messenger is the console as a delivery platform: every person and every
// channel can be reached, and their messages appear on the console page.
type messenger struct {
	c *Console
}

var _ bot.Messenger = messenger{}

func (m messenger) Platform() string { return "web" }

func (m messenger) Reach(to flows.Recipient) (bot.Address, bool) {
	if to.Person != "" {
		return bot.Address{Person: to.Person, ID: to.Person}, true
	}
	return bot.Address{Channel: to.Channel, ID: to.Channel}, to.Channel != ""
}

func (m messenger) Send(ctx context.Context, to bot.Address, msg *flows.Message, thread string) (string, error) {
	box := personBox(to.Person)
	if to.Channel != "" {
		box = channelBox(to.Channel)
	}
	return m.c.feed.add(box, msg, thread, m.c.svc.Now()), nil
}

// Update updates a card in its inbox. A card that is no longer there (the
// console restarted since it was sent, or it was among the oldest of a
// full inbox) has nothing to update, and nowhere else to be: its update is
// done, not a failed delivery to give up on (which would raise the
// dead-letter alarm for an ordinary restart).
func (m messenger) Update(ctx context.Context, ref string, msg *flows.Message) error {
	if !m.c.feed.update(ref, msg, m.c.svc.Now()) {
		m.c.log.DebugContext(ctx, "console: the card to update is gone (the console restarted, or the inbox was full)", "ref", ref, "instance", msg.Instance)
	}
	return nil
}
