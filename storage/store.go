package storage

import (
	"cmp"
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	// goccy/go-json writes the same bytes as encoding/json (the tests
	// compare them) in half the time, and reads in a quarter: states,
	// cards and audit entries are encoded on every transition.
	json "github.com/goccy/go-json"
	"github.com/redis/go-redis/v9"

	"github.com/batonbot/baton/flows"
)

//go:embed lua/*.lua
var luaFS embed.FS

func script(name string) *redis.Script {
	src, err := luaFS.ReadFile("lua/" + name + ".lua")
	if err != nil {
		panic(err) // embedded at build time
	}
	return redis.NewScript(string(src))
}

var (
	reserveScript    = script("reserve")
	transitionScript = script("transition")
	claimScript      = script("claim")
	retimeScript     = script("retime")
	touchScript      = script("touch")
	requeueScript    = script("requeue")
)

// Config configures a Store. Zero values mean the documented defaults.
type Config struct {
	// Prefix namespaces every key (default "baton"). Tests use one each.
	Prefix string
	// Shards is how many hash-tagged shards instances are spread over
	// (default 16). It must not change once a deployment has data.
	Shards int
	// IdempotencyTTL is how long a start event's idempotency key keeps the
	// instance id it reserved (default 48 h). Other events' outcomes are kept
	// with their instance.
	IdempotencyTTL time.Duration
	// ListDepth bounds how deep one listing reads each index (of one
	// shard) for a page (default 2,000): past it, a filtered listing
	// stops short of older matches (Page says where it stopped).
	ListDepth int
}

const group = "dispatch" // the outbox consumer group

// Store keeps instances, audit trails, timers and the outbox in Redis.
// It is safe for concurrent use by many goroutines and many processes.
type Store struct {
	rdb    redis.UniversalClient
	k      keys
	ttl    time.Duration
	cache  instanceCache
	flows  sync.Map           // "shard/flow" of the flowsIn members this process knows are there
	seeded atomic.Bool        // the flowsIn sets are known to hold earlier versions' flows
	lanes  []batcher[laneReq] // one per lane
	depth  int                // Config.ListDepth
}

var (
	_ flows.Store      = (*Store)(nil)
	_ flows.TimerQueue = (*Store)(nil)
	_ flows.Outbox     = (*Store)(nil)
)

// New returns a Store over rdb. It does no I/O; call Init before use.
func New(rdb redis.UniversalClient, cfg Config) *Store {
	k := keys{prefix: cmp.Or(cfg.Prefix, "baton"), shards: cmp.Or(cfg.Shards, 16)}
	s := &Store{
		rdb:   rdb,
		k:     k,
		ttl:   cmp.Or(cfg.IdempotencyTTL, 48*time.Hour),
		lanes: make([]batcher[laneReq], lanes(rdb, k.shards)),
		depth: cmp.Or(cfg.ListDepth, 2000),
	}
	for i := range s.lanes {
		s.lanes[i].run = s.laneBatch
	}
	return s
}

// lanes returns how many lanes there are, each batching the reads and
// commits of its instances into shared round trips (laneBatch). A
// single Redis (or Sentinel-managed one) takes any keys in a script: two
// lanes make batches several times larger than sixteen (fewer round trips,
// less work per transition on both sides; measured with
// BenchmarkTransitions at 64-way: a third more approvals). Any other client
// (Cluster, where a script's keys must share a slot; Ring, which places
// keys by tag) gets a lane per shard, whose keys share one tag.
func lanes(rdb redis.UniversalClient, shards int) int {
	if _, ok := rdb.(*redis.Client); ok {
		return min(2, shards)
	}
	return shards
}

// lane returns the lane of an instance's commits and reads.
func (s *Store) lane(id string) int { return s.k.shardOf(id) % len(s.lanes) }

// Init creates the outbox consumer groups (idempotent) and loads the scripts.
func (s *Store) Init(ctx context.Context) error {
	for sh := range s.k.shards {
		err := s.rdb.XGroupCreateMkStream(ctx, s.k.outbox(sh), group, "0").Err()
		if err != nil && !strings.Contains(err.Error(), "BUSYGROUP") {
			return fmt.Errorf("create outbox group on shard %d: %w", sh, err)
		}
	}
	for _, sc := range []*redis.Script{reserveScript, transitionScript, claimScript, retimeScript} {
		if err := sc.Load(ctx, s.rdb).Err(); err != nil {
			return fmt.Errorf("load scripts: %w", err)
		}
	}
	return nil
}

// Installation returns this data's installation id: random, made the first
// time any replica asks, the same for every replica afterwards, and new
// after the data is wiped. Outgoing Idempotency-Keys carry it, as instance
// ids start again at 1 on new data.
func (s *Store) Installation(ctx context.Context) (string, error) {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	if err := s.rdb.SetNX(ctx, s.k.installation(), hex.EncodeToString(b), 0).Err(); err != nil {
		return "", fmt.Errorf("installation id: %w", err)
	}
	id, err := s.rdb.Get(ctx, s.k.installation()).Result() // ours, or the one set first
	if err != nil {
		return "", fmt.Errorf("installation id: %w", err)
	}
	return id, nil
}

// Ping checks that Redis answers.
func (s *Store) Ping(ctx context.Context) error { return s.rdb.Ping(ctx).Err() }

// Shards returns the number of shards.
func (s *Store) Shards() int { return s.k.shards }

// Prefix returns the key prefix: another Store with the same prefix (another
// replica) shares this one's data.
func (s *Store) Prefix() string { return s.k.prefix }

// ShardOf returns the shard of an instance id.
func (s *Store) ShardOf(id string) int { return s.k.shardOf(id) }

// Reserve implements flows.Store.
func (s *Store) Reserve(ctx context.Context, flow, prefix, key string) (string, error) {
	keys, args := []string{s.k.start(key), s.k.seq(flow)}, []any{prefix + "-", int(s.ttl / time.Second)}
	cmd, err := piped(ctx, s, 0, func(c redis.Cmdable) *redis.Cmd { return reserveScript.EvalSha(ctx, c, keys, args...) })
	if redis.HasErrorPrefix(err, "NOSCRIPT") { // Redis lost its scripts: load it again
		cmd = reserveScript.Run(ctx, s.rdb, keys, args...)
		err = cmd.Err()
	}
	var id string
	if err == nil {
		id, err = cmd.Text()
	}
	if err != nil {
		return "", fmt.Errorf("reserve an id for %s: %w", flow, err)
	}
	return id, nil
}

