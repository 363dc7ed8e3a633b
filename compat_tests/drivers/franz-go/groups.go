// group_consume, txn_produce and the admin ops (compat_tests/drivers/README.md).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// groupFields are the request fields of the group, transaction and admin ops.
type groupFields struct {
	Group            string                     `json:"group"`
	Members          int                        `json:"members"`
	Assignor         *string                    `json:"assignor"`
	GroupProtocol    string                     `json:"group_protocol"`
	TopicRegex       *string                    `json:"topic_regex"`
	InstanceIDs      []string                   `json:"instance_ids"`
	SessionTimeoutMs int                        `json:"session_timeout_ms"`
	Commit           bool                       `json:"commit"`
	Leave            bool                       `json:"leave"`
	TransactionalID  string                     `json:"transactional_id"`
	End              string                     `json:"end"`
	SendOffsets      *sendOffsets               `json:"send_offsets"`
	Set              map[string]json.RawMessage `json:"set"`
	Delete           []string                   `json:"delete"`
	Offsets          map[string]int64           `json:"offsets"`
}

type sendOffsets struct {
	Group   string           `json:"group"`
	Topic   string           `json:"topic"`
	Offsets map[string]int64 `json:"offsets"`
}

// member is one consumer of a group_consume run. franz-go does not expose the assignment as a
// value: it is tracked from the OnPartitionsAssigned / Revoked / Lost callbacks (with the
// cooperative balancer these carry only the incremental changes, KIP-429).
type member struct {
	cl       *kgo.Client
	mu       sync.Mutex
	assigned map[int32]bool
	read     map[string]reply
	err      error
	cancel   context.CancelFunc
	done     chan struct{}
}

func (m *member) track(add bool) func(context.Context, *kgo.Client, map[string][]int32) {
	return func(_ context.Context, _ *kgo.Client, tps map[string][]int32) {
		m.mu.Lock()
		defer m.mu.Unlock()
		for _, ps := range tps {
			for _, p := range ps {
				if add {
					m.assigned[p] = true
				} else {
					delete(m.assigned, p)
				}
			}
		}
	}
}

