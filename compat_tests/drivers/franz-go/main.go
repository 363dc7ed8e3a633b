// kafkapy compat driver for franz-go (kgo for produce/consume, kadm for admin and offsets).
//
// Reads one JSON request per line on stdin, writes one JSON reply per line on stdout
// (protocol: compat_tests/drivers/README.md). Logs go to stderr.
package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const clientModule = "github.com/twmb/franz-go"

var ops = []string{"hello", "create_topic", "metadata", "produce", "consume", "watermarks", "offsets_for_times",
	"group_consume", "txn_produce", "delete_topic", "create_partitions", "describe_configs", "alter_configs",
	"delete_records", "list_groups", "describe_group", "delete_group"}

// b64 is a JSON bytes field: base64 text, or null (nil). "" decodes to a non-nil empty slice,
// so an empty key stays distinct from a null key.
type b64 struct {
	set bool
	b   []byte
}

func (x *b64) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return err
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return err
	}
	x.set, x.b = true, b
	if x.b == nil {
		x.b = []byte{}
	}
	return nil
}

func (x b64) bytes() []byte {
	if !x.set {
		return nil
	}
	return x.b
}

func enc(b []byte) any {
	if b == nil {
		return nil
	}
	return base64.StdEncoding.EncodeToString(b)
}

type message struct {
	Key       b64                 `json:"key"`
	Value     b64                 `json:"value"`
	Headers   [][]json.RawMessage `json:"headers"`
	Timestamp *int64              `json:"timestamp"`
	Partition *int32              `json:"partition"`
}

type request struct {
	Op                string                     `json:"op"`
	Topic             string                     `json:"topic"`
	Topics            *[]string                  `json:"topics"`
	Partitions        json.RawMessage            `json:"partitions"` // a count (create_topic) or a list (consume)
	Partition         int32                      `json:"partition"`
	ReplicationFactor *int16                     `json:"replication_factor"`
	Configs           map[string]json.RawMessage `json:"configs"`
	Messages          []message                  `json:"messages"`
	Compression       string                     `json:"compression"`
	Acks              json.RawMessage            `json:"acks"`
	Idempotent        *bool                      `json:"idempotent"`
	Start             json.RawMessage            `json:"start"`
	Count             int                        `json:"count"`
	TimeoutMs         int64                      `json:"timeout_ms"`
	Timestamp         int64                      `json:"timestamp"`
	MaxRequestBytes   int32                      `json:"max_request_bytes"` // the client's own size limit; 0: default
	BatchBytes        int32                      `json:"batch_bytes"`       // the client's batch size; 0: default
	IsolationLevel    string                     `json:"isolation_level"`
	groupFields
}

type reply map[string]any

func okReply(fields reply) reply {
	if fields == nil {
		fields = reply{}
	}
	fields["ok"] = true
	return fields
}

func unsupported(msg string) reply {
	return reply{"ok": false, "unsupported": true, "message": msg}
}

func badRequest(msg string) reply {
	return reply{"ok": false, "error": "BAD_REQUEST", "message": msg}
}

// errName maps an error to Kafka's error name when franz-go carries one (kerr.Error holds Kafka's
// upper-snake name, e.g. UNKNOWN_TOPIC_OR_PARTITION), otherwise to a Go-ish identifier.
func errName(err error) string {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Message
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "context.DeadlineExceeded"
	case errors.Is(err, kgo.ErrRecordTimeout):
		return "kgo.ErrRecordTimeout"
	case errors.Is(err, kgo.ErrRecordRetries):
		return "kgo.ErrRecordRetries"
	case errors.Is(err, kgo.ErrClientClosed):
		return "kgo.ErrClientClosed"
	}
	var ae *kadm.AuthError
	if errors.As(err, &ae) {
		return "kadm.AuthError"
	}
	return fmt.Sprintf("%T", err)
}

// kgo reports a record whose explicit partition the topic does not have with a plain error
// (producer.go, "invalid record partitioning choice of N from M available"): that is Kafka's
// UNKNOWN_TOPIC_OR_PARTITION condition, named so.
func isUnknownPartition(err error) bool {
	return strings.HasPrefix(err.Error(), "invalid record partitioning choice")
}

func errReply(err error) reply {
	if isUnknownPartition(err) {
		return reply{"ok": false, "error": "UNKNOWN_TOPIC_OR_PARTITION", "message": err.Error()}
	}
	return reply{"ok": false, "error": errName(err), "message": err.Error()}
}