// Reserved implements flows.Store.
func (s *Store) Reserved(ctx context.Context, key string) (string, error) {
	id, err := s.rdb.Get(ctx, s.k.start(key)).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("look up the id of start %s: %w", key, err)
	}
	return id, nil
}

// Get implements flows.Store.
func (s *Store) Get(ctx context.Context, id string) (*flows.Instance, error) {
	in, err := s.load(ctx, s.rdb, id)
	if err != nil {
		return nil, err
	}
	if in == nil {
		return nil, fmt.Errorf("instance %s: %w", id, flows.ErrNotFound)
	}
	return in, nil
}

func (s *Store) load(ctx context.Context, c redis.Cmdable, id string) (*flows.Instance, error) {
	vals, err := c.HMGet(ctx, s.k.instance(id), "v", "s").Result()
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", id, err)
	}
	return decodeInstance(id, vals[0], vals[1])
}

func decodeInstance(id string, v, state any) (*flows.Instance, error) {
	vs, ok1 := v.(string)
	ss, ok2 := state.(string)
	if !ok1 || !ok2 {
		return nil, nil
	}
	var in flows.Instance
	if err := json.Unmarshal([]byte(ss), &in); err != nil {
		return nil, fmt.Errorf("decode %s: %w", id, err)
	}
	ver, err := strconv.ParseInt(vs, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("decode %s version: %w", id, err)
	}
	in.Version = ver
	in.Upgrade() // stored by an earlier build
	return &in, nil
}

// maxAttempts bounds how often Apply retries after losing a race. Each retry
// follows a commit by someone else, so progress is always made overall.
const maxAttempts = 50

// Apply implements flows.Store.
func (s *Store) Apply(ctx context.Context, ev flows.Event, fn func(*flows.Instance) (*flows.Transition, error)) (flows.Applied, error) {
	id := ev.Instance
	if id == "" || strings.ContainsAny(id, "|{} \n") {
		return flows.Applied{}, fmt.Errorf("%s: instance id %q: %w", ev.Kind, id, flows.ErrNotFound)
	}
	if ev.Key == "" {
		return flows.Applied{}, fmt.Errorf("%s %s: an idempotency key is required", ev.Kind, id)
	}
	idem := idemField(ev.Key)
	// The first try is optimistic, without a read: a start applies to no
	// instance, anything else to the state this process last committed. The
	// script's checks (idempotency key, then version) make this exactly as
	// safe as reading first; anything but a commit (a stale version, an
	// error or a no-op computed from a stale state) is tried again on the
	// state read from Redis.
	cur, guessed := s.guess(ev)
	for range maxAttempts {
		if !guessed {
			// One read: the earlier outcome of this key, or the instance.
			cmd, err := piped(ctx, s, s.lane(id), func(c redis.Cmdable) *redis.SliceCmd {
				return c.HMGet(ctx, s.k.instance(id), "v", "s", idem)
			})
			if err != nil {
				return flows.Applied{}, fmt.Errorf("%s %s: load: %w", ev.Kind, id, err)
			}
			vals := cmd.Val()
			if out, ok := vals[2].(string); ok {
				return s.duplicate(ctx, ev, out)
			}
			if cur, err = decodeInstance(id, vals[0], vals[1]); err != nil {
				return flows.Applied{}, err
			}
		}
		t, err := fn(cur)
		if guessed && (err != nil || t.Noop) {
			guessed = false
			continue
		}
		// A remembered state is committed only if it is still the stored one,
		// by version and by audit head (see transition.lua).
		head := ""
		if guessed && cur != nil {
			head = cur.AuditHead
		}
		guessed = false
		if err != nil {
			return flows.Applied{}, err
		}
		if t.Noop {
			if ev.Kind == flows.EventTimer {
				// The claim took the instance's timer member: put it back,
				// at a timer other than this one, which came to nothing.
				done, err := s.retime(ctx, cur, ev.Timer, id, id+"|"+ev.Timer)
				if err != nil {
					return flows.Applied{}, err
				}
				if !done {
					continue // changed since it was read
				}
			}
			return flows.Applied{Outcome: t.Outcome, Version: versionOf(cur)}, nil
		}
		res, err := s.commit(ctx, ev, cur, t, head)
		if err != nil {
			return flows.Applied{}, fmt.Errorf("%s %s: commit: %w", ev.Kind, id, err)
		}
		switch res[0] {
		case "ok":
			return s.committed(t, res[1]), nil
		case "dup":
			return s.duplicate(ctx, ev, res[1])
		}
		// conflict: someone committed in between; apply to the fresh state.
		// A remembered state that was not the stored one goes, even if its
		// version is higher than the stored one's (Redis lost writes).
		if head != "" {
			s.cache.drop(id)
		}
	}
	return flows.Applied{}, fmt.Errorf("%s %s: %w", ev.Kind, id, flows.ErrConflict)
}

// guess returns the state to try an event on without reading it first.
func (s *Store) guess(ev flows.Event) (*flows.Instance, bool) {
	if ev.Kind == flows.EventStart {
		return nil, true
	}
	return s.cache.get(ev.Instance)
}

// committed records a committed transition's new version, and remembers the
// new state for the next event on the instance.
func (s *Store) committed(t *flows.Transition, version string) flows.Applied {
	v, _ := strconv.ParseInt(version, 10, 64)
	t.Instance.Version = v
	s.cache.put(t.Instance)
	return flows.Applied{Outcome: t.Outcome, Transition: t, Version: v}
}

func versionOf(in *flows.Instance) int64 {
	if in == nil {
		return 0
	}
	return in.Version
}

// idemField is the instance hash's field holding the outcome of the event
// with idempotency key key. It lives as long as the instance, so a
// redelivery is recognised however late it comes.
func idemField(key string) string { return "k:" + key }

// duplicate answers a redelivered event with its first outcome. A fired
// timer's redelivery may be its member under the per-timer name earlier
// versions used ("id|timer"), claimed after the timer fired: its lease goes.
func (s *Store) duplicate(ctx context.Context, ev flows.Event, outcome string) (flows.Applied, error) {
	if ev.Kind == flows.EventTimer {
		if err := s.rdb.ZRem(ctx, s.k.leases(s.k.shardOf(ev.Instance)), ev.Instance+"|"+ev.Timer).Err(); err != nil {
			return flows.Applied{}, fmt.Errorf("release timer %s of %s: %w", ev.Timer, ev.Instance, err)
		}
	}
	return duplicate(outcome)
}

func duplicate(outcome string) (flows.Applied, error) {
	var o flows.Outcome
	if err := json.Unmarshal([]byte(outcome), &o); err != nil {
		return flows.Applied{}, fmt.Errorf("decode stored outcome: %w", err)
	}
	return flows.Applied{Outcome: o, Duplicate: true}, nil
}