// OnGroupManageError (kgo.HookGroupManageError) keeps a denied group or topic as the member's
// error: kgo logs group-loop errors and rejoins forever, where an application gives up on these.
func (m *member) OnGroupManageError(err error) {
	if !errors.Is(err, kerr.GroupAuthorizationFailed) && !errors.Is(err, kerr.TopicAuthorizationFailed) {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err == nil {
		m.err = err
	}
}

func isContextErr(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

func (m *member) poll(ctx context.Context) {
	defer close(m.done)
	for ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		fetches := m.cl.PollFetches(pctx)
		cancel()
		if fetches.IsClientClosed() {
			return
		}
		m.mu.Lock()
		// pctx is canceled by now: the poll's own timeout is told apart by its error.
		fetches.EachError(func(_ string, _ int32, err error) {
			if ctx.Err() == nil && !isContextErr(err) && m.err == nil {
				m.err = err
			}
		})
		fetches.EachRecord(func(r *kgo.Record) {
			m.read[fmt.Sprintf("%d/%d", r.Partition, r.Offset)] = recordReply(r)
		})
		m.mu.Unlock()
	}
}

// state is the member's assignment (sorted) and the number of records it read from it.
func (m *member) state() ([]int32, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ps := []int32{}
	for p := range m.assigned {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	owned := 0
	for _, r := range m.read {
		if m.assigned[r["partition"].(int32)] {
			owned++
		}
	}
	return ps, owned
}

func (m *member) stop() {
	m.cancel()
	<-m.done
	m.cl.Close() // leaves the group, unless static (InstanceID: no LeaveGroup, KIP-345)
}

// split: every member owns partitions, none is owned twice; returns the union too.
func split(ms []*member) (bool, map[int32]bool, int) {
	all := map[int32]bool{}
	total, owned := 0, 0
	ok := true
	for _, m := range ms {
		ps, n := m.state()
		if len(ps) == 0 {
			ok = false
		}
		for _, p := range ps {
			all[p] = true
		}
		total += len(ps)
		owned += n
	}
	return ok && total == len(all), all, owned
}

func waitFor(ms []*member, deadline time.Time, what string, cond func() bool) error {
	for !cond() {
		for _, m := range ms {
			m.mu.Lock()
			err := m.err
			m.mu.Unlock()
			if err != nil {
				return err
			}
		}
		if time.Now().After(deadline) {
			state := []any{}
			for _, m := range ms {
				ps, n := m.state()
				state = append(state, []any{ps, n})
			}
			return fmt.Errorf("Timeout: %s: members' (assignment, records read): %v", what, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

func (d *driver) groupConsume(req *request) reply {
	balancer := kgo.GroupBalancer(nil)
	kip848 := req.GroupProtocol == "consumer"
	if kip848 {
		// KIP-848 (ServerSideBalancer): kgo speaks ConsumerGroupHeartbeat only with the range or a
		// sticky balancer, whose server-side assignors are "range" and "uniform".
		balancer = kgo.RangeBalancer()
		if req.Assignor != nil {
			switch *req.Assignor {
			case "range":
			case "uniform":
				balancer = kgo.StickyBalancer()
			default:
				return badRequest("unknown server-side assignor " + *req.Assignor)
			}
		}
	} else if req.GroupProtocol != "" && req.GroupProtocol != "classic" {
		return badRequest("unknown group_protocol " + req.GroupProtocol)
	} else if req.Assignor != nil {
		switch *req.Assignor {
		case "range":
			balancer = kgo.RangeBalancer()
		case "roundrobin":
			balancer = kgo.RoundRobinBalancer()
		case "cooperative-sticky":
			balancer = kgo.CooperativeStickyBalancer()
		default:
			return badRequest("unknown assignor " + *req.Assignor)
		}
	}
	n := req.Members
	if n <= 0 {
		n = 1
	}
	session := time.Duration(req.SessionTimeoutMs) * time.Millisecond
	if session <= 0 {
		session = 6 * time.Second
	}
	timeout := time.Duration(req.TimeoutMs) * time.Millisecond
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	deadline := time.Now().Add(timeout)
	ms := []*member{}
	defer func() {
		for _, m := range ms {
			m.stop()
		}
	}()
	for i := 0; i < n; i++ {
		m := &member{assigned: map[int32]bool{}, read: map[string]reply{}, done: make(chan struct{})}
		subscription := req.Topic
		if req.TopicRegex != nil {
			subscription = *req.TopicRegex
		}
		opts := append(d.baseOpts(),
			kgo.ConsumerGroup(req.Group),
			kgo.ConsumeTopics(subscription),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.DisableAutoCommit(),
			kgo.SessionTimeout(session),
			kgo.HeartbeatInterval(500*time.Millisecond),
			kgo.FetchMaxWait(500*time.Millisecond),
			kgo.OnPartitionsAssigned(m.track(true)),
			kgo.OnPartitionsRevoked(m.track(false)),
			kgo.OnPartitionsLost(m.track(false)),
			kgo.WithHooks(m),
		)
		if balancer != nil {
			opts = append(opts, kgo.Balancers(balancer))
		}
		if kip848 {
			opts = append(opts, kgo.ServerSideBalancer())
		}
		if req.TopicRegex != nil {
			// With ServerSideBalancer kgo sends the regex to the broker (SubscribedTopicRegex),
			// wrapped in .*(?:...).* since Go's MatchString matches anywhere in a name.
			opts = append(opts, kgo.ConsumeRegex())
		}
		if req.InstanceIDs != nil {
			opts = append(opts, kgo.InstanceID(req.InstanceIDs[i]))
		}
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			return errReply(err)
		}
		m.cl = cl
		ctx, cancel := context.WithCancel(context.Background())
		m.cancel = cancel
		ms = append(ms, m)
		go m.poll(ctx)
	}
	err := waitFor(ms, deadline, fmt.Sprintf("split and read %d records", req.Count), func() bool {
		ok, _, owned := split(ms)
		return ok && owned >= req.Count
	})
	if err != nil {
		return errReply(err)
	}
	members := []reply{}
	for _, m := range ms {
		ps, _ := m.state()
		m.mu.Lock()
		msgs := []reply{}
		for _, r := range m.read {
			msgs = append(msgs, r)
		}
		m.mu.Unlock()
		members = append(members, reply{"assigned": ps, "messages": msgs})
	}
	out := reply{"members": members}
	if req.Commit {
		for _, m := range ms {
			ctx, cancel := ctxFor(15 * time.Second)
			err := m.cl.CommitUncommittedOffsets(ctx)
			cancel()
			if err != nil {
				return errReply(err)
			}
		}
	}
	if req.Leave {
		_, everything, _ := split(ms)
		ms[0].stop()
		rest := ms[1:]
		ms = rest
		err := waitFor(rest, deadline, "takeover", func() bool {
			ok, union, _ := split(rest)
			return ok && len(union) == len(everything)
		})
		if err != nil {
			return errReply(err)
		}
		after := [][]int32{}
		for _, m := range rest {
			ps, _ := m.state()
			after = append(after, ps)
		}
		out["after_leave"] = after
	}
	return okReply(out)
}

func (d *driver) txnProduce(req *request) reply {
	if req.SendOffsets != nil {
		// kgo commits offsets in a transaction only for what a GroupTransactSession consumed from
		// its own group; it has no call to add arbitrary offsets (AddOffsetsToTxn + TxnOffsetCommit).
		return unsupported("franz-go sends offsets to a transaction only through GroupTransactSession consumption")
	}
	p, ok := d.producers["txn/"+req.TransactionalID]
	if !ok {
		var err error
		p, err = kgo.NewClient(append(d.baseOpts(),
			kgo.TransactionalID(req.TransactionalID),
			kgo.RecordPartitioner(kgo.ManualPartitioner()),
		)...)
		if err != nil {
			return errReply(err)
		}
		d.producers["txn/"+req.TransactionalID] = p
	}
	if err := p.BeginTransaction(); err != nil {
		return errReply(err)
	}
	ctx, cancel := ctxFor(30 * time.Second)
	defer cancel()
	results := []reply{}
	for _, m := range req.Messages {
		r := &kgo.Record{Topic: req.Topic, Key: m.Key.bytes(), Value: m.Value.bytes()}
		if m.Partition != nil {
			r.Partition = *m.Partition
		}
		if err := p.ProduceSync(ctx, r).FirstErr(); err != nil {
			_ = p.EndTransaction(ctx, kgo.TryAbort)
			return errReply(err)
		}
		results = append(results, reply{"partition": r.Partition, "offset": r.Offset})
	}
	end := kgo.TryCommit
	if req.End == "abort" {
		end = kgo.TryAbort
	}
	if err := p.EndTransaction(ctx, end); err != nil {
		return errReply(err)
	}
	return okReply(reply{"results": results})
}

func (d *driver) adminOp(req *request) reply {
	ctx, cancel := ctxFor(30 * time.Second)
	defer cancel()
	switch req.Op {
	case "delete_topic":
		resp, err := d.admin.DeleteTopic(ctx, req.Topic)
		if err == nil {
			err = resp.Err
		}
		if err != nil {
			return errReply(err)
		}
		return okReply(nil)
	case "create_partitions":
		resp, err := d.admin.UpdatePartitions(ctx, req.Count, req.Topic)
		if err == nil {
			err = resp.Error()
		}
		if err != nil {
			return errReply(err)
		}
		return okReply(nil)
	case "describe_configs":
		rcs, err := d.admin.DescribeTopicConfigs(ctx, req.Topic)
		if err != nil {
			return errReply(err)
		}
		rc, err := rcs.On(req.Topic, nil)
		if err == nil {
			err = rc.Err
		}
		if err != nil {
			return errReply(err)
		}
		configs := reply{}
		for _, c := range rc.Configs {
			if c.Value == nil {
				configs[c.Key] = nil
			} else {
				configs[c.Key] = *c.Value
			}
		}
		return okReply(reply{"configs": configs})
	case "alter_configs":
		set, err := configsOf(req.Set)
		if err != nil {
			return badRequest(err.Error())
		}
		alters := []kadm.AlterConfig{}
		for name, v := range set {
			alters = append(alters, kadm.AlterConfig{Op: kadm.SetConfig, Name: name, Value: v})
		}
		for _, name := range req.Delete {
			alters = append(alters, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: name})
		}
		resps, err := d.admin.AlterTopicConfigs(ctx, alters, req.Topic) // IncrementalAlterConfigs
		if err == nil {
			for _, r := range resps {
				if r.Err != nil {
					err = r.Err
				}
			}
		}
		if err != nil {
			return errReply(err)
		}
		return okReply(nil)
	case "delete_records":
		offsets := kadm.Offsets{}
		for p, o := range req.Offsets {
			part, err := strconv.Atoi(p)
			if err != nil {
				return badRequest("bad partition " + p)
			}
			offsets.Add(kadm.Offset{Topic: req.Topic, Partition: int32(part), At: o})
		}
		resps, err := d.admin.DeleteRecords(ctx, offsets)
		if err != nil {
			return errReply(err)
		}
		lows := reply{}
		for _, ps := range resps {
			for p, r := range ps {
				if r.Err != nil {
					return errReply(r.Err)
				}
				lows[strconv.Itoa(int(p))] = r.LowWatermark
			}
		}
		return okReply(reply{"low_watermarks": lows})
	case "list_groups":
		groups, err := d.admin.ListGroups(ctx)
		if err != nil {
			return errReply(err)
		}
		return okReply(reply{"groups": groups.Groups()})
	case "describe_group":
		described, err := d.admin.DescribeGroups(ctx, req.Group)
		if err != nil {
			return errReply(err)
		}
		g, err := described.On(req.Group, nil)
		if err == nil {
			err = g.Err
		}
		if err != nil {
			return errReply(err)
		}
		members := []reply{}
		for _, m := range g.Members {
			members = append(members, reply{"member_id": m.MemberID, "instance_id": m.InstanceID, "assigned": []any{}})
		}
		return okReply(reply{"state": g.State, "members": members})
	case "delete_group":
		resp, err := d.admin.DeleteGroup(ctx, req.Group)
		if err == nil {
			err = resp.Err
		}
		if err != nil {
			return errReply(err)
		}
		return okReply(nil)
	}
	return unsupported("op not implemented by the franz-go driver: " + req.Op)
}
