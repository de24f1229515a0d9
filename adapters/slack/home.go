package slack

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	slackgo "github.com/slack-go/slack"
	"golang.org/x/time/rate"

	"github.com/batonbot/baton/bot"
)

// homes keeps App Home tabs current. A tab is published when its owner
// opens it, and refreshed when a card is sent to them or updated, or they
// act; only for people who have opened it (the others would never see it),
// with bursts of changes folded into one publish after HomeDelay, and
// publishes paced under views.publish's rate limit.
type homes struct {
	a   *Adapter
	lim *rate.Limiter

	mu     sync.Mutex
	queued map[string]bool // user -> refresh scheduled; true: changed again since it started
}

func newHomes(a *Adapter) *homes {
	return &homes{a: a, lim: rate.NewLimiter(rate.Every(a.cfg.HomeInterval), 10), queued: map[string]bool{}}
}

// touch asks for user's Home tab to be refreshed soon. It never blocks.
func (h *homes) touch(user string) {
	if user == "" {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.queued[user]; ok {
		h.queued[user] = true
		return
	}
	h.queued[user] = false
	h.a.bg.Go(func() { h.refresh(user) })
}

func (h *homes) refresh(user string) {
	// Only Home tabs that were opened are kept up to date: for anyone
	// else there is nothing to wait for.
	ctx, cancel := context.WithTimeout(context.Background(), asyncTimeout)
	_, opened, err := h.a.kv.GetValue(ctx, nsHome, user)
	cancel()
	if err == nil && !opened {
		h.mu.Lock()
		delete(h.queued, user)
		h.mu.Unlock()
		return
	}
	for {
		// Wait a moment: one decision sends and updates several cards.
		t := time.NewTimer(h.a.cfg.HomeDelay)
		<-t.C
		h.mu.Lock()
		h.queued[user] = false
		h.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), asyncTimeout)
		if err := h.publish(ctx, user, false); err != nil {
			h.a.log.Warn("slack app home not refreshed", "user", user, "err", err)
		}
		cancel()
		h.mu.Lock()
		again := h.queued[user]
		if !again {
			delete(h.queued, user)
		}
		h.mu.Unlock()
		if !again {
			return
		}
	}
}

// publish renders and publishes user's Home tab. opened says they just
// opened it (so it is published even if it never was, and remembered).
func (h *homes) publish(ctx context.Context, user string, opened bool) error {
	a := h.a
	if !opened {
		if _, ok, err := a.kv.GetValue(ctx, nsHome, user); err != nil || !ok {
			return err
		}
	}
	for attempt := 0; ; attempt++ {
		if err := h.lim.Wait(ctx); err != nil {
			return err
		}
		view, err := a.homeView(ctx, user)
		if err != nil {
			return err
		}
		err = a.api.publishHome(ctx, user, view)
		var ra *bot.RetryAfterError
		if errors.As(err, &ra) && attempt < maxHomeRetries {
			t := time.NewTimer(ra.After)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
			continue
		}
		if err != nil {
			return err
		}
		if opened {
			return a.kv.SetValue(ctx, nsHome, user, "1", homeMarkerFor)
		}
		return nil
	}
}

// homeView is a person's Home tab: what waits on them (with its buttons),
// the requests they made (with status), and a button to start each flow.
func (a *Adapter) homeView(ctx context.Context, user string) (slackgo.HomeTabViewRequest, error) {
	person := a.person(user)
	e, now := a.svc.Engine(), a.svc.Now()
	tasks, err := a.svc.Tasks(ctx, person)
	if err != nil {
		return slackgo.HomeTabViewRequest{}, fmt.Errorf("app home of %s: tasks: %w", user, err)
	}
	reqs, err := a.svc.Requests(ctx, person, 10)
	if err != nil {
		return slackgo.HomeTabViewRequest{}, fmt.Errorf("app home of %s: requests: %w", user, err)
	}
	tl, rl, help := e.TaskList(tasks, person, now), e.RequestList(reqs, person, now, Command+" start <flow>"), e.Help("")
	head := func(id, text string) slackgo.Block {
		return slackgo.NewHeaderBlock(plainText(text, maxHeaderText), slackgo.HeaderBlockOptionBlockID(id))
	}
	var b []slackgo.Block
	b = append(b, head("tasks", fmt.Sprintf("Waiting on you (%d)", len(tl.Items))))
	if len(tl.Items) == 0 {
		b = append(b, section("tasks-none", mrkdwn(tl.Text)))
	}
	b = append(b, itemBlocks("task", tl.Items, tl.Mentions, 40)...)
	b = append(b, divider("divider-1"), head("requests", "Your requests"))
	if len(rl.Items) == 0 {
		b = append(b, section("requests-none", mrkdwn(rl.Text)))
	}
	b = append(b, itemBlocks("request", rl.Items, rl.Mentions, 30)...)
	b = append(b, divider("divider-2"), head("start", "Start a request"))
	b = append(b, itemBlocks("flow", help.Items, nil, maxViewBlocks-len(b)-1)...)
	b = append(b, slackgo.NewContextBlock("help", mdText(fmt.Sprintf("Type `%s help` in any conversation for the commands · updated %s",
		Command, now.In(e.Directory().Location(person)).Format("Mon 2 Jan 15:04 MST")), maxFieldText)))
	return slackgo.HomeTabViewRequest{Type: slackgo.VTHomeTab, Blocks: slackgo.Blocks{BlockSet: b}}, nil
}

func divider(id string) *slackgo.DividerBlock {
	return &slackgo.DividerBlock{Type: slackgo.MBTDivider, BlockID: id}
}
