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

	"github.com/IBM/sarama"
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

// member is one sarama.ConsumerGroup of a group_consume run; it is also its ConsumerGroupHandler.
// The assignment is the current session's claims (Setup), empty between sessions (Cleanup).
type member struct {
	group    sarama.ConsumerGroup
	mu       sync.Mutex
	session  sarama.ConsumerGroupSession
	assigned []int32
	read     map[string]reply
	err      error
	cancel   context.CancelFunc
	done     chan struct{}
}

func (m *member) Setup(s sarama.ConsumerGroupSession) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.session = s
	m.assigned = nil
	for _, ps := range s.Claims() {
		m.assigned = append(m.assigned, ps...)
	}
	sort.Slice(m.assigned, func(i, j int) bool { return m.assigned[i] < m.assigned[j] })
	return nil
}

func (m *member) Cleanup(sarama.ConsumerGroupSession) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.session, m.assigned = nil, nil
	return nil
}

func (m *member) ConsumeClaim(s sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for msg := range claim.Messages() {
		m.mu.Lock()
		m.read[fmt.Sprintf("%d/%d", msg.Partition, msg.Offset)] = messageReply(msg)
		m.mu.Unlock()
		s.MarkMessage(msg, "") // what Commit() sends (auto-commit is off)
	}
	return nil
}

func (m *member) run(ctx context.Context, topic string) {
	defer close(m.done)
	go func() {
		for err := range m.group.Errors() {
			m.mu.Lock()
			if m.err == nil {
				m.err = err
			}
			m.mu.Unlock()
		}
	}()
	for ctx.Err() == nil {
		if err := m.group.Consume(ctx, []string{topic}, m); err != nil && !errors.Is(err, sarama.ErrClosedConsumerGroup) {
			m.mu.Lock()
			m.err = err
			m.mu.Unlock()
			return
		}
	}
}

func (m *member) state() ([]int32, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	owned := 0
	for _, r := range m.read {
		for _, p := range m.assigned {
			if r["partition"].(int32) == p {
				owned++
			}
		}
	}
	return append([]int32{}, m.assigned...), owned
}

