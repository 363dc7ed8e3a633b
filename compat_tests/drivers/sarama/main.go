// kafkapy compat driver for IBM/sarama (SyncProducer, Consumer, ClusterAdmin, Client).
//
// Reads one JSON request per line on stdin, writes one JSON reply per line on stdout
// (protocol: compat_tests/drivers/README.md). Logs go to stderr.
//
// The config is sarama.NewConfig() with only what the protocol asks for changed, so the protocol
// versions are sarama's defaults (DefaultVersion, 2.8) as an application that sets nothing gets.
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
	"net"
	"os"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/rcrowley/go-metrics"
)

const clientModule = "github.com/IBM/sarama"

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

// encoder returns nil (a null key/value on the wire) for a null field, else a ByteEncoder.
func (x b64) encoder() sarama.Encoder {
	if !x.set {
		return nil
	}
	return sarama.ByteEncoder(x.b)
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
	MaxRequestBytes   int                        `json:"max_request_bytes"` // the client's own size limit; 0: default
	BatchBytes        int                        `json:"batch_bytes"`       // the client's batch size; 0: default
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

// errName maps an error to Kafka's error name when it carries a KError (directly, or inside
// TopicError / ProducerError / ConsumerError, which all unwrap), otherwise to a Go-ish identifier.
func errName(err error) string {
	var pe sarama.ProducerErrors
	if errors.As(err, &pe) && len(pe) > 0 {
		return errName(pe[0].Err)
	}
	var te *sarama.TopicError
	if errors.As(err, &te) {
		return kerrName(te.Err)
	}
	var ke sarama.KError
	if errors.As(err, &ke) {
		return kerrName(ke)
	}
	// sarama wraps a refused login in ErrOutOfBrokers as a sentinel, which errors.As cannot reach.
	for _, k := range securityErrors {
		if errors.Is(err, k) {
			return kerrName(k)
		}
	}
	switch {
	case errors.Is(err, sarama.ErrOutOfBrokers):
		return "sarama.ErrOutOfBrokers"
	case errors.Is(err, sarama.ErrNotConnected):
		return "sarama.ErrNotConnected"
	case errors.Is(err, sarama.ErrIncompleteResponse):
		return "sarama.ErrIncompleteResponse"
	case errors.Is(err, sarama.ErrInvalidPartition):
		// sarama's check that the partition is one the topic has (async_producer.go): Kafka's
		// UNKNOWN_TOPIC_OR_PARTITION condition.
		return "UNKNOWN_TOPIC_OR_PARTITION"
	case errors.Is(err, sarama.ErrMessageTooLarge):
		// sarama's own client-side check (Producer.MaxMessageBytes), named like Kafka's error.
		return "MESSAGE_TOO_LARGE"
	case errors.Is(err, context.DeadlineExceeded):
		return "context.DeadlineExceeded"
	}
	return fmt.Sprintf("%T", err)
}

// securityErrors are the broker's answers that end a login or deny a resource.
var securityErrors = []sarama.KError{sarama.ErrSASLAuthenticationFailed, sarama.ErrUnsupportedSASLMechanism,
	sarama.ErrIllegalSASLState, sarama.ErrTopicAuthorizationFailed, sarama.ErrGroupAuthorizationFailed,
	sarama.ErrClusterAuthorizationFailed, sarama.ErrTransactionalIDAuthorizationFailed}

func kerrName(k sarama.KError) string {
	if n, ok := kafkaErrorNames[k]; ok {
		return n
	}
	return fmt.Sprintf("KError(%d)", int16(k))
}

func errReply(err error) reply {
	msg := err.Error()
	var pe sarama.ProducerErrors
	if errors.As(err, &pe) && len(pe) > 0 {
		msg = pe[0].Err.Error() // rather than "kafka: Failed to deliver N messages."
	}
	return reply{"ok": false, "error": errName(err), "message": msg}
}

type driver struct {
	addrs     []string
	client    sarama.Client
	admin     sarama.ClusterAdmin
	producers map[string]sarama.SyncProducer
	metrics   map[sarama.SyncProducer]metrics.Registry // each producer's own (its throttle times)
	startErr  error                                    // why client/admin could not be created (they are then nil)
	insecure  string                                   // why --client-config cannot be applied, or ""
}

// clientSecurity is the --client-config, applied to every config the driver makes.
var clientSecurity = &security{protocol: "PLAINTEXT"}

func newConfig() *sarama.Config {
	c := sarama.NewConfig()
	c.ClientID = "kafkapy-compat-sarama"
	c.Metadata.Retry.Max = 3
	c.Metadata.Retry.Backoff = 250 * time.Millisecond
	clientSecurity.apply(c)
	return c
}

func (d *driver) close() {
	for _, p := range d.producers {
		_ = p.Close()
	}
	if d.admin != nil {
		_ = d.admin.Close() // also closes d.client
	}
}

func (d *driver) handle(line []byte) reply {
	var req request
	if err := json.Unmarshal(line, &req); err != nil {
		return badRequest("cannot parse request: " + err.Error())
	}
	if req.Op == "hello" {
		return okReply(reply{"client": "sarama", "version": clientVersion(), "ops": ops})
	}
	if d.insecure != "" {
		return unsupported(d.insecure)
	}
	if d.admin == nil {
		return errReply(d.startErr)
	}
	switch req.Op {
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
	return unsupported("op not implemented by the sarama driver: " + req.Op)
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

// configsOf turns {name: value} into Kafka's string configs; non-string JSON values keep their text.
func configsOf(raw map[string]json.RawMessage) map[string]*string {
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
	return out
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
	detail := &sarama.TopicDetail{
		NumPartitions:     partitions,
		ReplicationFactor: rf,
		ConfigEntries:     configsOf(req.Configs),
	}
	if err := d.admin.CreateTopic(req.Topic, detail, false); err != nil {
		r := errReply(err)
		var te *sarama.TopicError
		if errors.As(err, &te) && te.ErrMsg != nil {
			r["message"] = *te.ErrMsg
		}
		return r
	}
	return okReply(nil)
}

func (d *driver) metadata(req *request) reply {
	var topics []string // nil: all topics
	if req.Topics != nil {
		topics = *req.Topics
	}
	tms, err := d.admin.DescribeTopics(topics)
	if err != nil {
		return errReply(err)
	}
	if err := d.client.RefreshBrokers(d.addrs); err != nil {
		return errReply(err)
	}
	if err := d.client.RefreshMetadata(); err != nil {
		return errReply(err)
	}
	brokers := []reply{}
	for _, b := range d.client.Brokers() {
		host, port, _ := net.SplitHostPort(b.Addr())
		p, _ := strconv.Atoi(port)
		brokers = append(brokers, reply{"id": b.ID(), "host": host, "port": p})
	}
	out := reply{}
	for _, tm := range tms {
		t := reply{"partitions": len(tm.Partitions)}
		if tm.Err != sarama.ErrNoError {
			t["error"] = kerrName(tm.Err)
		}
		out[tm.Name] = t
	}
	return okReply(reply{"brokers": brokers, "topics": out})
}

func acksOf(raw json.RawMessage) (sarama.RequiredAcks, string, error) {
	s := strings.Trim(string(raw), `"`)
	switch s {
	case "", "null", "all", "-1":
		return sarama.WaitForAll, "all", nil
	case "1":
		return sarama.WaitForLocal, "1", nil
	case "0":
		return sarama.NoResponse, "0", nil
	}
	return 0, "", fmt.Errorf("unknown acks %s", s)
}

func codecOf(name string) (sarama.CompressionCodec, bool) {
	switch name {
	case "", "none":
		return sarama.CompressionNone, true
	case "gzip":
		return sarama.CompressionGZIP, true
	case "snappy":
		return sarama.CompressionSnappy, true
	case "lz4":
		return sarama.CompressionLZ4, true
	case "zstd":
		return sarama.CompressionZSTD, true
	}
	return 0, false
}

// producer returns a cached SyncProducer for one combination of settings (config is per producer
// in sarama, as an application would set it up).
func (d *driver) producer(compression, acks string, idempotent, manual bool, maxBytes int) (sarama.SyncProducer, error) {
	key := fmt.Sprintf("%s/%s/%v/%v/%d", compression, acks, idempotent, manual, maxBytes)
	if p, ok := d.producers[key]; ok {
		return p, nil
	}
	c := newConfig()
	c.Producer.Return.Successes = true // required by SyncProducer
	c.Producer.Compression, _ = codecOf(compression)
	c.Producer.RequiredAcks, _, _ = acksOf(json.RawMessage(acks))
	if idempotent {
		// sarama's documented requirements for an idempotent producer.
		c.Producer.Idempotent = true
		c.Net.MaxOpenRequests = 1
	}
	if maxBytes > 0 {
		// sarama's one limit for a message and for a partition's batch in a request.
		c.Producer.MaxMessageBytes = maxBytes
	}
	if manual {
		c.Producer.Partitioner = sarama.NewManualPartitioner
	} // else the default NewHashPartitioner: FNV-1a for keyed messages, random for unkeyed.
	p, err := sarama.NewSyncProducer(d.addrs, c)
	if err != nil {
		return nil, err
	}
	d.producers[key] = p
	d.metrics[p] = c.MetricRegistry
	return p, nil
}

// batchLimit is the smaller of the positive limits asked for (0: sarama's default).
func batchLimit(maxRequestBytes, batchBytes int) int {
	if batchBytes > 0 && (maxRequestBytes <= 0 || batchBytes < maxRequestBytes) {
		return batchBytes
	}
	return maxRequestBytes
}

func decodeHeaders(hs [][]json.RawMessage) ([]sarama.RecordHeader, error) {
	var out []sarama.RecordHeader
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
		out = append(out, sarama.RecordHeader{Key: []byte(name), Value: v.bytes()})
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
	idempotent := req.Idempotent != nil && *req.Idempotent
	// idempotent with acks other than all is left to the client to refuse, as it would for an app.
	msgs := make([]*sarama.ProducerMessage, len(req.Messages))
	for i, m := range req.Messages {
		hs, err := decodeHeaders(m.Headers)
		if err != nil {
			return badRequest(err.Error())
		}
		pm := &sarama.ProducerMessage{Topic: req.Topic, Key: m.Key.encoder(), Value: m.Value.encoder(), Headers: hs}
		if m.Timestamp != nil {
			pm.Timestamp = time.UnixMilli(*m.Timestamp)
		} // a zero Timestamp is stamped with the current time by sarama
		if m.Partition != nil {
			pm.Partition = *m.Partition
		}
		msgs[i] = pm
	}
	var throttleMs int64 // the largest throttle_time_ms the produce responses carried
	// Messages with an explicit partition go through a ManualPartitioner producer, the others
	// through the default one. Consecutive runs of the same kind are sent one after the other, so
	// messages land in request order; SendMessages fills in each message's Partition and Offset.
	for start := 0; start < len(msgs); {
		manual := req.Messages[start].Partition != nil
		end := start + 1
		for end < len(msgs) && (req.Messages[end].Partition != nil) == manual {
			end++
		}
		p, err := d.producer(req.Compression, acks, idempotent, manual, batchLimit(req.MaxRequestBytes, req.BatchBytes))
		if err != nil {
			return errReply(err)
		}
		resetThrottle(d.metrics[p])
		if err := p.SendMessages(msgs[start:end]); err != nil {
			return errReply(err)
		}
		throttleMs = max(throttleMs, maxThrottleMs(d.metrics[p]))
		start = end
	}
	results := make([]reply, len(msgs))
	for i, pm := range msgs {
		off := pm.Offset
		if acks == "0" {
			off = -1 // no reply from the broker, so no offset
		}
		results[i] = reply{"partition": pm.Partition, "offset": off}
	}
	return okReply(reply{"results": results, "throttle_time_ms": throttleMs})
}

func (d *driver) consume(req *request) reply {
	timeout := time.Duration(req.TimeoutMs) * time.Millisecond
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()

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

	c := newConfig()
	c.Consumer.Return.Errors = true
	switch req.IsolationLevel {
	case "", "read_uncommitted":
	case "read_committed":
		c.Consumer.IsolationLevel = sarama.ReadCommitted
	default:
		return badRequest("unknown isolation_level " + req.IsolationLevel)
	}
	consumer, err := sarama.NewConsumer(d.addrs, c)
	if err != nil {
		return errReply(err)
	}
	defer consumer.Close()

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
		parts, err = consumer.Partitions(req.Topic)
		if err != nil {
			return errReply(err)
		}
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })

	type item struct {
		msg *sarama.ConsumerMessage
		err error
	}
	items := make(chan item)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var pcs []sarama.PartitionConsumer
	defer func() {
		close(stop)
		for _, pc := range pcs {
			pc.AsyncClose()
		}
		wg.Wait()
	}()
	for _, p := range parts {
		off, ok := startAt[p]
		switch {
		case ok:
		case startName == "latest":
			off = sarama.OffsetNewest
		default:
			off = sarama.OffsetOldest
		}
		pc, err := consumer.ConsumePartition(req.Topic, p, off)
		if err != nil {
			return errReply(err)
		}
		pcs = append(pcs, pc)
		wg.Add(2)
		go func() {
			defer wg.Done()
			for m := range pc.Messages() {
				select {
				case items <- item{msg: m}:
				case <-stop:
				}
			}
		}()
		go func() {
			defer wg.Done()
			for e := range pc.Errors() {
				select {
				case items <- item{err: e}:
				case <-stop:
				}
			}
		}()
	}

	msgs := []reply{}
	for len(msgs) < req.Count {
		select {
		case it := <-items:
			if it.err != nil {
				return errReply(it.err)
			}
			msgs = append(msgs, messageReply(it.msg))
		case <-deadline.C:
			return okReply(reply{"messages": msgs})
		}
	}
	return okReply(reply{"messages": msgs})
}

func messageReply(m *sarama.ConsumerMessage) reply {
	hs := [][]any{}
	for _, h := range m.Headers {
		hs = append(hs, []any{string(h.Key), enc(h.Value)})
	}
	return reply{
		"partition": m.Partition,
		"offset":    m.Offset,
		"key":       enc(m.Key),
		"value":     enc(m.Value),
		"headers":   hs,
		"timestamp": m.Timestamp.UnixMilli(),
	}
}

func (d *driver) watermarks(req *request) reply {
	low, err := d.client.GetOffset(req.Topic, req.Partition, sarama.OffsetOldest)
	if err != nil {
		return errReply(err)
	}
	high, err := d.client.GetOffset(req.Topic, req.Partition, sarama.OffsetNewest)
	if err != nil {
		return errReply(err)
	}
	return okReply(reply{"low": low, "high": high})
}

func (d *driver) offsetsForTimes(req *request) reply {
	// GetOffset with a timestamp is sarama's by-time lookup; the broker's -1 ("none") comes back as is.
	off, err := d.client.GetOffset(req.Topic, req.Partition, req.Timestamp)
	if err != nil {
		return errReply(err)
	}
	return okReply(reply{"offset": off})
}

func main() {
	bootstrap := flag.String("bootstrap", "127.0.0.1:9092", "host:port of the broker")
	clientConfig := flag.String("client-config", "", "security settings as JSON (drivers/README.md)")
	flag.Parse()
	log.SetOutput(os.Stderr)
	if os.Getenv("SARAMA_DEBUG") != "" {
		sarama.Logger = log.New(os.Stderr, "[sarama] ", log.LstdFlags)
	}

	d := &driver{addrs: []string{*bootstrap}, producers: map[string]sarama.SyncProducer{},
		metrics: map[sarama.SyncProducer]metrics.Registry{}}
	if sec, err := parseSecurity(*clientConfig); err != nil {
		d.insecure = err.Error()
	} else {
		clientSecurity = sec
	}
	// On failure still answer every request, so the runner sees why instead of a dead pipe.
	if d.client, d.startErr = sarama.NewClient(d.addrs, newConfig()); d.startErr != nil {
		log.Printf("sarama client: %v", d.startErr)
	} else if d.admin, d.startErr = sarama.NewClusterAdminFromClient(d.client); d.startErr != nil {
		log.Printf("sarama admin: %v", d.startErr)
	}
	defer d.close()

	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 256<<20)
	out := bufio.NewWriter(os.Stdout)
	for in.Scan() {
		line := in.Bytes()
		if len(strings.TrimSpace(string(line))) == 0 {
			continue
		}
		b, err := json.Marshal(d.handle(line))
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