type driver struct {
	bootstrap string
	security  []kgo.Opt     // TLS and SASL options from --client-config
	insecure  string        // why --client-config cannot be applied (ops answer unsupported), or ""
	throttle  *throttleHook // broker throttle times, reported by produce
	admin     *kadm.Client
	adminKgo  *kgo.Client
	producers map[string]*kgo.Client
}

func (d *driver) baseOpts() []kgo.Opt {
	return append([]kgo.Opt{
		kgo.SeedBrokers(d.bootstrap),
		kgo.ClientID("kafkapy-compat-franz-go"),
		kgo.WithLogger(kgo.BasicLogger(os.Stderr, kgo.LogLevelWarn, nil)),
		kgo.WithHooks(d.throttle),
	}, d.security...)
}

func (d *driver) close() {
	for _, p := range d.producers {
		p.Close()
	}
	if d.adminKgo != nil {
		d.adminKgo.Close()
	}
}

func (d *driver) handle(line []byte) reply {
	var req request
	if err := json.Unmarshal(line, &req); err != nil {
		return badRequest("cannot parse request: " + err.Error())
	}
	if req.Op != "hello" && d.insecure != "" {
		return unsupported(d.insecure)
	}
	switch req.Op {
	case "hello":
		return okReply(reply{"client": "franz-go", "version": clientVersion(), "ops": ops})
	case "create_topic":
		return d.createTopic(&req)
	case "metadata":
		return d.metadata(&req)
	case "produce":
		return d.produce(&req)
	case "consume":
		return d.consume(&req)
	case "watermarks":
		return d.watermarks(&req)
	case "offsets_for_times":
		return d.offsetsForTimes(&req)
	case "group_consume":
		return d.groupConsume(&req)
	case "txn_produce":
		return d.txnProduce(&req)
	case "delete_topic", "create_partitions", "describe_configs", "alter_configs", "delete_records",
		"list_groups", "describe_group", "delete_group":
		return d.adminOp(&req)
	}
	return unsupported("op not implemented by the franz-go driver: " + req.Op)
}

func clientVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, m := range info.Deps {
			if m.Path == clientModule {
				return strings.TrimPrefix(m.Version, "v")
			}
		}
	}
	return "unknown"
}