// commitReq is one transition waiting for its group commit.
type commitReq struct {
	keys []string // the shard's timers, leases and outbox; instance, audit, index keys
	args []any
	res  []string
	err  error
}

// pipedReq is one command waiting to share a pipeline with others.
type pipedReq struct {
	send func(redis.Cmdable) redis.Cmder // queues (or runs) the command
	cmd  redis.Cmder
}

// piped runs the command send makes on the client, in one round trip with
// the other commands and commits of lane sent meanwhile: reads, and
// reservations of ids, cost a round trip each otherwise.
func piped[C redis.Cmder](ctx context.Context, s *Store, lane int, send func(redis.Cmdable) C) (C, error) {
	r := &pipedReq{send: func(c redis.Cmdable) redis.Cmder { return send(c) }}
	if err := s.lanes[lane].do(ctx, &laneReq{piped: r}); err != nil {
		var none C
		return none, err
	}
	return r.cmd.(C), r.cmd.Err()
}

// pipeBatch runs a batch of commands: a lone one directly, several in one
// pipeline.
func (s *Store) pipeBatch(ctx context.Context, batch []*pipedReq) {
	if len(batch) == 1 {
		batch[0].cmd = batch[0].send(s.rdb)
		return
	}
	p := s.rdb.Pipeline()
	for _, r := range batch {
		r.cmd = r.send(p)
	}
	_, _ = p.Exec(ctx) // each command holds its own result
}

// commit runs the transition script and returns its reply. head is the
// audit head the stored state must have ("": the version alone is checked).
func (s *Store) commit(ctx context.Context, ev flows.Event, cur *flows.Instance, t *flows.Transition, head string) ([]string, error) {
	in := t.Instance
	id := in.ID
	sh := s.k.shardOf(id)
	state, err := json.Marshal(in)
	if err != nil {
		return nil, err
	}
	outcome, err := json.Marshal(t.Outcome)
	if err != nil {
		return nil, err
	}
	// The instance's one timer member, due at its earliest timer: set when
	// that changes, and after a fired timer, whose claim took it.
	release, op, next := "", "", nextDue(in, "")
	if ev.Kind == flows.EventTimer {
		release = id + "|" + ev.Timer
	}
	switch {
	case release == "" && next == nextDue(cur, ""): // unchanged
	case next != "":
		op = "+"
	default:
		op = "-"
	}
	var audit, outbox []any
	for i, a := range t.Audit {
		if len(t.AuditJSON) == len(t.Audit) { // encoded by the engine as it hashed them
			audit = append(audit, t.AuditJSON[i])
			continue
		}
		b, err := json.Marshal(a)
		if err != nil {
			return nil, err
		}
		audit = append(audit, b)
	}
	// Outbox entries, in the effects' order. Consecutive cards (notify,
	// update) share one entry: they go through the instance's queue one
	// after the other, and repeating them after a crash is harmless (a sent
	// card is known by its reference; an update is the same update). A
	// webhook call or an event announcement has an entry of its own: it may
	// be slow or go through another queue, and is acknowledged alone.
	var cards []flows.Effect
	entry := func(effects []flows.Effect) error {
		if len(effects) == 0 {
			return nil
		}
		b, err := json.Marshal(effects)
		outbox = append(outbox, b)
		return err
	}
	for _, e := range t.Effects {
		switch e.Kind {
		case flows.EffectSetTimer, flows.EffectCancelTimer:
			// in the state's Timers, and so in next
		case flows.EffectNotify, flows.EffectUpdate:
			cards = append(cards, e)
		default:
			if err := entry(cards); err != nil {
				return nil, err
			}
			cards = nil
			if err := entry([]flows.Effect{e}); err != nil {
				return nil, err
			}
		}
	}
	if err := entry(cards); err != nil {
		return nil, err
	}
	ixKeys, ixArgs := s.indexOps(sh, cur, in)
	r := &commitReq{}
	r.keys = append([]string{s.k.timers(sh), s.k.leases(sh), s.k.outbox(sh), s.k.instance(id), s.k.audit(id)}, ixKeys...)
	r.args = make([]any, 0, 12+len(audit)+len(outbox)+len(ixArgs))
	r.args = append(r.args, versionOf(cur), state, outcome, id, release, idemField(ev.Key),
		len(audit), op, next, len(outbox), head, in.AuditHead)
	r.args = append(r.args, audit...)
	r.args = append(r.args, outbox...)
	r.args = append(r.args, ixArgs...)
	if err := s.lanes[s.lane(id)].do(ctx, &laneReq{commit: r}); err != nil {
		return nil, err
	}
	if r.err == nil && cur == nil && r.res[0] == "ok" {
		s.flows.Store(flowKey(sh, in.Flow), true)
	}
	return r.res, r.err
}

func flowKey(shard int, flow string) string { return strconv.Itoa(shard) + "/" + flow }

// laneReq is a read or a commit waiting for its lane's next round trip.
type laneReq struct {
	piped  *pipedReq // a read, or a reservation of an id
	commit *commitReq
}

// laneBatch runs a batch of a lane's reads and commits in one round trip:
// the commits in one call of the transition script, pipelined with the
// reads. (An approval is a read and then a commit: sharing round trips
// halves the system calls on both sides. Measured with BenchmarkTransitions
// at 64-way: 13-19% more approvals than with reads and commits batched
// apart.) A connection lost after the script ran, before every reply was
// read, makes go-redis send the batch again (up to MaxRetries): its commits
// then answer as redeliveries of themselves, with their first outcome, as a
// lone script call's would whose reply was lost.
func (s *Store) laneBatch(ctx context.Context, batch []*laneReq) {
	var reads []*pipedReq
	var commits []*commitReq
	for _, r := range batch {
		if r.piped != nil {
			reads = append(reads, r.piped)
		} else {
			commits = append(commits, r.commit)
		}
	}
	if len(commits) == 0 {
		s.pipeBatch(ctx, reads)
		return
	}
	keys, args := commitArgs(commits)
	if len(reads) == 0 {
		settle(commits, transitionScript.Run(ctx, s.rdb, keys, args...))
		return
	}
	p := s.rdb.Pipeline()
	cmd := transitionScript.EvalSha(ctx, p, keys, args...)
	for _, r := range reads {
		r.cmd = r.send(p)
	}
	_, _ = p.Exec(ctx)                               // each command holds its own result
	if redis.HasErrorPrefix(cmd.Err(), "NOSCRIPT") { // Redis lost its scripts: nothing ran
		cmd = transitionScript.Run(ctx, s.rdb, keys, args...)
	}
	settle(commits, cmd)
}