func (m *member) stop() {
	m.cancel()
	_ = m.group.Close() // LeaveGroup, unless static (KIP-345)
	<-m.done
}

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
	c := newConfig()
	c.Consumer.Offsets.Initial = sarama.OffsetOldest
	c.Consumer.Offsets.AutoCommit.Enable = false
	c.Consumer.Return.Errors = true
	c.Consumer.Group.Heartbeat.Interval = 500 * time.Millisecond
	if (req.GroupProtocol != "" && req.GroupProtocol != "classic") || req.TopicRegex != nil {
		return unsupported("sarama has no KIP-848 consumer group protocol (group.protocol=consumer) nor regex subscription")
	}
	c.Consumer.Group.Session.Timeout = 6 * time.Second
	if req.SessionTimeoutMs > 0 {
		c.Consumer.Group.Session.Timeout = time.Duration(req.SessionTimeoutMs) * time.Millisecond
	}
	if req.Assignor != nil {
		switch *req.Assignor {
		case "range":
			c.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategyRange()}
		case "roundrobin":
			c.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategyRoundRobin()}
		case "cooperative-sticky":
			return unsupported("sarama has no cooperative rebalancing (KIP-429)")
		default:
			return badRequest("unknown assignor " + *req.Assignor)
		}
	}
	n := max(req.Members, 1)
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
		mc := *c
		if req.InstanceIDs != nil {
			mc.Consumer.Group.InstanceId = req.InstanceIDs[i]
		}
		g, err := sarama.NewConsumerGroup(d.addrs, req.Group, &mc)
		if err != nil {
			return errReply(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		m := &member{group: g, read: map[string]reply{}, cancel: cancel, done: make(chan struct{})}
		ms = append(ms, m)
		go m.run(ctx, req.Topic)
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
			m.mu.Lock()
			s := m.session
			m.mu.Unlock()
			if s == nil {
				return reply{"ok": false, "error": "NoSession", "message": "member has no session to commit in"}
			}
			s.Commit() // synchronous; errors surface on group.Errors()
		}
		if err := waitFor(ms, deadline, "commit", func() bool { return true }); err != nil {
			return errReply(err)
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

func (d *driver) txnProducer(id string) (sarama.SyncProducer, error) {
	key := "txn/" + id
	if p, ok := d.producers[key]; ok {
		return p, nil
	}
	c := newConfig()
	// sarama's documented requirements for a transactional producer.
	c.Producer.Return.Successes = true
	c.Producer.Idempotent = true
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Producer.Transaction.ID = id
	c.Producer.Partitioner = sarama.NewManualPartitioner
	c.Net.MaxOpenRequests = 1
	p, err := sarama.NewSyncProducer(d.addrs, c)
	if err != nil {
		return nil, err
	}
	d.producers[key] = p
	return p, nil
}

func (d *driver) txnProduce(req *request) reply {
	p, err := d.txnProducer(req.TransactionalID)
	if err != nil {
		return errReply(err)
	}
	if err := p.BeginTxn(); err != nil {
		return errReply(err)
	}
	msgs := []*sarama.ProducerMessage{}
	for _, m := range req.Messages {
		pm := &sarama.ProducerMessage{Topic: req.Topic, Key: m.Key.encoder(), Value: m.Value.encoder()}
		if m.Partition != nil {
			pm.Partition = *m.Partition
		}
		msgs = append(msgs, pm)
	}
	if err := p.SendMessages(msgs); err != nil {
		_ = p.AbortTxn()
		return errReply(err)
	}
	if so := req.SendOffsets; so != nil {
		offsets := []*sarama.PartitionOffsetMetadata{}
		for part, o := range so.Offsets {
			n, err := strconv.Atoi(part)
			if err != nil {
				return badRequest("bad partition " + part)
			}
			offsets = append(offsets, &sarama.PartitionOffsetMetadata{Partition: int32(n), Offset: o})
		}
		if err := p.AddOffsetsToTxn(map[string][]*sarama.PartitionOffsetMetadata{so.Topic: offsets}, so.Group); err != nil {
			_ = p.AbortTxn()
			return errReply(err)
		}
	}
	if req.End == "abort" {
		err = p.AbortTxn()
	} else {
		err = p.CommitTxn()
	}
	if err != nil {
		return errReply(err)
	}
	results := []reply{}
	for _, pm := range msgs {
		results = append(results, reply{"partition": pm.Partition, "offset": pm.Offset})
	}
	return okReply(reply{"results": results})
}

func (d *driver) adminOp(req *request) reply {
	var err error
	switch req.Op {
	case "delete_topic":
		err = d.admin.DeleteTopic(req.Topic)
	case "create_partitions":
		err = d.admin.CreatePartitions(req.Topic, int32(req.Count), nil, false)
	case "describe_configs":
		entries, err := d.admin.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: req.Topic})
		if err != nil {
			return errReply(err)
		}
		configs := reply{}
		for _, e := range entries {
			configs[e.Name] = e.Value
		}
		return okReply(reply{"configs": configs})
	case "alter_configs":
		entries := map[string]sarama.IncrementalAlterConfigsEntry{}
		for name, v := range configsOf(req.Set) {
			entries[name] = sarama.IncrementalAlterConfigsEntry{Operation: sarama.IncrementalAlterConfigsOperationSet, Value: v}
		}
		for _, name := range req.Delete {
			entries[name] = sarama.IncrementalAlterConfigsEntry{Operation: sarama.IncrementalAlterConfigsOperationDelete}
		}
		err = d.admin.IncrementalAlterConfig(sarama.TopicResource, req.Topic, entries, false)
	case "delete_records":
		offsets := map[int32]int64{}
		lows := reply{}
		for part, o := range req.Offsets {
			n, err := strconv.Atoi(part)
			if err != nil {
				return badRequest("bad partition " + part)
			}
			offsets[int32(n)] = o
			lows[part] = nil // sarama does not report the new low watermark
		}
		if err := d.admin.DeleteRecords(req.Topic, offsets); err != nil {
			return errReply(err)
		}
		return okReply(reply{"low_watermarks": lows})
	case "list_groups":
		groups, err := d.admin.ListConsumerGroups()
		if err != nil {
			return errReply(err)
		}
		names := []string{}
		for g := range groups {
			names = append(names, g)
		}
		return okReply(reply{"groups": names})
	case "describe_group":
		ds, err := d.admin.DescribeConsumerGroups([]string{req.Group})
		if err != nil {
			return errReply(err)
		}
		if len(ds) != 1 {
			return reply{"ok": false, "error": "UnexpectedReply", "message": fmt.Sprintf("%d groups described", len(ds))}
		}
		if ds[0].Err != sarama.ErrNoError {
			return errReply(ds[0].Err)
		}
		members := []reply{}
		for id, m := range ds[0].Members {
			members = append(members, reply{"member_id": id, "instance_id": m.GroupInstanceId, "assigned": []any{}})
		}
		return okReply(reply{"state": ds[0].State, "members": members})
	case "delete_group":
		err = d.admin.DeleteConsumerGroup(req.Group)
	default:
		return unsupported("op not implemented by the sarama driver: " + req.Op)
	}
	if err != nil {
		return errReply(err)
	}
	return okReply(nil)
}
