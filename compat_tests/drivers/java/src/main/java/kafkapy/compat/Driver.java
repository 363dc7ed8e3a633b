package kafkapy.compat;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collections;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndTimestamp;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.KafkaFuture;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.ApiException;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.protocol.Errors;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.utils.AppInfoParser;
import org.json.JSONArray;
import org.json.JSONObject;

/**
 * kafkapy compat driver for Apache Kafka's Java client (kafka-clients): KafkaProducer, KafkaConsumer
 * (assign, no group) and Admin, used as applications use them. One JSON request per line on stdin,
 * one JSON reply per line on stdout (protocol: compat_tests/drivers/README.md); logs on stderr.
 */
public final class Driver {
    static final List<String> OPS = List.of(
            "hello", "create_topic", "metadata", "produce", "consume", "watermarks", "offsets_for_times");
    static final Set<String> CODECS = Set.of("none", "gzip", "snappy", "lz4", "zstd");

    /** Raised for a malformed request; becomes {"ok": false, "error": "BAD_REQUEST"}. */
    static final class BadRequest extends RuntimeException {
        BadRequest(String message) {
            super(message);
        }
    }

    private final String bootstrap;
    private final Map<String, KafkaProducer<byte[], byte[]>> producers = new HashMap<>();
    private Admin admin;
    private KafkaConsumer<byte[], byte[]> lookup;

    Driver(String bootstrap) {
        this.bootstrap = bootstrap;
    }

