package slack

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/batonbot/baton/bot"
	"github.com/batonbot/baton/flows"
	"github.com/batonbot/baton/storage/storagetest"
)

// Benchmarks. Run them against a real Redis, as in production:
//
//	BATON_TEST_REDIS_URL=redis://127.0.0.1:6379/2 go test ./adapters/slack -run '^$' \
//	    -bench 'Ack|Deliver' -benchtime 1x -count 1
//
// (-benchtime 1x: each benchmark sets up its own load and reports what it
// measured; more iterations repeat it.)

// benchFlow is one approval by a reviewer named in the form.
const benchFlow = `
id: bench
name: Bench
command: bench
prefix: BN
owner: olivia
title: "{{.item}}"
form:
  - {name: item, label: Item, type: text, required: true}
  - {name: reviewer, label: Reviewer, type: person, required: true}
steps:
  - id: review
    name: Review
    type: approval
    assignees: [field:reviewer]
`

// benchHarness is a harness with the bench flow and reviewers p0000… (Slack
// ids U10000…), paced as in production unless fast is set.
func benchHarness(b *testing.B, reviewers int) *harness {
	def, err := flows.ParseDefinition("bench.yaml", []byte(benchFlow))
	if err != nil {
		b.Fatal(err)
	}
	if _, ok := storagetest.Real(b); !ok {
		b.Logf("BATON_TEST_REDIS_URL is not set: measuring against the embedded store, not Redis")
	}
	return newHarness(b, func(c *Config, defs *[]*flows.Definition, dir **flows.Directory) {
		*defs = append(*defs, def)
		people := (*dir).People()
		for i := range reviewers {
			people = append(people, flows.Person{ID: fmt.Sprintf("p%04d", i), Name: fmt.Sprintf("Reviewer %d", i),
				Slack: fmt.Sprintf("U1%04d", i), Timezone: "Europe/London", Manager: "dana"})
		}
		d, err := flows.NewDirectory(people, (*dir).Channels())
		if err != nil {
			b.Fatal(err)
		}
		*dir = d
		c.HomeDelay = 2 * time.Second // production's
	})
}

// startBench starts n bench requests, request i reviewed by reviewer(i).
func startBench(b *testing.B, h *harness, n int, reviewer func(int) string) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				out, err := h.rig.Svc.Handle(context.Background(), flows.Event{Kind: flows.EventStart, Key: "bench-" + strconv.Itoa(i),
					Flow: "bench", Actor: "alice", Data: map[string]string{"item": "thing " + strconv.Itoa(i), "reviewer": reviewer(i)}})
				if err != nil || !out.OK {
					b.Errorf("start %d: %v %+v", i, err, out)
					return
				}
			}
		})
	}
	wg.Wait()
}