// commitArgs returns the keys and args of one call of the transition script
// committing batch.
func commitArgs(batch []*commitReq) ([]string, []any) {
	nk, na := 0, 0
	for _, r := range batch {
		nk, na = nk+len(r.keys), na+2+len(r.args)
	}
	keys, args := make([]string, 0, nk), make([]any, 0, na)
	for _, r := range batch {
		keys = append(keys, r.keys...)
		args = append(args, len(r.keys), len(r.args))
		args = append(args, r.args...)
	}
	return keys, args
}

// settle sets each transition's result from the script's reply.
func settle(batch []*commitReq, cmd *redis.Cmd) {
	reply, err := cmd.Slice()
	if err == nil && len(reply) != len(batch) {
		err = fmt.Errorf("transition script answered %d results for %d transitions", len(reply), len(batch))
	}
	for i, r := range batch {
		if err != nil {
			r.err = err
			continue
		}
		vals, _ := reply[i].([]any)
		for _, v := range vals {
			str, _ := v.(string)
			r.res = append(r.res, str)
		}
		switch {
		case len(r.res) != 2:
			r.err = fmt.Errorf("transition script answered %v", reply[i])
		case r.res[0] == "err":
			r.err = fmt.Errorf("transition script: %s", r.res[1])
		}
	}
}

// indexOps computes the index changes between two states of an instance.
func (s *Store) indexOps(sh int, old, in *flows.Instance) ([]string, []any) {
	var ks []string
	var args []any
	add := func(key string, score int64) { ks = append(ks, key); args = append(args, "+", score) }
	del := func(key string) { ks = append(ks, key); args = append(args, "-", 0) }
	created := in.Created.UnixMilli()
	if old == nil {
		add(s.k.ixRequester(sh, in.Requester), created)
	}
	if old == nil || old.Status != in.Status {
		if old != nil {
			del(s.k.ixFlow(sh, old.Flow, old.Status))
		}
		add(s.k.ixFlow(sh, in.Flow, in.Status), created)
	}
	if old == nil {
		if _, known := s.flows.Load(flowKey(sh, in.Flow)); !known {
			ks, args = append(ks, s.k.flowsIn(sh)), append(args, "f", in.Flow) // once per process and flow
		}
	}
	var before []string
	if old != nil {
		before = old.Deciders()
	}
	after := in.Deciders()
	for _, p := range before {
		if !slices.Contains(after, p) {
			del(s.k.ixAssignee(sh, p))
		}
	}
	for _, p := range after {
		if !slices.Contains(before, p) {
			add(s.k.ixAssignee(sh, p), in.StepStarted.UnixMilli())
		}
	}
	return ks, args
}

// Audit implements flows.Store.
func (s *Store) Audit(ctx context.Context, id string) ([]flows.AuditEntry, error) {
	raw, err := s.rdb.LRange(ctx, s.k.audit(id), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("audit %s: %w", id, err)
	}
	if len(raw) == 0 {
		if _, err := s.Get(ctx, id); err != nil {
			return nil, err
		}
	}
	out := make([]flows.AuditEntry, len(raw))
	for i, r := range raw {
		if err := json.Unmarshal([]byte(r), &out[i]); err != nil {
			return nil, fmt.Errorf("audit %s entry %d: %w", id, i+1, err)
		}
	}
	return out, nil
}

// List implements flows.Store, in flows.ListOrder from q.After on. It reads one
// index per shard (in one pipeline), then the instances (in a second), and
// filters the rest in memory.
func (s *Store) List(ctx context.Context, q flows.Query) ([]*flows.Instance, error) {
	out, _, err := s.Page(ctx, q)
	return out, err
}

// Page is List for a caller that pages. A filtered listing (a person's
// requests by status, say) reads each index to a depth (Config.ListDepth):
// when that found fewer than q.Limit matches and an index had more, Page
// also returns the place the listing was read up to. Everything up to it
// was looked at: the next page starts after it (a page may then hold fewer
// instances than asked for, and yet not be the last). The zero Place means
// the listing was read to its end, or to q.Limit matches, or (an
// assignee's, whose index is by when steps started, or more instances of
// one millisecond than the depth) that it ends there short.
func (s *Store) Page(ctx context.Context, q flows.Query) ([]*flows.Instance, flows.Place, error) {
	limit := cmp.Or(q.Limit, 100)
	// The indexes are read newest first, then filtered by what they do not
	// key on: when that leaves fewer than limit and an index had more, read
	// again, four times deeper, up to s.depth entries per index.
	for read := limit; ; read = min(4*read, s.depth) {
		last := read >= s.depth
		out, more, upTo, err := s.list(ctx, q, limit, read, last)
		if err != nil || len(out) >= limit || !more {
			return out, flows.Place{}, err
		}
		if last {
			// (More instances of one millisecond than an index is read
			// deep leave no place to go on from: the listing ends.)
			if !upTo.After(q.After) {
				upTo = flows.Place{}
			}
			return out, upTo, nil
		}
	}
}

// entryOrder is flows.ListOrder for index entries scored by creation.
func entryOrder(a, b redis.Z) int {
	return flows.ListOrder(int64(a.Score), a.Member.(string), int64(b.Score), b.Member.(string))
}