func ctxFor(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

func (d *driver) createTopic(req *request) reply {
	rf := int16(1)
	if req.ReplicationFactor != nil {
		rf = *req.ReplicationFactor
	}
	partitions := int32(-1) // -1: the broker's default
	if len(req.Partitions) > 0 && string(req.Partitions) != "null" {
		if err := json.Unmarshal(req.Partitions, &partitions); err != nil {
			return badRequest("partitions must be a number")
		}
	}
	configs, err := configsOf(req.Configs)
	if err != nil {
		return badRequest(err.Error())
	}
	ctx, cancel := ctxFor(30 * time.Second)
	defer cancel()
	resp, err := d.admin.CreateTopic(ctx, partitions, rf, configs, req.Topic)
	if err != nil {
		return errReply(err)
	}
	if resp.Err != nil {
		r := errReply(resp.Err)
		if resp.ErrMessage != "" {
			r["message"] = resp.ErrMessage
		}
		return r
	}
	return okReply(nil)
}

// configsOf turns {name: value} into Kafka's string configs; non-string JSON values keep their text.
func configsOf(raw map[string]json.RawMessage) (map[string]*string, error) {
	out := map[string]*string{}
	for k, v := range raw {
		if string(v) == "null" {
			out[k] = nil
			continue
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			s = string(v)
		}
		out[k] = &s
	}
	return out, nil
}

func (d *driver) metadata(req *request) reply {
	ctx, cancel := ctxFor(30 * time.Second)
	defer cancel()
	var topics []string
	if req.Topics != nil {
		topics = *req.Topics
	}
	md, err := d.admin.Metadata(ctx, topics...)
	if err != nil {
		return errReply(err)
	}
	brokers := []reply{}
	for _, b := range md.Brokers {
		brokers = append(brokers, reply{"id": b.NodeID, "host": b.Host, "port": b.Port})
	}
	out := reply{}
	for name, td := range md.Topics {
		t := reply{"partitions": len(td.Partitions)}
		if td.Err != nil {
			t["error"] = errName(td.Err)
		}
		out[name] = t
	}
	return okReply(reply{"brokers": brokers, "topics": out})
}

func acksOf(raw json.RawMessage) (kgo.Acks, string, error) {
	s := strings.Trim(string(raw), `"`)
	switch s {
	case "", "null", "all", "-1":
		return kgo.AllISRAcks(), "all", nil
	case "1":
		return kgo.LeaderAck(), "1", nil
	case "0":
		return kgo.NoAck(), "0", nil
	}
	return kgo.Acks{}, "", fmt.Errorf("unknown acks %s", s)
}

func codecOf(name string) (kgo.CompressionCodec, bool) {
	switch name {
	case "", "none":
		return kgo.NoCompression(), true
	case "gzip":
		return kgo.GzipCompression(), true
	case "snappy":
		return kgo.SnappyCompression(), true
	case "lz4":
		return kgo.Lz4Compression(), true
	case "zstd":
		return kgo.ZstdCompression(), true
	}
	return kgo.CompressionCodec{}, false
}

// producer returns a cached client for one combination of producer settings: in franz-go these are
// client options, as an application would configure them once per client.
func (d *driver) producer(compression, acks string, idempotent, manual bool, maxBytes int32) (*kgo.Client, error) {
	key := fmt.Sprintf("%s/%s/%v/%v/%d", compression, acks, idempotent, manual, maxBytes)
	if p, ok := d.producers[key]; ok {
		return p, nil
	}
	codec, _ := codecOf(compression)
	a, _, _ := acksOf(json.RawMessage(acks))
	opts := append(d.baseOpts(),
		kgo.ProducerBatchCompression(codec),
		kgo.RequiredAcks(a),
		kgo.ProducerLinger(5*time.Millisecond),
		// franz-go asks the broker to auto-create a missing topic only when told to; applications
		// relying on auto.create.topics.enable set this.
		kgo.AllowAutoTopicCreation(),
	)
	if maxBytes > 0 {
		// kgo's one batch limit is also its record size limit: the smaller of the two asked for.
		opts = append(opts, kgo.ProducerBatchMaxBytes(maxBytes))
	}
	if !idempotent {
		opts = append(opts, kgo.DisableIdempotentWrite())
	}
	if manual {
		// Explicit partitions: ManualPartitioner sends each record to its Record.Partition.
		opts = append(opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	} // else the default: StickyKeyPartitioner(nil), murmur2 for keyed records like Java's.
	p, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	// kgo retries a producer's failed connection (a refused SASL login) until the produce context
	// ends; one Metadata round trip first surfaces such an error, as an application's Ping would.
	ctx, cancel := ctxFor(15 * time.Second)
	defer cancel()
	if err := p.Ping(ctx); err != nil {
		p.Close()
		return nil, err
	}
	d.producers[key] = p
	return p, nil
}

// batchLimit is the smaller of the positive limits asked for (0: kgo's default).
func batchLimit(maxRequestBytes, batchBytes int32) int32 {
	if batchBytes > 0 && (maxRequestBytes <= 0 || batchBytes < maxRequestBytes) {
		return batchBytes
	}
	return maxRequestBytes
}

func decodeHeaders(hs [][]json.RawMessage) ([]kgo.RecordHeader, error) {
	var out []kgo.RecordHeader
	for _, h := range hs {
		if len(h) != 2 {
			return nil, fmt.Errorf("header must be [name, value]")
		}
		var name string
		if err := json.Unmarshal(h[0], &name); err != nil {
			return nil, err
		}
		var v b64
		if err := json.Unmarshal(h[1], &v); err != nil {
			return nil, err
		}
		out = append(out, kgo.RecordHeader{Key: name, Value: v.bytes()})
	}
	return out, nil
}

func (d *driver) produce(req *request) reply {
	if _, ok := codecOf(req.Compression); !ok {
		return unsupported("unknown compression " + req.Compression)
	}
	_, acks, err := acksOf(req.Acks)
	if err != nil {
		return badRequest(err.Error())
	}
	// franz-go is idempotent by default; the request says what the application asked for.
	idempotent := req.Idempotent != nil && *req.Idempotent
	// idempotent with acks other than all is left to the client to refuse, as it would for an app.
	records := make([]*kgo.Record, len(req.Messages))
	for i, m := range req.Messages {
		hs, err := decodeHeaders(m.Headers)
		if err != nil {
			return badRequest(err.Error())
		}
		r := &kgo.Record{Topic: req.Topic, Key: m.Key.bytes(), Value: m.Value.bytes(), Headers: hs}
		if m.Timestamp != nil {
			r.Timestamp = time.UnixMilli(*m.Timestamp)
		} // a zero Timestamp is stamped with the current time by the client
		if m.Partition != nil {
			r.Partition = *m.Partition
		}
		records[i] = r
	}
	// Bounded by the context, not kgo.RecordDeliveryTimeout: franz-go measures that timeout from
	// each record's Timestamp, so a record with an explicit old timestamp would expire at once.
	ctx, cancel := ctxFor(60 * time.Second)
	defer cancel()
	// A record with an explicit partition goes through a ManualPartitioner client, one without
	// through the default-partitioner client. Consecutive runs of the same kind are produced and
	// flushed one after the other, so records land in request order.
	errs := make([]error, len(records))
	d.throttle.take() // the reply reports the throttle times of this produce only
	for start := 0; start < len(records); {
		manual := req.Messages[start].Partition != nil
		end := start + 1
		for end < len(records) && (req.Messages[end].Partition != nil) == manual {
			end++
		}
		p, err := d.producer(req.Compression, acks, idempotent, manual, batchLimit(req.MaxRequestBytes, req.BatchBytes))
		if err != nil {
			return errReply(err)
		}
		var wg sync.WaitGroup
		for i := start; i < end; i++ {
			wg.Add(1)
			p.Produce(ctx, records[i], func(_ *kgo.Record, err error) {
				errs[i] = err
				wg.Done()
			})
		}
		wg.Wait()
		start = end
	}
	results := make([]reply, len(records))
	for i, r := range records {
		if errs[i] != nil {
			return errReply(errs[i])
		}
		off := r.Offset
		if acks == "0" {
			off = -1 // no reply from the broker, so no offset
		}
		results[i] = reply{"partition": r.Partition, "offset": off}
	}
	return okReply(reply{"results": results, "throttle_time_ms": d.throttle.take()})
}

// partitionsOf asks the broker for the topic's partitions. Not through kadm.Metadata: that answers
// from the client's metadata cache, which keeps a TOPIC_AUTHORIZATION_FAILED after an ACL grants the
// topic (the acl and mtls security cells).
func (d *driver) partitionsOf(ctx context.Context, topic string) ([]int32, error) {
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, d.adminKgo)
	if err != nil {
		return nil, err
	}
	for _, t := range resp.Topics {
		if t.Topic == nil || *t.Topic != topic {
			continue
		}
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
			return nil, err
		}
		ps := make([]int32, 0, len(t.Partitions))
		for _, p := range t.Partitions {
			ps = append(ps, p.Partition)
		}
		sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
		return ps, nil
	}
	return nil, kerr.UnknownTopicOrPartition
}