// BenchmarkAck measures signed Approve clicks acknowledged per second and
// the time to acknowledge each (p50, p99), at 1 and 64 concurrent clicks,
// through Baton's HTTP stack (request ids, metrics, recovery). Each click
// decides a different request: a real commit to Redis. With delivering=yes
// the dispatcher meanwhile delivers what the decisions cause (each closed
// card's chat.update and the requester's outcome DM) to the Web API
// stand-in, in the same process, as in production; delivering=no measures
// the acknowledgement path alone.
func BenchmarkAck(b *testing.B) {
	for _, c := range []struct {
		conc    int
		deliver bool
	}{{1, true}, {64, true}, {64, false}} {
		conc := c.conc
		b.Run(fmt.Sprintf("concurrency=%d/delivering=%s", conc, map[bool]string{true: "yes", false: "no"}[c.deliver]), func(b *testing.B) {
			clicks := 3000 * b.N // each click decides its own request
			h := benchHarness(b, 1)
			startBench(b, h, clicks, func(int) string { return "p0000" })
			h.rig.Drain()
			ctx, cancel := context.WithCancel(context.Background())
			dispatched := make(chan struct{})
			if c.deliver {
				h.rig.Svc.OnCommit(h.rig.Dispatcher().Wake) // as main wires it: deliveries follow commits
				go func() { defer close(dispatched); _ = h.rig.Dispatcher().Run(ctx) }()
			} else {
				close(dispatched)
			}
			defer func() { cancel(); <-dispatched }()

			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			srv := bot.NewServer("127.0.0.1:0", log, bot.NewMetrics(nil), prometheus.NewRegistry(), func(context.Context) error { return nil })
			for pattern, handler := range h.a.Routes() {
				srv.Handle(pattern, handler)
			}
			// Time each request inside the server as well: from the first
			// byte of the handler to the acknowledgement written.
			var inside []time.Duration
			var insideMu sync.Mutex
			handler := srv.Handler()
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				began := time.Now()
				handler.ServeHTTP(w, r)
				d := time.Since(began)
				insideMu.Lock()
				inside = append(inside, d)
				insideMu.Unlock()
			}))
			defer ts.Close()
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conc}}
			bodies := make([][]byte, clicks)
			for i := range bodies {
				bodies[i] = interactionBody(h.clickPayload("U10000", fmt.Sprintf("v1|approve|BN-%d|review|1|", i+1), "D10000"))
			}

			b.ResetTimer()
			var lat []time.Duration
			var mu sync.Mutex
			var next atomic.Int64
			began := time.Now()
			{
				var wg sync.WaitGroup
				for range conc {
					wg.Go(func() {
						var mine []time.Duration
						for i := int(next.Add(1)) - 1; i < clicks; i = int(next.Add(1)) - 1 {
							now := time.Now()
							req, _ := http.NewRequest(http.MethodPost, ts.URL+PathInteractions, bytes.NewReader(bodies[i]))
							req.Header.Set("Content-Type", formType)
							req.Header.Set("X-Slack-Request-Timestamp", strconv.FormatInt(now.Unix(), 10))
							req.Header.Set("X-Slack-Signature", sign(testSecret, now.Unix(), bodies[i]))
							resp, err := client.Do(req)
							if err != nil {
								b.Error(err)
								return
							}
							_, _ = io.Copy(io.Discard, resp.Body)
							resp.Body.Close()
							mine = append(mine, time.Since(now))
							if resp.StatusCode != http.StatusOK {
								b.Errorf("click %d: %d", i, resp.StatusCode)
							}
						}
						mu.Lock()
						lat = append(lat, mine...)
						mu.Unlock()
					})
				}
				wg.Wait()
			}
			elapsed := time.Since(began)
			b.StopTimer()
			slices.Sort(lat)
			slices.Sort(inside)
			pct := func(l []time.Duration, p float64) float64 {
				return float64(l[int(p*float64(len(l)-1))]) / float64(time.Millisecond)
			}
			b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "acks/s")
			b.ReportMetric(pct(lat, 0.50), "p50-ms")
			b.ReportMetric(pct(lat, 0.99), "p99-ms")
			b.ReportMetric(pct(lat, 1), "max-ms")
			b.ReportMetric(pct(inside, 0.50), "server-p50-ms")
			b.ReportMetric(pct(inside, 0.99), "server-p99-ms")
			b.ReportMetric(0, "ns/op")
			// Every click was a decision.
			in, err := h.rig.Svc.Instance(context.Background(), fmt.Sprintf("BN-%d", clicks))
			if err != nil || in.Status != flows.StatusCompleted {
				b.Fatalf("the last request is not decided: %v %v", err, in.Status)
			}
		})
	}
}

// BenchmarkDeliver1000 delivers 1,000 task cards to 1,000 people through a
// Web API stand-in that lets chat.postMessage through at a set pace
// (workspace-wide) and answers 429 with Retry-After beyond it, with the
// real dispatcher. Nothing may be dropped or sent twice; it reports the
// delivered throughput as a share of the pace.
func BenchmarkDeliver1000(b *testing.B) {
	const cards = 1000
	pace, _ := strconv.ParseFloat(os.Getenv("BATON_BENCH_PACE"), 64)
	if pace == 0 {
		pace = 200 // cards per second the stand-in allows
	}
	for range b.N {
		b.StopTimer()
		h := benchHarness(b, cards)
		startBench(b, h, cards, func(i int) string { return fmt.Sprintf("p%04d", i) })
		h.api.pacePosts(pace, int(pace)) // a second's worth of burst, then 429 Retry-After: 1
		h.api.patience = 5 * time.Minute
		ctx, cancel := context.WithCancel(context.Background())
		dispatched := make(chan struct{})
		b.StartTimer()
		began := time.Now()
		go func() { defer close(dispatched); _ = h.rig.Dispatcher().Run(ctx) }()
		h.api.waitFor("1,000 cards", func(c []apiCall) bool { return count(c, "chat.postMessage") >= cards })
		elapsed := time.Since(began)
		b.StopTimer()
		cancel()
		<-dispatched
		h.a.Wait()

		perChannel := map[string]int{}
		limited := 0
		for _, c := range h.api.Calls() {
			switch {
			case c.Method == "chat.postMessage" && c.Status == http.StatusOK:
				perChannel[c.str("channel")]++
			case c.Status == http.StatusTooManyRequests:
				limited++
			}
		}
		for ch, n := range perChannel {
			if n != 1 {
				b.Errorf("%s got %d cards", ch, n)
			}
		}
		if len(perChannel) != cards {
			b.Errorf("%d of %d people got their card", len(perChannel), cards)
		}
		if outbox, _, _ := h.rig.Store.Pending(context.Background()); outbox != 0 {
			b.Errorf("%d deliveries left in the outbox", outbox)
		}
		rate := float64(cards) / elapsed.Seconds()
		b.ReportMetric(rate, "cards/s")
		b.ReportMetric(100*rate/pace, "%-of-pace")
		b.ReportMetric(float64(limited), "429s")
		b.ReportMetric(elapsed.Seconds(), "s")
		b.ReportMetric(0, "ns/op")
		if rate < 0.8*pace {
			b.Errorf("delivered %.0f cards/s, under 80%% of the allowed %.0f/s", rate, pace)
		}
	}
}