// list reads up to read entries of each index q uses, newest first from
// q.After (or q.CreatedBefore), and returns the first limit that match q,
// in flows.ListOrder, whether an index had more, and (listed by creation)
// the place up to which every index was read. It returns only matches that
// come before everything left unread (an index read to its depth may hide a
// newer match than an older one read from another), so that the answer is
// the start of the listing and the next page starts right after it; a
// deeper read finds the rest. A person's tasks, unless read whole, are
// returned only when last: then as read, in order.
func (s *Store) list(ctx context.Context, q flows.Query, limit, read int, last bool) ([]*flows.Instance, bool, flows.Place, error) {
	var indexes func(sh int) []string
	switch {
	case q.Assignee != "":
		indexes = func(sh int) []string { return []string{s.k.ixAssignee(sh, q.Assignee)} }
	case q.Requester != "":
		indexes = func(sh int) []string { return []string{s.k.ixRequester(sh, q.Requester)} }
	default:
		statuses := q.Status
		if len(statuses) == 0 {
			statuses = flows.Statuses
		}
		byShard := map[int][]string{}
		if q.Flow != "" {
			for sh := range s.k.shards {
				byShard[sh] = []string{q.Flow}
			}
		} else {
			var err error
			if byShard, err = s.flowsByShard(ctx); err != nil {
				return nil, false, flows.Place{}, err
			}
		}
		indexes = func(sh int) []string {
			var out []string
			for _, f := range byShard[sh] {
				for _, st := range statuses {
					out = append(out, s.k.ixFlow(sh, f, st))
				}
			}
			return out
		}
	}
	// A person's tasks are scored by when their step started. Listed so
	// (byStep), they are read from the newest step, as deep as read (or,
	// filtered by creation, whole). Paged, they are listed in
	// flows.ListOrder, which that score says nothing of: read whole (deeper
	// until it is), and ordered once loaded. Every other index is scored by
	// creation, and read from the listing's start: q.After's millisecond
	// (its members there that come before it are dropped by matches), or
	// before q.CreatedBefore.
	byCreation := q.Assignee == ""
	byStep := !byCreation && !q.Paged && q.After.ID == ""
	whole := !byCreation && !byStep                // paged tasks: read until whole
	readAll := byStep && !q.CreatedBefore.IsZero() // tasks filtered by creation: whole at once
	top := "+inf"
	if !q.CreatedBefore.IsZero() {
		top = "(" + strconv.FormatInt(q.CreatedBefore.UnixMilli(), 10)
	}
	if ms := q.After.Created.UnixMilli(); q.After.ID != "" && (q.CreatedBefore.IsZero() || ms < q.CreatedBefore.UnixMilli()) {
		top = strconv.FormatInt(ms, 10)
	}
	pipe := s.rdb.Pipeline()
	var cmds []*redis.ZSliceCmd
	for sh := range s.k.shards {
		for _, key := range indexes(sh) {
			switch {
			case byCreation:
				cmds = append(cmds, pipe.ZRevRangeByScoreWithScores(ctx, key, &redis.ZRangeBy{Max: top, Min: "-inf", Count: int64(read)}))
			case readAll:
				cmds = append(cmds, pipe.ZRevRangeWithScores(ctx, key, 0, -1))
			default:
				cmds = append(cmds, pipe.ZRevRangeWithScores(ctx, key, 0, int64(read-1)))
			}
		}
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, false, flows.Place{}, fmt.Errorf("list: %w", err)
	}
	// floor is the last entry read of the full index whose last entry comes
	// first: anything a full index left unread comes after it.
	var ids []redis.Z
	var floor *redis.Z
	more := false
	for _, c := range cmds {
		v := c.Val()
		ids = append(ids, v...)
		if len(v) >= read && !readAll {
			more = true
			if end := v[len(v)-1]; floor == nil || byCreation && entryOrder(end, *floor) < 0 || byStep && end.Score > floor.Score {
				floor = &end
			}
		}
	}
	switch {
	case whole && more && !last:
		return nil, true, flows.Place{}, nil // not read whole: any task left may be in front
	case byStep: // newest step first; only what surely is newer than anything left unread
		slices.SortFunc(ids, func(a, b redis.Z) int {
			return cmp.Or(cmp.Compare(b.Score, a.Score), strings.Compare(b.Member.(string), a.Member.(string)))
		})
		if floor != nil && !last {
			if n := slices.IndexFunc(ids, func(z redis.Z) bool { return z.Score < floor.Score }); n >= 0 {
				ids = ids[:n]
			}
		}
	case byCreation:
		slices.SortFunc(ids, entryOrder)
		// One instance can be read from two indexes of statuses when it
		// moves between them as they are read: it is listed once.
		ids = slices.CompactFunc(ids, func(a, b redis.Z) bool { return a.Member == b.Member })
		if floor != nil { // only what surely comes before anything left unread
			if n := slices.IndexFunc(ids, func(z redis.Z) bool { return entryOrder(z, *floor) > 0 }); n >= 0 {
				ids = ids[:n]
			}
		}
	}
	pipe = s.rdb.Pipeline()
	loads := make([]*redis.SliceCmd, len(ids))
	for i, z := range ids {
		loads[i] = pipe.HMGet(ctx, s.k.instance(z.Member.(string)), "v", "s")
	}
	if len(ids) > 0 {
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return nil, false, flows.Place{}, fmt.Errorf("list: load: %w", err)
		}
	}
	var out []*flows.Instance
	for i, l := range loads {
		vals := l.Val()
		in, err := decodeInstance(ids[i].Member.(string), vals[0], vals[1])
		if err != nil {
			return nil, false, flows.Place{}, err
		}
		if in == nil || !matches(in, q) {
			continue
		}
		out = append(out, in)
		if !whole && len(out) == limit {
			break
		}
	}
	if whole {
		slices.SortFunc(out, flows.InstanceOrder)
		out = out[:min(len(out), limit)]
	}
	var upTo flows.Place
	if byCreation && floor != nil {
		upTo = flows.Place{Created: time.UnixMilli(int64(floor.Score)), ID: floor.Member.(string)}
	}
	return out, more, upTo, nil
}

// flowsByShard returns the flows with instances in each shard, sorted.
func (s *Store) flowsByShard(ctx context.Context) (map[int][]string, error) {
	if err := s.seedFlowSets(ctx); err != nil {
		return nil, err
	}
	return s.flowSets(ctx)
}

// flowSets reads the flowsIn sets as they are (not seeded).
func (s *Store) flowSets(ctx context.Context) (map[int][]string, error) {
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.StringSliceCmd, s.k.shards)
	for sh := range s.k.shards {
		cmds[sh] = pipe.SMembers(ctx, s.k.flowsIn(sh))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("list: flows: %w", err)
	}
	out := map[int][]string{}
	for sh, c := range cmds {
		out[sh] = c.Val()
		slices.Sort(out[sh])
	}
	return out, nil
}

// seedFlowSets makes the flowsIn sets hold the flows of data written by
// versions up to 4542456, which kept an index per status instead: once per
// data, it adds the flows of the ixFlow keys found, and removes the old
// status indexes. It runs at the first listing by status alone, not at
// start-up: it walks the keyspace (SCAN).
func (s *Store) seedFlowSets(ctx context.Context) error {
	if s.seeded.Load() {
		return nil
	}
	n, err := s.rdb.Exists(ctx, s.k.flowsSeeded()).Result()
	if err == nil && n == 0 {
		tag := "{" + s.k.prefix + ":"
		err = s.scan(ctx, []string{tag + "*}:ix:flow:*", tag + "*}:ix:status:*"}, func(pipe redis.Pipeliner, key string) {
			// {PREFIX:N}:ix:flow:FLOW:STATUS, or {PREFIX:N}:ix:status:STATUS
			shard, rest, _ := strings.Cut(strings.TrimPrefix(key, tag), "}:ix:")
			sh, err := strconv.Atoi(shard)
			if flowStatus, ok := strings.CutPrefix(rest, "flow:"); ok && err == nil {
				if i := strings.LastIndexByte(flowStatus, ':'); i > 0 {
					pipe.SAdd(ctx, s.k.flowsIn(sh), flowStatus[:i])
				}
			} else if strings.HasPrefix(rest, "status:") {
				pipe.Unlink(ctx, key)
			}
		})
		if err == nil {
			err = s.rdb.Set(ctx, s.k.flowsSeeded(), "1", 0).Err()
		}
	}
	if err != nil {
		return fmt.Errorf("list: find the flows of earlier data: %w", err)
	}
	s.seeded.Store(true)
	return nil
}