func (d *driver) consume(req *request) reply {
	timeout := time.Duration(req.TimeoutMs) * time.Millisecond
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := ctxFor(timeout)
	defer cancel()

	// start: "earliest", "latest" or {"partition": offset}.
	var startName string
	startAt := map[int32]int64{}
	if len(req.Start) == 0 || string(req.Start) == "null" {
		startName = "earliest"
	} else if err := json.Unmarshal(req.Start, &startName); err != nil {
		var m map[string]int64
		if err := json.Unmarshal(req.Start, &m); err != nil {
			return badRequest("start must be earliest, latest or {partition: offset}")
		}
		for k, v := range m {
			p, err := strconv.Atoi(k)
			if err != nil {
				return badRequest("bad partition in start: " + k)
			}
			startAt[int32(p)] = v
		}
	}
	if startName != "" && startName != "earliest" && startName != "latest" {
		return badRequest("start must be earliest, latest or {partition: offset}")
	}
	var parts []int32
	if len(req.Partitions) > 0 && string(req.Partitions) != "null" {
		if err := json.Unmarshal(req.Partitions, &parts); err != nil {
			return badRequest("partitions must be a list or null")
		}
	}
	switch {
	case parts != nil:
	case len(startAt) > 0:
		for p := range startAt {
			parts = append(parts, p)
		}
	default:
		ps, err := d.partitionsOf(ctx, req.Topic)
		if err != nil {
			return errReply(err)
		}
		parts = ps
	}
	assign := map[int32]kgo.Offset{}
	for _, p := range parts {
		o, ok := startAt[p]
		switch {
		case ok:
			assign[p] = kgo.NewOffset().At(o)
		case startName == "latest":
			assign[p] = kgo.NewOffset().AtEnd()
		default:
			assign[p] = kgo.NewOffset().AtStart()
		}
	}
	opts := append(d.baseOpts(),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{req.Topic: assign}),
		kgo.FetchMaxWait(500*time.Millisecond),
	)
	switch req.IsolationLevel {
	case "", "read_uncommitted":
	case "read_committed":
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	default:
		return badRequest("unknown isolation_level " + req.IsolationLevel)
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return errReply(err)
	}
	defer cl.Close()

	msgs := []reply{}
	for len(msgs) < req.Count {
		fetches := cl.PollRecords(ctx, req.Count-len(msgs))
		if ctx.Err() != nil && fetches.Empty() {
			break
		}
		var ferr error
		fetches.EachError(func(_ string, _ int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) && ferr == nil {
				ferr = err
			}
		})
		if ferr != nil {
			return errReply(ferr)
		}
		fetches.EachRecord(func(r *kgo.Record) {
			if len(msgs) >= req.Count {
				return
			}
			msgs = append(msgs, recordReply(r))
		})
	}
	return okReply(reply{"messages": msgs})
}