    public static void main(String[] args) throws Exception {
        String bootstrap = "127.0.0.1:9092";
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--bootstrap") && i + 1 < args.length) {
                bootstrap = args[++i];
            } else if (args[i].startsWith("--bootstrap=")) {
                bootstrap = args[i].substring("--bootstrap=".length());
            }
        }
        // Replies are the only thing on stdout; keep a private handle and send System.out to stderr
        // so that nothing else (a library printing) can corrupt the protocol stream.
        PrintStream out = new PrintStream(System.out, false, StandardCharsets.UTF_8);
        System.setOut(System.err);
        Driver d = new Driver(bootstrap);
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        try {
            String line;
            while ((line = in.readLine()) != null) {
                if (line.isBlank()) {
                    continue;
                }
                JSONObject reply;
                try {
                    reply = d.handle(new JSONObject(line));
                } catch (BadRequest | org.json.JSONException e) {
                    reply = new JSONObject().put("ok", false).put("error", "BAD_REQUEST").put("message", e.getMessage());
                } catch (Exception e) {
                    reply = error(e);
                }
                out.println(reply.toString());
                out.flush();
            }
        } finally {
            d.close();
        }
        System.exit(0);
    }

    JSONObject handle(JSONObject req) throws Exception {
        String op = req.optString("op", "");
        switch (op) {
            case "hello":
                return ok().put("client", "kafka-clients").put("version", AppInfoParser.getVersion()).put("ops", new JSONArray(OPS));
            case "create_topic":
                return createTopic(req);
            case "metadata":
                return metadata(req);
            case "produce":
                return produce(req);
            case "consume":
                return consume(req);
            case "watermarks":
                return watermarks(req);
            case "offsets_for_times":
                return offsetsForTimes(req);
            default:
                return new JSONObject().put("ok", false).put("unsupported", true)
                        .put("message", "op not implemented by the java driver: " + op);
        }
    }

    // ---------------------------------------------------------------- replies and errors

    static JSONObject ok() {
        return new JSONObject().put("ok", true);
    }

    static Throwable unwrap(Throwable e) {
        while ((e instanceof ExecutionException || e instanceof java.util.concurrent.CompletionException)
                && e.getCause() != null) {
            e = e.getCause();
        }
        return e;
    }

    /** Kafka's error name for an ApiException, else the exception's class name. */
    static String errorName(Throwable e) {
        e = unwrap(e);
        if (e instanceof ApiException) {
            return Errors.forException(e).name();
        }
        return e.getClass().getName();
    }

    static JSONObject error(Throwable e) {
        Throwable cause = unwrap(e);
        if (!(cause instanceof ApiException)) {
            cause.printStackTrace(); // not a broker error: the stack (on stderr) says where it came from
        }
        String message = cause.getMessage() == null ? cause.toString() : cause.getMessage();
        return new JSONObject().put("ok", false).put("error", errorName(cause)).put("message", message);
    }

    // ---------------------------------------------------------------- JSON helpers

    static byte[] bytes(Object v) {
        if (v == null || v == JSONObject.NULL) {
            return null;
        }
        return Base64.getDecoder().decode((String) v);
    }

    static Object b64(byte[] b) {
        return b == null ? JSONObject.NULL : Base64.getEncoder().encodeToString(b);
    }

    static boolean isNull(JSONObject o, String key) {
        return !o.has(key) || o.isNull(key);
    }

    // ---------------------------------------------------------------- clients

    Properties common() {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("client.id", "kafkapy-compat-java");
        // Bounded waits: a misbehaving broker must fail the step, not hang the driver for minutes.
        p.put("request.timeout.ms", "15000");
        p.put("default.api.timeout.ms", "20000");
        return p;
    }

    Admin admin() {
        if (admin == null) {
            Properties p = common();
            p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "20000");
            admin = Admin.create(p);
        }
        return admin;
    }

    KafkaConsumer<byte[], byte[]> newConsumer() {
        Properties p = common();
        // No group.id: assign() only, nothing committed.
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        return new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer());
    }

    /** A long-lived consumer for offset lookups (beginningOffsets/endOffsets/offsetsForTimes). */
    KafkaConsumer<byte[], byte[]> lookup() {
        if (lookup == null) {
            lookup = newConsumer();
        }
        return lookup;
    }

    KafkaProducer<byte[], byte[]> producer(String compression, String acks, boolean idempotent, int maxRequestBytes) {
        String key = compression + "/" + acks + "/" + idempotent + "/" + maxRequestBytes;
        return producers.computeIfAbsent(key, k -> {
            Properties p = common();
            p.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, compression);
            p.put(ProducerConfig.ACKS_CONFIG, acks);
            // Explicit either way: the Java client's default is idempotent (with acks=all).
            p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, Boolean.toString(idempotent));
            p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "20000");
            p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "30000");
            if (maxRequestBytes > 0) {
                // The client's own size limit (default 1 MiB); buffer.memory (32 MiB) must hold a record too.
                p.put(ProducerConfig.MAX_REQUEST_SIZE_CONFIG, Integer.toString(maxRequestBytes));
                p.put(ProducerConfig.BUFFER_MEMORY_CONFIG, Long.toString(Math.max(32L << 20, 2L * maxRequestBytes)));
            }
            return new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer());
        });
    }

    void close() {
        for (KafkaProducer<byte[], byte[]> p : producers.values()) {
            p.close(Duration.ofSeconds(5));
        }
        if (lookup != null) {
            lookup.close(Duration.ofSeconds(5));
        }
        if (admin != null) {
            admin.close(Duration.ofSeconds(5));
        }
    }

    // ---------------------------------------------------------------- ops

    JSONObject createTopic(JSONObject req) throws Exception {
        String topic = req.getString("topic");
        Optional<Integer> partitions = isNull(req, "partitions") ? Optional.empty() : Optional.of(req.getInt("partitions"));
        Optional<Short> rf = Optional.of((short) req.optInt("replication_factor", 1));
        NewTopic nt = new NewTopic(topic, partitions, rf);
        JSONObject configs = req.optJSONObject("configs");
        if (configs != null) {
            Map<String, String> c = new HashMap<>();
            for (String name : configs.keySet()) {
                c.put(name, configs.isNull(name) ? null : String.valueOf(configs.get(name)));
            }
            nt.configs(c);
        }
        admin().createTopics(List.of(nt)).all().get(30, TimeUnit.SECONDS);
        return ok();
    }

    JSONObject metadata(JSONObject req) throws Exception {
        Admin a = admin();
        JSONArray brokers = new JSONArray();
        for (Node n : a.describeCluster().nodes().get(30, TimeUnit.SECONDS)) {
            brokers.put(new JSONObject().put("id", n.id()).put("host", n.host()).put("port", n.port()));
        }
        List<String> names = new ArrayList<>();
        if (isNull(req, "topics")) {
            names.addAll(a.listTopics().names().get(30, TimeUnit.SECONDS));
        } else {
            JSONArray t = req.getJSONArray("topics");
            for (int i = 0; i < t.length(); i++) {
                names.add(t.getString(i));
            }
        }
        JSONObject topics = new JSONObject();
        if (!names.isEmpty()) {
            Map<String, KafkaFuture<TopicDescription>> futures = a.describeTopics(names).topicNameValues();
            for (String name : names) {
                JSONObject t = new JSONObject();
                try {
                    t.put("partitions", futures.get(name).get(30, TimeUnit.SECONDS).partitions().size());
                } catch (ExecutionException e) {
                    if (!(unwrap(e) instanceof ApiException)) {
                        unwrap(e).printStackTrace();
                    }
                    t.put("partitions", 0).put("error", errorName(e));
                }
                topics.put(name, t);
            }
        }
        return ok().put("brokers", brokers).put("topics", topics);
    }

    JSONObject produce(JSONObject req) throws Exception {
        String topic = req.getString("topic");
        String compression = req.optString("compression", "none");
        if (compression.isEmpty()) {
            compression = "none";
        }
        if (!CODECS.contains(compression)) {
            return new JSONObject().put("ok", false).put("unsupported", true).put("message", "unknown compression " + compression);
        }
        String acks = isNull(req, "acks") ? "all" : String.valueOf(req.get("acks"));
        if (acks.equals("-1")) {
            acks = "all";
        }
        if (!Set.of("all", "1", "0").contains(acks)) {
            throw new BadRequest("unknown acks " + acks);
        }
        boolean idempotent = req.optBoolean("idempotent", false);
        int maxRequestBytes = isNull(req, "max_request_bytes") ? 0 : req.getInt("max_request_bytes");
        KafkaProducer<byte[], byte[]> p = producer(compression, acks, idempotent, maxRequestBytes);

        JSONArray msgs = req.getJSONArray("messages");
        List<Future<RecordMetadata>> futures = new ArrayList<>();
        for (int i = 0; i < msgs.length(); i++) {
            JSONObject m = msgs.getJSONObject(i);
            List<Header> headers = new ArrayList<>();
            JSONArray hs = m.optJSONArray("headers");
            if (hs != null) {
                for (int j = 0; j < hs.length(); j++) {
                    JSONArray h = hs.getJSONArray(j);
                    headers.add(new RecordHeader(h.getString(0), bytes(h.get(1))));
                }
            }
            Integer partition = isNull(m, "partition") ? null : m.getInt("partition");
            Long timestamp = isNull(m, "timestamp") ? null : m.getLong("timestamp");
            // A null partition leaves the choice to the client's default partitioner (murmur2 of
            // the key; sticky for unkeyed records); a null timestamp is stamped by the client.
            futures.add(p.send(new ProducerRecord<>(topic, partition, timestamp, bytes(m.opt("key")),
                    bytes(m.opt("value")), headers)));
        }
        p.flush();
        JSONArray results = new JSONArray();
        for (Future<RecordMetadata> f : futures) {
            RecordMetadata md = f.get(60, TimeUnit.SECONDS);
            // With acks=0 the client has no broker reply and reports offset -1 itself.
            results.put(new JSONObject().put("partition", md.partition()).put("offset", acks.equals("0") ? -1 : md.offset()));
        }
        return ok().put("results", results);
    }

    JSONObject consume(JSONObject req) throws Exception {
        String topic = req.getString("topic");
        int count = req.optInt("count", 1);
        long timeoutMs = req.optLong("timeout_ms", 10000);
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs);

        String startName = null;
        Map<Integer, Long> startAt = new HashMap<>();
        Object start = req.opt("start");
        if (start == null || start == JSONObject.NULL) {
            startName = "earliest";
        } else if (start instanceof String) {
            startName = (String) start;
            if (!startName.equals("earliest") && !startName.equals("latest")) {
                throw new BadRequest("start must be earliest, latest or {partition: offset}");
            }
        } else if (start instanceof JSONObject) {
            JSONObject s = (JSONObject) start;
            for (String k : s.keySet()) {
                startAt.put(Integer.parseInt(k), s.getLong(k));
            }
        } else {
            throw new BadRequest("start must be earliest, latest or {partition: offset}");
        }

        try (KafkaConsumer<byte[], byte[]> c = newConsumer()) {
            Set<Integer> parts = new TreeSet<>();
            if (!isNull(req, "partitions")) {
                JSONArray ps = req.getJSONArray("partitions");
                for (int i = 0; i < ps.length(); i++) {
                    parts.add(ps.getInt(i));
                }
            } else if (!startAt.isEmpty()) {
                parts.addAll(startAt.keySet());
            } else {
                List<PartitionInfo> infos = c.partitionsFor(topic);
                if (infos == null || infos.isEmpty()) {
                    return new JSONObject().put("ok", false).put("error", Errors.UNKNOWN_TOPIC_OR_PARTITION.name())
                            .put("message", "no partitions for topic " + topic);
                }
                for (PartitionInfo pi : infos) {
                    parts.add(pi.partition());
                }
            }
            List<TopicPartition> tps = new ArrayList<>();
            for (int p : parts) {
                tps.add(new TopicPartition(topic, p));
            }
            c.assign(tps);
            List<TopicPartition> toBeginning = new ArrayList<>();
            List<TopicPartition> toEnd = new ArrayList<>();
            for (TopicPartition tp : tps) {
                Long off = startAt.get(tp.partition());
                if (off != null) {
                    c.seek(tp, off);
                } else if ("latest".equals(startName)) {
                    toEnd.add(tp);
                } else {
                    toBeginning.add(tp);
                }
            }
            if (!toBeginning.isEmpty()) {
                c.seekToBeginning(toBeginning);
            }
            if (!toEnd.isEmpty()) {
                c.seekToEnd(toEnd);
            }

            JSONArray out = new JSONArray();
            while (out.length() < count) {
                long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
                if (left <= 0) {
                    break;
                }
                ConsumerRecords<byte[], byte[]> recs = c.poll(Duration.ofMillis(Math.min(left, 500)));
                for (ConsumerRecord<byte[], byte[]> r : recs) {
                    if (out.length() >= count) {
                        break;
                    }
                    JSONArray hs = new JSONArray();
                    for (Header h : r.headers()) {
                        hs.put(new JSONArray().put(h.key()).put(b64(h.value())));
                    }
                    out.put(new JSONObject()
                            .put("partition", r.partition())
                            .put("offset", r.offset())
                            .put("key", b64(r.key()))
                            .put("value", b64(r.value()))
                            .put("headers", hs)
                            .put("timestamp", r.timestamp()));
                }
            }
            return ok().put("messages", out);
        }
    }

    JSONObject watermarks(JSONObject req) {
        TopicPartition tp = new TopicPartition(req.getString("topic"), req.getInt("partition"));
        KafkaConsumer<byte[], byte[]> c = lookup();
        long low = c.beginningOffsets(List.of(tp)).get(tp);
        long high = c.endOffsets(List.of(tp)).get(tp);
        return ok().put("low", low).put("high", high);
    }

    JSONObject offsetsForTimes(JSONObject req) {
        TopicPartition tp = new TopicPartition(req.getString("topic"), req.getInt("partition"));
        Map<TopicPartition, OffsetAndTimestamp> res = lookup().offsetsForTimes(Map.of(tp, req.getLong("timestamp")));
        OffsetAndTimestamp ot = res.get(tp);
        // The consumer maps the broker's "no such offset" (-1) to a null entry.
        return ok().put("offset", ot == null ? -1 : ot.offset());
    }
}