// scan walks the keys matching patterns (on every master of a cluster),
// a page at a time, and runs the commands fn queues for each key in one
// pipeline per page: one key per command, so it works on Cluster too,
// where the keys of a page span slots.
func (s *Store) scan(ctx context.Context, patterns []string, fn func(pipe redis.Pipeliner, key string)) error {
	walk := func(ctx context.Context, c redis.Cmdable) error {
		for _, pattern := range patterns {
			var cursor uint64
			for {
				keys, next, err := c.Scan(ctx, cursor, pattern, 1000).Result()
				if err != nil {
					return err
				}
				pipe := c.Pipeline()
				for _, k := range keys {
					fn(pipe, k)
				}
				if pipe.Len() > 0 {
					if _, err := pipe.Exec(ctx); err != nil {
						return err
					}
				}
				if cursor = next; cursor == 0 {
					break
				}
			}
		}
		return nil
	}
	if cc, ok := s.rdb.(*redis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return walk(ctx, c) })
	}
	return walk(ctx, s.rdb)
}

func matches(in *flows.Instance, q flows.Query) bool {
	return (q.Flow == "" || in.Flow == q.Flow) &&
		(len(q.Status) == 0 || slices.Contains(q.Status, in.Status)) &&
		(q.Requester == "" || in.Requester == q.Requester) &&
		(q.Assignee == "" || slices.Contains(in.Deciders(), q.Assignee)) &&
		(q.CreatedBefore.IsZero() || in.Created.Before(q.CreatedBefore)) &&
		flows.PlaceOf(in).After(q.After)
}

// ClaimTimers implements flows.TimerQueue. An instance has one member in
// its shard's timers, due at its earliest timer (a start adds one member,
// not one per timer): ClaimTimers leases up to n due members per shard,
// reads their instances in one pipeline, and returns every timer of theirs
// that is due, earliest first. An instance with none due (they changed
// since) is put back at its earliest timer. It returns what it could claim,
// with an error for instances it could not read.
func (s *Store) ClaimTimers(ctx context.Context, now time.Time, lease time.Duration, n int) ([]flows.DueTimer, bool, error) {
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.Cmd, s.k.shards)
	for sh := range s.k.shards {
		cmds[sh] = claimScript.Run(ctx, pipe, []string{s.k.timers(sh), s.k.leases(sh)}, now.UnixMilli(), now.Add(lease).UnixMilli(), n)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		// A pipelined EVALSHA fails with NOSCRIPT after a Redis restart; load and retry once.
		if !strings.Contains(err.Error(), "NOSCRIPT") {
			return nil, false, fmt.Errorf("claim timers: %w", err)
		}
		if err := claimScript.Load(ctx, s.rdb).Err(); err != nil {
			return nil, false, fmt.Errorf("claim timers: %w", err)
		}
		return s.ClaimTimers(ctx, now, lease, n)
	}
	var out []flows.DueTimer
	var ids []string
	more := false
	for _, c := range cmds {
		vals, _ := c.StringSlice()
		more = more || len(vals) >= 2*n // a full shard: more may be due there
		for i := 0; i+1 < len(vals); i += 2 {
			if inst, timer, ok := strings.Cut(vals[i], "|"); ok { // one timer, as earlier versions kept them
				ms, _ := strconv.ParseFloat(vals[i+1], 64)
				out = append(out, flows.DueTimer{Instance: inst, Timer: timer, Due: time.UnixMilli(int64(ms)).UTC()})
				continue
			}
			ids = append(ids, vals[i])
		}
	}
	if len(ids) == 0 {
		return out, more, nil
	}
	pipe = s.rdb.Pipeline()
	loads := make([]*redis.SliceCmd, len(ids))
	for i, id := range ids {
		loads[i] = pipe.HMGet(ctx, s.k.instance(id), "v", "s")
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return out, more, fmt.Errorf("claim timers: read instances: %w", err)
	}
	var errs []error
	for i, id := range ids {
		vals := loads[i].Val()
		in, err := decodeInstance(id, vals[0], vals[1])
		if err == nil {
			var due []flows.DueTimer
			due, err = s.claimed(ctx, id, in, now)
			out = append(out, due...)
		}
		if err != nil {
			errs = append(errs, err) // its lease runs out, and it is claimed again
		}
	}
	return out, more, errors.Join(errs...)
}

// ReleaseTimers implements flows.TimerQueue: the lease of the instance, or
// of the timer's member under the per-timer name earlier versions used, if
// still held, ends at at, if that is sooner (a lease retaken since, by
// another caller, is not lengthened).
func (s *Store) ReleaseTimers(ctx context.Context, d flows.DueTimer, at time.Time) error {
	err := s.rdb.ZAddArgs(ctx, s.k.leases(s.k.shardOf(d.Instance)), redis.ZAddArgs{XX: true, LT: true,
		Members: []redis.Z{{Score: float64(at.UnixMilli()), Member: d.Instance}, {Score: float64(at.UnixMilli()), Member: d.Instance + "|" + d.Timer}}}).Err()
	if err != nil {
		return fmt.Errorf("hand back the timers of %s: %w", d.Instance, err)
	}
	return nil
}

// claimed returns the timers of in, a claimed instance, due at now, earliest
// first. If none is (it changed since its member was scored), it puts the
// member back at in's earliest timer, reading the instance again if it
// changes meanwhile.
func (s *Store) claimed(ctx context.Context, id string, in *flows.Instance, now time.Time) ([]flows.DueTimer, error) {
	for range 3 {
		var due []flows.DueTimer
		if in != nil {
			for _, tm := range in.Timers {
				if tm.At.UnixMilli() <= now.UnixMilli() {
					due = append(due, flows.DueTimer{Instance: id, Timer: tm.ID, Due: tm.At})
				}
			}
		}
		if len(due) > 0 {
			slices.SortStableFunc(due, func(a, b flows.DueTimer) int { return a.Due.Compare(b.Due) })
			s.cache.put(in) // firing them starts from this state
			return due, nil
		}
		done, err := s.retime(ctx, in, "", id, "")
		if err != nil || done {
			return nil, err
		}
		if in, err = s.load(ctx, s.rdb, id); err != nil {
			return nil, err
		}
	}
	return nil, nil // still changing: its lease runs out and it is claimed again
}