func recordReply(r *kgo.Record) reply {
	hs := [][]any{}
	for _, h := range r.Headers {
		hs = append(hs, []any{h.Key, enc(h.Value)})
	}
	return reply{
		"partition": r.Partition,
		"offset":    r.Offset,
		"key":       enc(r.Key),
		"value":     enc(r.Value),
		"headers":   hs,
		"timestamp": r.Timestamp.UnixMilli(),
	}
}

func lookup(lo kadm.ListedOffsets, topic string, partition int32) (kadm.ListedOffset, error) {
	o, ok := lo.Lookup(topic, partition)
	if !ok {
		if e, ok := lo.Lookup(topic, -1); ok && e.Err != nil {
			return o, e.Err
		}
		return o, kerr.UnknownTopicOrPartition
	}
	return o, o.Err
}

func (d *driver) watermarks(req *request) reply {
	ctx, cancel := ctxFor(30 * time.Second)
	defer cancel()
	start, err := d.admin.ListStartOffsets(ctx, req.Topic)
	if err != nil {
		return errReply(err)
	}
	lo, err := lookup(start, req.Topic, req.Partition)
	if err != nil {
		return errReply(err)
	}
	end, err := d.admin.ListEndOffsets(ctx, req.Topic)
	if err != nil {
		return errReply(err)
	}
	hi, err := lookup(end, req.Topic, req.Partition)
	if err != nil {
		return errReply(err)
	}
	return okReply(reply{"low": lo.Offset, "high": hi.Offset})
}

func (d *driver) offsetsForTimes(req *request) reply {
	ctx, cancel := ctxFor(30 * time.Second)
	defer cancel()
	res, err := d.admin.ListOffsetsAfterMilli(ctx, req.Timestamp, req.Topic)
	if err != nil {
		return errReply(err)
	}
	o, err := lookup(res, req.Topic, req.Partition)
	if err != nil {
		return errReply(err)
	}
	// When no record is at or after the timestamp the broker answers -1; kadm then re-lists the
	// end offset and reports it with timestamp -1 (documented). The protocol wants -1 for "none".
	if o.Timestamp == -1 {
		return okReply(reply{"offset": int64(-1)})
	}
	return okReply(reply{"offset": o.Offset})
}

func main() {
	bootstrap := flag.String("bootstrap", "127.0.0.1:9092", "host:port of the broker")
	clientConfig := flag.String("client-config", "", "security settings as JSON (drivers/README.md)")
	flag.Parse()
	log.SetOutput(os.Stderr)

	d := &driver{bootstrap: *bootstrap, producers: map[string]*kgo.Client{}, throttle: &throttleHook{}}
	var err error
	if d.security, err = securityOpts(*clientConfig); err != nil {
		d.insecure = err.Error()
	}
	d.adminKgo, err = kgo.NewClient(d.baseOpts()...)
	if err != nil {
		log.Fatalf("franz-go client: %v", err)
	}
	d.admin = kadm.NewClient(d.adminKgo)
	defer d.close()

	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 256<<20)
	out := bufio.NewWriter(os.Stdout)
	for in.Scan() {
		line := in.Bytes()
		if len(strings.TrimSpace(string(line))) == 0 {
			continue
		}
		r := d.handle(line)
		b, err := json.Marshal(r)
		if err != nil {
			b, _ = json.Marshal(reply{"ok": false, "error": "DRIVER_ERROR", "message": err.Error()})
		}
		out.Write(b)
		out.WriteByte('\n')
		out.Flush()
	}
	if err := in.Err(); err != nil {
		log.Printf("stdin: %v", err)
	}
}