// retime puts an instance's timer member back, due at its earliest timer
// but except (or removes it if it has none), and drops its lease and the
// lease of legacy, a timer's member under the per-timer name earlier
// versions used ("" if none). It does nothing and answers false if the
// instance changed since in was read.
func (s *Store) retime(ctx context.Context, in *flows.Instance, except, id, legacy string) (bool, error) {
	sh := s.k.shardOf(id)
	done, err := retimeScript.Run(ctx, s.rdb, []string{s.k.timers(sh), s.k.leases(sh), s.k.instance(id)},
		id, versionOf(in), nextDue(in, except), legacy).Int()
	if err != nil {
		return false, fmt.Errorf("put back the timers of %s: %w", id, err)
	}
	return done == 1, nil
}

// nextDue is when an instance's earliest timer but except is due, in unix
// ms as the timers' sorted set scores it, or "" if it has none.
func nextDue(in *flows.Instance, except string) string {
	var at time.Time
	if in != nil {
		for _, t := range in.Timers {
			if t.ID != except && (at.IsZero() || t.At.Before(at)) {
				at = t.At
			}
		}
	}
	if at.IsZero() {
		return ""
	}
	return strconv.FormatInt(at.UnixMilli(), 10)
}

// ReadOutbox implements flows.Outbox. Entries are read without blocking
// (readOutbox).
func (s *Store) ReadOutbox(ctx context.Context, consumer string, n int, idle time.Duration) ([]flows.Delivery, error) {
	out, err := s.readOutbox(ctx, consumer, n, idle)
	if err != nil && strings.Contains(err.Error(), "NOGROUP") { // Redis lost the streams: make them again
		if err := s.Init(ctx); err != nil {
			return nil, err
		}
		out, err = s.readOutbox(ctx, consumer, n, idle)
	}
	if err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	return out, nil
}

// readOutbox reads new entries (or, with idle, reclaims entries idle that
// long) of every shard: on a single Redis new ones with one XREADGROUP of
// all the shards' streams (any keys may share a command there), otherwise
// with one command per shard in one pipeline (on Redis Cluster a command's
// keys must share a slot).
func (s *Store) readOutbox(ctx context.Context, consumer string, n int, idle time.Duration) ([]flows.Delivery, error) {
	if _, single := s.rdb.(*redis.Client); single && idle == 0 {
		return s.readOutboxAtOnce(ctx, consumer, n)
	}
	pipe := s.rdb.Pipeline()
	reads := make([]*redis.XStreamSliceCmd, s.k.shards)
	claims := make([]*redis.XAutoClaimCmd, s.k.shards)
	for sh := range s.k.shards {
		if idle > 0 {
			claims[sh] = pipe.XAutoClaim(ctx, &redis.XAutoClaimArgs{Stream: s.k.outbox(sh), Group: group, Consumer: consumer, MinIdle: idle, Start: "0-0", Count: int64(n)})
		} else {
			reads[sh] = pipe.XReadGroup(ctx, &redis.XReadGroupArgs{Group: group, Consumer: consumer, Streams: []string{s.k.outbox(sh), ">"}, Count: int64(n), Block: -1})
		}
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	var out []flows.Delivery
	for sh := range s.k.shards {
		var msgs []redis.XMessage
		if idle > 0 {
			msgs, _, _ = claims[sh].Result()
		} else {
			for _, st := range reads[sh].Val() {
				msgs = append(msgs, st.Messages...)
			}
		}
		for _, m := range msgs {
			out = append(out, entryEffects(sh, m)...)
		}
	}
	return out, nil
}

// readOutboxAtOnce reads new entries of every shard with one XREADGROUP.
func (s *Store) readOutboxAtOnce(ctx context.Context, consumer string, n int) ([]flows.Delivery, error) {
	streams := make([]string, 0, 2*s.k.shards)
	shardOf := make(map[string]int, s.k.shards)
	for sh := range s.k.shards {
		streams = append(streams, s.k.outbox(sh))
		shardOf[s.k.outbox(sh)] = sh
	}
	for range s.k.shards {
		streams = append(streams, ">")
	}
	res, err := s.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: group, Consumer: consumer, Streams: streams, Count: int64(n), Block: -1}).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	var out []flows.Delivery
	for _, st := range res {
		for _, m := range st.Messages {
			out = append(out, entryEffects(shardOf[st.Stream], m)...)
		}
	}
	return out, nil
}

// entryEffects returns the deliveries of an outbox entry: a JSON array of
// effects of one transition (or, written by an earlier version, one effect).
func entryEffects(sh int, m redis.XMessage) []flows.Delivery {
	d := flows.Delivery{ID: m.ID, Shard: sh, Replay: m.Values["r"] == "1"}
	d.Instance, _ = m.Values["i"].(string)
	raw, _ := m.Values["e"].(string)
	d.Entry = raw
	var effects []flows.Effect
	var err error
	if strings.HasPrefix(raw, "[") {
		err = json.Unmarshal([]byte(raw), &effects)
	} else {
		effects = make([]flows.Effect, 1)
		err = json.Unmarshal([]byte(raw), &effects[0])
	}
	if err != nil || len(effects) == 0 {
		d.Dead = fmt.Sprintf("undecodable entry: %v", cmp.Or[error](err, errors.New("no effects")))
		return []flows.Delivery{d}
	}
	out := make([]flows.Delivery, len(effects))
	for i, e := range effects {
		out[i] = d
		out[i].Part, out[i].Parts, out[i].Effect = i, len(effects), e
	}
	return out
}

// Delivered implements flows.Outbox: one pipeline stores the references,
// keeps dead effects aside, and acknowledges and deletes each entry whose
// last effect is done.
func (s *Store) Delivered(ctx context.Context, done []flows.Delivery) error {
	if len(done) == 0 {
		return nil
	}
	pipe := s.rdb.Pipeline()
	s.keepRefs(ctx, pipe, done)
	acks := map[int][]string{} // entries done, by shard: XACK and XDEL take many
	for _, d := range done {
		if d.Dead != "" {
			e, _ := json.Marshal(d.Effect)
			values := map[string]any{"i": d.Instance, "e": e, "why": d.Dead, "id": d.ID, "part": d.Part}
			if !d.Effect.Kind.Known() { // e cannot show it: keep the entry as stored
				values["entry"] = d.Entry
			}
			pipe.XAdd(ctx, &redis.XAddArgs{Stream: s.k.dead(d.Shard), MaxLen: 10000, Approx: true, Values: values})
		}
		if d.Last() {
			acks[d.Shard] = append(acks[d.Shard], d.ID)
		}
	}
	for sh, ids := range acks {
		pipe.XAck(ctx, s.k.outbox(sh), group, ids...)
		pipe.XDel(ctx, s.k.outbox(sh), ids...)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("acknowledge %d deliveries: %w", len(done), err)
	}
	return nil
}

// Touch implements flows.Outbox: XCLAIM by the same consumer with no
// minimum idle time resets an entry's idle time; the script does it only
// for entries the consumer still holds (one script per shard, one slot).
func (s *Store) Touch(ctx context.Context, consumer string, ds []flows.Delivery) error {
	return s.setIdle(ctx, consumer, ds, 0)
}

// HandBack implements flows.Outbox: the references of the cards ds did
// send are kept (their redelivery does not send them again), and the
// entries are given an idle time of idle, as if their consumer had stopped
// that long ago, so that the next reclaim of entries idle that long (by any
// consumer) takes them at once.
func (s *Store) HandBack(ctx context.Context, consumer string, ds []flows.Delivery, idle time.Duration) error {
	pipe := s.rdb.Pipeline()
	if s.keepRefs(ctx, pipe, ds) {
		if _, err := pipe.Exec(ctx); err != nil {
			return fmt.Errorf("keep the references of %d deliveries: %w", len(ds), err)
		}
	}
	return s.setIdle(ctx, consumer, ds, idle)
}

// keepRefs queues on pipe the storing of the card references ds hold, one
// HSET per instance; it reports whether there were any.
func (s *Store) keepRefs(ctx context.Context, pipe redis.Pipeliner, ds []flows.Delivery) bool {
	refs := map[string]map[string]string{} // by instance
	for _, d := range ds {
		if len(d.Refs) > 0 {
			if refs[d.Instance] == nil {
				refs[d.Instance] = map[string]string{}
			}
			maps.Copy(refs[d.Instance], d.Refs)
		}
	}
	for id, r := range refs {
		pipe.HSet(ctx, s.k.refs(id), r)
	}
	return len(refs) > 0
}

// setIdle sets the idle time of the entries consumer holds among ds.
func (s *Store) setIdle(ctx context.Context, consumer string, ds []flows.Delivery, idle time.Duration) error {
	if len(ds) == 0 {
		return nil
	}
	ids := map[int][]string{}
	seen := map[string]bool{}
	for _, d := range ds {
		if k := strconv.Itoa(d.Shard) + "/" + d.ID; !seen[k] { // an entry's effects share its id
			seen[k] = true
			ids[d.Shard] = append(ids[d.Shard], d.ID)
		}
	}
	for sh, list := range ids {
		args := make([]any, 0, 3+len(list))
		args = append(args, group, consumer, idle.Milliseconds())
		for _, id := range list {
			args = append(args, id)
		}
		if err := touchScript.Run(ctx, s.rdb, []string{s.k.outbox(sh)}, args...).Err(); err != nil {
			return fmt.Errorf("set the idle time of %d deliveries: %w", len(list), err)
		}
	}
	return nil
}

// Refs implements flows.Outbox.
func (s *Store) Refs(ctx context.Context, instance string) (map[string]string, error) {
	cmd, err := piped(ctx, s, s.lane(instance), func(c redis.Cmdable) *redis.MapStringStringCmd {
		return c.HGetAll(ctx, s.k.refs(instance))
	})
	if err != nil {
		return nil, fmt.Errorf("card references of %s: %w", instance, err)
	}
	return cmd.Val(), nil
}

// GetValue returns a shared value (ok false when there is none).
func (s *Store) GetValue(ctx context.Context, ns, key string) (string, bool, error) {
	v, err := s.rdb.Get(ctx, s.k.kv(ns, key)).Result()
	if errors.Is(err, redis.Nil) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("get %s %s: %w", ns, key, err)
	}
	return v, true, nil
}

// SetValue stores a shared value; ttl 0 keeps it until it is overwritten.
func (s *Store) SetValue(ctx context.Context, ns, key, value string, ttl time.Duration) error {
	if err := s.rdb.Set(ctx, s.k.kv(ns, key), value, ttl).Err(); err != nil {
		return fmt.Errorf("set %s %s: %w", ns, key, err)
	}
	return nil
}

// AddValue stores a shared value unless there is one already, and says
// whether it did: of several replicas adding, exactly one does.
func (s *Store) AddValue(ctx context.Context, ns, key, value string, ttl time.Duration) (bool, error) {
	ok, err := s.rdb.SetNX(ctx, s.k.kv(ns, key), value, ttl).Result()
	if err != nil {
		return false, fmt.Errorf("add %s %s: %w", ns, key, err)
	}
	return ok, nil
}

// Claim takes a named piece of once-only work (a daily digest, a scheduled
// start) for ttl: of several replicas asking, exactly one gets true until
// the claim expires. Name each occurrence (e.g. "digest:alice:2026-11-26")
// and hold it longer than the clock skew between replicas.
func (s *Store) Claim(ctx context.Context, name string, ttl time.Duration) (bool, error) {
	ok, err := s.rdb.SetNX(ctx, s.k.claim(name), "1", ttl).Result()
	if err != nil {
		return false, fmt.Errorf("claim %s: %w", name, err)
	}
	return ok, nil
}

// Release gives up a claim before it expires, so the work can be taken
// again at once (it failed).
func (s *Store) Release(ctx context.Context, name string) error {
	if err := s.rdb.Del(ctx, s.k.claim(name)).Err(); err != nil {
		return fmt.Errorf("release %s: %w", name, err)
	}
	return nil
}

// Pending reports how many outbox entries, and instances waiting on a timer, there are.
func (s *Store) Pending(ctx context.Context) (outbox, timers int64, err error) {
	b, err := s.Backlog(ctx)
	return b.Outbox, b.Timers, err
}

// DeleteAll removes every key under the store's prefix. Tests call it to
// clean up; it walks the keyspace with SCAN (on every master in a cluster).
func (s *Store) DeleteAll(ctx context.Context) error {
	return s.scan(ctx, s.k.all(), func(pipe redis.Pipeliner, key string) { pipe.Unlink(ctx, key) })
}
