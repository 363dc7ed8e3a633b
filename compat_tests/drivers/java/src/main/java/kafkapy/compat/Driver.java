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
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.DeletedRecords;
import org.apache.kafka.clients.admin.GroupListing;
import org.apache.kafka.clients.admin.ListShareGroupOffsetsSpec;
import org.apache.kafka.clients.admin.SharePartitionOffsetInfo;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.RecordsToDelete;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.AcknowledgeType;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.GroupProtocol;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.KafkaShareConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.consumer.OffsetAndTimestamp;
import org.apache.kafka.clients.consumer.SubscriptionPattern;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.KafkaFuture;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;
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
            "hello", "create_topic", "metadata", "produce", "consume", "watermarks", "offsets_for_times",
            "group_consume", "txn_produce", "delete_topic", "create_partitions", "describe_configs", "alter_configs",
            "delete_records", "list_groups", "describe_group", "delete_group",
            "member_start", "members_await", "member_commit", "member_stop", "share_consume");
    static final Map<String, String> ASSIGNORS = Map.of(
            "range", "org.apache.kafka.clients.consumer.RangeAssignor",
            "roundrobin", "org.apache.kafka.clients.consumer.RoundRobinAssignor",
            "cooperative-sticky", "org.apache.kafka.clients.consumer.CooperativeStickyAssignor");
    static final Set<String> CODECS = Set.of("none", "gzip", "snappy", "lz4", "zstd");

    /** Raised for a malformed request; becomes {"ok": false, "error": "BAD_REQUEST"}. */
    static final class BadRequest extends RuntimeException {
        BadRequest(String message) {
            super(message);
        }
    }

    static final Set<String> SASL_MECHANISMS = Set.of("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512");
    static final Map<String, String> LOGIN_MODULES = Map.of(
            "PLAIN", "org.apache.kafka.common.security.plain.PlainLoginModule",
            "SCRAM-SHA-256", "org.apache.kafka.common.security.scram.ScramLoginModule",
            "SCRAM-SHA-512", "org.apache.kafka.common.security.scram.ScramLoginModule");

    private final String bootstrap;
    /** The client security settings (--client-config), as Java client properties. */
    private final Properties security;
    /** Why the client config cannot be applied (every op but hello answers `unsupported`), or null. */
    private final String unsupportedConfig;
    private final Map<String, KafkaProducer<byte[], byte[]>> producers = new HashMap<>();
    private final Map<String, KafkaProducer<byte[], byte[]>> txnProducers = new HashMap<>();
    private Admin admin;
    private KafkaConsumer<byte[], byte[]> lookup;
    /** Group members started by member_start, by name, polling until member_stop. */
    private final Map<String, Member> live = new HashMap<>();
    private final Map<String, Thread> liveThreads = new HashMap<>();

    Driver(String bootstrap, JSONObject clientConfig) {
        this.bootstrap = bootstrap;
        Properties p = new Properties();
        String reason = null;
        try {
            p = securityProperties(clientConfig);
        } catch (BadRequest e) {
            reason = e.getMessage();
        }
        this.security = p;
        this.unsupportedConfig = reason;
    }

    /** A --client-config key's value, or null when absent or null. */
    static String setting(JSONObject cfg, String key) {
        return isNull(cfg, key) ? null : cfg.getString(key);
    }

    /**
     * The Java client properties for the runner's --client-config (compat_tests/drivers/README.md):
     * security.protocol, SASL PLAIN/SCRAM through sasl.jaas.config, and TLS from a PKCS12
     * truststore/keystore or, failing those, PEM files (ssl.*.type=PEM, KIP-651). A setting this
     * client cannot take raises BadRequest with the reason.
     */
    static Properties securityProperties(JSONObject cfg) {
        Properties p = new Properties();
        String protocol = setting(cfg, "security_protocol");
        if (protocol == null) {
            return p;
        }
        if (!Set.of("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL").contains(protocol)) {
            throw new BadRequest("unknown security_protocol " + protocol);
        }
        p.put("security.protocol", protocol);
        if (protocol.startsWith("SASL_")) {
            String mechanism = setting(cfg, "sasl_mechanism");
            if (!SASL_MECHANISMS.contains(mechanism)) {
                throw new BadRequest("SASL mechanism not set up by the java driver: " + mechanism);
            }
            p.put("sasl.mechanism", mechanism);
            p.put("sasl.jaas.config", LOGIN_MODULES.get(mechanism) + " required username=" + jaasQuote(setting(cfg, "sasl_username"))
                    + " password=" + jaasQuote(setting(cfg, "sasl_password")) + ";");
        }
        if (protocol.endsWith("SSL")) {
            putStore(p, "truststore", setting(cfg, "ssl_truststore_location"), setting(cfg, "ssl_truststore_password"),
                    setting(cfg, "ssl_ca_location"));
            putStore(p, "keystore", setting(cfg, "ssl_keystore_location"), setting(cfg, "ssl_keystore_password"),
                    setting(cfg, "ssl_certificate_location"));
            if (setting(cfg, "ssl_keystore_location") == null && setting(cfg, "ssl_certificate_location") != null) {
                // A PEM keystore is one file holding the client's key and certificate chain.
                p.put("ssl.keystore.location", pemKeystore(setting(cfg, "ssl_certificate_location"), setting(cfg, "ssl_key_location")));
            }
        }
        return p;
    }

    /** ssl.<kind>.* from a PKCS12 file, else from a PEM file (PEM takes no password). */
    static void putStore(Properties p, String kind, String pkcs12, String password, String pem) {
        if (pkcs12 != null) {
            p.put("ssl." + kind + ".location", pkcs12);
            p.put("ssl." + kind + ".type", "PKCS12");
            if (password != null) {
                p.put("ssl." + kind + ".password", password);
                if (kind.equals("keystore")) {
                    p.put("ssl.key.password", password);
                }
            }
        } else if (pem != null) {
            p.put("ssl." + kind + ".location", pem);
            p.put("ssl." + kind + ".type", "PEM");
        }
    }

    /** A temporary PEM file with the key then the certificate chain: Kafka's PEM keystore format. */
    static String pemKeystore(String certificate, String key) {
        if (key == null) {
            throw new BadRequest("ssl_certificate_location without ssl_key_location");
        }
        try {
            java.nio.file.Path f = java.nio.file.Files.createTempFile("kafkapy-compat-keystore", ".pem");
            f.toFile().deleteOnExit();
            String text = java.nio.file.Files.readString(java.nio.file.Path.of(key)) + "\n"
                    + java.nio.file.Files.readString(java.nio.file.Path.of(certificate));
            java.nio.file.Files.writeString(f, text);
            return f.toString();
        } catch (java.io.IOException e) {
            throw new BadRequest("cannot read the client's PEM files: " + e.getMessage());
        }
    }

    /** A JAAS option value in double quotes, with quotes and backslashes escaped. */
    static String jaasQuote(String v) {
        return "\"" + (v == null ? "" : v.replace("\\", "\\\\").replace("\"", "\\\"")) + "\"";
    }

    public static void main(String[] args) throws Exception {
        String bootstrap = "127.0.0.1:9092";
        JSONObject clientConfig = new JSONObject();
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--bootstrap") && i + 1 < args.length) {
                bootstrap = args[++i];
            } else if (args[i].startsWith("--bootstrap=")) {
                bootstrap = args[i].substring("--bootstrap=".length());
            } else if (args[i].equals("--client-config") && i + 1 < args.length) {
                clientConfig = new JSONObject(args[++i]);
            }
        }
        // Replies are the only thing on stdout; keep a private handle and send System.out to stderr
        // so that nothing else (a library printing) can corrupt the protocol stream.
        PrintStream out = new PrintStream(System.out, false, StandardCharsets.UTF_8);
        System.setOut(System.err);
        Driver d = new Driver(bootstrap, clientConfig);
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
        if (unsupportedConfig != null && !op.equals("hello")) {
            return new JSONObject().put("ok", false).put("unsupported", true).put("message", unsupportedConfig);
        }
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
            case "group_consume":
                return groupConsume(req);
            case "txn_produce":
                return txnProduce(req);
            case "delete_topic":
                admin().deleteTopics(List.of(req.getString("topic"))).all().get(30, TimeUnit.SECONDS);
                return ok();
            case "create_partitions":
                admin().createPartitions(Map.of(req.getString("topic"), NewPartitions.increaseTo(req.getInt("count"))))
                        .all().get(30, TimeUnit.SECONDS);
                return ok();
            case "describe_configs":
                return describeConfigs(req);
            case "alter_configs":
                return alterConfigs(req);
            case "delete_records":
                return deleteRecords(req);
            case "list_groups":
                return listGroups();
            case "describe_group":
                return describeGroup(req);
            case "delete_group":
                admin().deleteConsumerGroups(List.of(req.getString("group"))).all().get(30, TimeUnit.SECONDS);
                return ok();
            case "member_start":
                return memberStart(req);
            case "members_await":
                return membersAwait(req);
            case "member_commit":
                return memberCommit(req);
            case "member_stop":
                return memberStop(req);
            case "share_consume":
                return shareConsume(req);
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
            Errors error = Errors.forException(e);
            // A TLS handshake failure (SslAuthenticationException) has no Kafka error code: name its class.
            if (error == Errors.UNKNOWN_SERVER_ERROR && e instanceof org.apache.kafka.common.errors.AuthenticationException) {
                return e.getClass().getName();
            }
            return error.name();
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
        p.putAll(security);
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
        return newConsumer("read_uncommitted");
    }

    KafkaConsumer<byte[], byte[]> newConsumer(String isolationLevel) {
        Properties p = common();
        // No group.id: assign() only, nothing committed.
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, isolationLevel);
        return new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer());
    }

    /** A long-lived consumer for offset lookups (beginningOffsets/endOffsets/offsetsForTimes). */
    KafkaConsumer<byte[], byte[]> lookup() {
        if (lookup == null) {
            lookup = newConsumer();
        }
        return lookup;
    }

    KafkaProducer<byte[], byte[]> producer(String compression, String acks, boolean idempotent, int maxRequestBytes,
            int batchBytes) {
        String key = compression + "/" + acks + "/" + idempotent + "/" + maxRequestBytes + "/" + batchBytes;
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
            if (batchBytes > 0) {
                p.put(ProducerConfig.BATCH_SIZE_CONFIG, Integer.toString(batchBytes));
            }
            return new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer());
        });
    }

    void close() throws InterruptedException {
        live.values().forEach(m -> m.closeRequested = true);
        for (Thread t : liveThreads.values()) {
            t.join(15000);
        }
        for (KafkaProducer<byte[], byte[]> p : producers.values()) {
            p.close(Duration.ofSeconds(5));
        }
        for (KafkaProducer<byte[], byte[]> p : txnProducers.values()) {
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
        int batchBytes = isNull(req, "batch_bytes") ? 0 : req.getInt("batch_bytes");
        KafkaProducer<byte[], byte[]> p = producer(compression, acks, idempotent, maxRequestBytes, batchBytes);

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
        return ok().put("results", results).put("throttle_time_ms", throttleTimeMs(p));
    }

    /**
     * The producer's produce-throttle-time-max metric (the largest throttle_time_ms its produce responses
     * carried in the metric's window, 2 x 30 s), 0 before any produce response.
     */
    static long throttleTimeMs(KafkaProducer<byte[], byte[]> p) {
        for (Map.Entry<org.apache.kafka.common.MetricName, ? extends org.apache.kafka.common.Metric> e : p.metrics().entrySet()) {
            if (e.getKey().group().equals("producer-metrics") && e.getKey().name().equals("produce-throttle-time-max")) {
                double v = (Double) e.getValue().metricValue();
                return Double.isFinite(v) ? (long) v : 0;
            }
        }
        return 0;
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

        String isolation = isNull(req, "isolation_level") ? "read_uncommitted" : req.getString("isolation_level");
        try (KafkaConsumer<byte[], byte[]> c = newConsumer(isolation)) {
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
                    out.put(recordJson(r));
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

    static JSONObject recordJson(ConsumerRecord<byte[], byte[]> r) {
        JSONArray hs = new JSONArray();
        for (Header h : r.headers()) {
            hs.put(new JSONArray().put(h.key()).put(b64(h.value())));
        }
        return new JSONObject()
                .put("partition", r.partition())
                .put("offset", r.offset())
                .put("key", b64(r.key()))
                .put("value", b64(r.value()))
                .put("headers", hs)
                .put("timestamp", r.timestamp());
    }

    // ---------------------------------------------------------------- groups

    /** One consumer of a group_consume run, polling on its own thread (a KafkaConsumer is single-threaded). */
    static final class Member implements Runnable {
        final KafkaConsumer<byte[], byte[]> consumer;
        final String topic;
        /** A broker-side regex subscription (KIP-848, RE2/J syntax), or null: subscribe to {@code topic}. */
        final String regex;
        final Map<String, JSONObject> read = new ConcurrentHashMap<>();
        volatile Set<Integer> assigned = Set.of();
        /** The consumer's position on each partition it owns (where it reads next). */
        volatile Map<Integer, Long> positions = Map.of();
        /** Commits asked for and done: each request commits what was consumed so far (commitSync). */
        volatile int commitsWanted;
        volatile int commitsDone;
        /** The positions the last commit stored. */
        volatile Map<Integer, Long> lastCommit = Map.of();
        volatile boolean closeRequested;
        volatile boolean closed;
        volatile Throwable failure;

        Member(Properties p, String topic, String regex) {
            this.consumer = new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer());
            this.topic = topic;
            this.regex = regex;
        }

        @Override
        public void run() {
            try {
                if (regex != null) {
                    consumer.subscribe(new SubscriptionPattern(regex));
                } else {
                    consumer.subscribe(List.of(topic));
                }
                while (!closeRequested) {
                    for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(200))) {
                        read.put(r.partition() + "/" + r.offset(), recordJson(r));
                    }
                    Set<Integer> now = new TreeSet<>();
                    for (TopicPartition tp : consumer.assignment()) {
                        now.add(tp.partition());
                    }
                    assigned = now;
                    Map<Integer, Long> pos = new TreeMap<>();
                    for (TopicPartition tp : consumer.assignment()) {
                        try {
                            pos.put(tp.partition(), consumer.position(tp, Duration.ofMillis(100)));
                        } catch (org.apache.kafka.common.errors.TimeoutException e) {
                            // Not known yet (the committed offset is being fetched): next poll.
                        }
                    }
                    positions = pos;
                    int wanted = commitsWanted;
                    if (wanted > commitsDone) {
                        consumer.commitSync();
                        lastCommit = pos;
                        commitsDone = wanted;
                    }
                }
            } catch (Throwable t) {
                failure = t;
            } finally {
                // A static member (group.instance.id) sends no LeaveGroup on close (KIP-345).
                consumer.close(Duration.ofSeconds(5));
                closed = true;
            }
        }

        long ownedRead() {
            Set<Integer> mine = assigned;
            return read.values().stream().filter(m -> mine.contains(m.getInt("partition"))).count();
        }
    }

    /** Each member owns partitions and none is owned twice. */
    static boolean split(List<Member> ms) {
        Set<Integer> all = new TreeSet<>();
        int total = 0;
        for (Member m : ms) {
            Set<Integer> a = m.assigned;
            if (a.isEmpty()) {
                return false;
            }
            all.addAll(a);
            total += a.size();
        }
        return total == all.size();
    }

    /** Wait for a condition while members poll; null when it holds, else the error reply. */
    static JSONObject await(List<Member> ms, long deadline, BooleanSupplier cond, String what) throws InterruptedException {
        while (!cond.getAsBoolean()) {
            for (Member m : ms) {
                if (m.failure != null) {
                    return error(m.failure);
                }
            }
            if (System.nanoTime() > deadline) {
                JSONArray state = new JSONArray();
                for (Member m : ms) {
                    state.put(new JSONArray().put(new JSONArray(m.assigned)).put(m.read.size()));
                }
                return new JSONObject().put("ok", false).put("error", "Timeout")
                        .put("message", what + ": members' (assignment, records read): " + state);
            }
            Thread.sleep(50);
        }
        return null;
    }

    // ---------------------------------------------------------------- share groups (KIP-932)

    /** What the share consumers of a share_consume run saw, and the acknowledgement each record gets. */
    static final class ShareRun {
        final Set<String> release = new java.util.HashSet<>();
        final Set<String> reject = new java.util.HashSet<>();
        final Set<String> poison = new java.util.HashSet<>();
        final long count;
        final int poisonDeliveries;
        final List<JSONObject> deliveries = Collections.synchronizedList(new ArrayList<>());

        ShareRun(JSONObject req) {
            for (String key : List.of("release", "reject", "poison")) {
                JSONArray values = req.optJSONArray(key);
                Set<String> into = key.equals("release") ? release : key.equals("reject") ? reject : poison;
                for (int i = 0; values != null && i < values.length(); i++) {
                    into.add(values.getString(i));
                }
            }
            count = req.getLong("count");
            poisonDeliveries = req.optInt("poison_deliveries", 1);
        }

        AcknowledgeType ack(int member, ConsumerRecord<byte[], byte[]> r) {
            String value = String.valueOf(b64(r.value()));
            int deliveryCount = r.deliveryCount().map(Short::intValue).orElse(-1);
            AcknowledgeType type;
            if (reject.contains(value)) {
                type = AcknowledgeType.REJECT;
            } else if (poison.contains(value) || (release.contains(value) && deliveryCount == 1)) {
                type = AcknowledgeType.RELEASE;
            } else {
                type = AcknowledgeType.ACCEPT;
            }
            deliveries.add(recordJson(r).put("member", member)
                    .put("delivery_count", r.deliveryCount().isPresent() ? deliveryCount : JSONObject.NULL)
                    .put("ack", type.name()));
            return type;
        }

        boolean done() {
            Set<String> finished = new java.util.HashSet<>(poison);
            Map<String, Integer> poisoned = new HashMap<>();
            synchronized (deliveries) {
                for (JSONObject d : deliveries) {
                    String value = String.valueOf(d.get("value"));
                    if (!d.getString("ack").equals("RELEASE")) {
                        finished.add(value);
                    }
                    if (poison.contains(value)) {
                        poisoned.merge(value, 1, Integer::sum);
                    }
                }
            }
            return finished.size() >= count && poison.stream().allMatch(v -> poisoned.getOrDefault(v, 0) >= poisonDeliveries);
        }
    }

    /** N KafkaShareConsumers in explicit acknowledgement mode (README.md: share_consume). */
    JSONObject shareConsume(JSONObject req) throws Exception {
        String topic = req.getString("topic");
        String group = req.getString("group");
        int n = req.optInt("members", 1);
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(req.optLong("timeout_ms", 60000));
        ShareRun run = new ShareRun(req);
        Properties p = common();
        p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        p.put("share.acknowledgement.mode", "explicit");
        java.util.concurrent.atomic.AtomicBoolean stop = new java.util.concurrent.atomic.AtomicBoolean();
        List<Throwable> failures = Collections.synchronizedList(new ArrayList<>());
        List<Thread> threads = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            final int member = i;
            Thread t = new Thread(() -> {
                try (KafkaShareConsumer<byte[], byte[]> c =
                        new KafkaShareConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
                    c.subscribe(List.of(topic));
                    while (!stop.get()) {
                        ConsumerRecords<byte[], byte[]> polled = c.poll(Duration.ofMillis(200));
                        for (ConsumerRecord<byte[], byte[]> r : polled) {
                            c.acknowledge(r, run.ack(member, r));
                        }
                        if (!polled.isEmpty()) {
                            c.commitSync();
                        }
                    }
                } catch (Throwable e) {
                    failures.add(e);
                    stop.set(true);
                }
            });
            t.start();
            threads.add(t);
        }
        while (!run.done() && failures.isEmpty() && System.nanoTime() < deadline) {
            Thread.sleep(50);
        }
        boolean finished = run.done();
        if (finished) {
            Thread.sleep(req.optLong("settle_ms", 2000));
        }
        stop.set(true);
        for (Thread t : threads) {
            t.join(30000);
        }
        if (!failures.isEmpty()) {
            return error(failures.get(0));
        }
        if (!finished) {
            return new JSONObject().put("ok", false).put("error", "Timeout")
                    .put("message", "share_consume: not done, deliveries " + new JSONArray(run.deliveries));
        }
        Map<TopicPartition, SharePartitionOffsetInfo> described = admin()
                .listShareGroupOffsets(Map.of(group, new ListShareGroupOffsetsSpec()))
                .partitionsToOffsetInfo(group).get(30, TimeUnit.SECONDS);
        JSONObject offsets = new JSONObject();
        for (Map.Entry<TopicPartition, SharePartitionOffsetInfo> e : described.entrySet()) {
            if (e.getKey().topic().equals(topic)) {
                offsets.put(String.valueOf(e.getKey().partition()), new JSONObject()
                        .put("start_offset", e.getValue().startOffset())
                        .put("lag", e.getValue().lag().map(l -> (Object) l).orElse(JSONObject.NULL)));
            }
        }
        return ok().put("deliveries", new JSONArray(run.deliveries)).put("offsets", offsets);
    }

    JSONObject groupConsume(JSONObject req) throws Exception {
        String topic = req.getString("topic");
        int n = req.optInt("members", 1);
        long count = req.getLong("count");
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(req.optLong("timeout_ms", 30000));
        Properties base = common();
        base.put(ConsumerConfig.GROUP_ID_CONFIG, req.getString("group"));
        base.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        base.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        boolean kip848 = "consumer".equals(req.optString("group_protocol", "classic"));
        String regex = isNull(req, "topic_regex") ? null : req.getString("topic_regex");
        if (kip848) {
            // KIP-848: the broker owns the session timeout, heartbeat interval and assignment (the
            // client refuses the classic settings); a named assignor is one of the broker's.
            base.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, GroupProtocol.CONSUMER.name());
            if (!isNull(req, "assignor")) {
                base.put(ConsumerConfig.GROUP_REMOTE_ASSIGNOR_CONFIG, req.getString("assignor"));
            }
        } else {
            if (regex != null) {
                return new JSONObject().put("ok", false).put("unsupported", true)
                        .put("message", "SubscriptionPattern (broker-side regex) needs group.protocol=consumer");
            }
            base.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, String.valueOf(req.optInt("session_timeout_ms", 6000)));
            base.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, "500");
            if (!isNull(req, "assignor")) {
                String cls = ASSIGNORS.get(req.getString("assignor"));
                if (cls == null) {
                    throw new BadRequest("unknown assignor " + req.getString("assignor"));
                }
                base.put(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG, cls);
            }
        }
        JSONArray ids = req.optJSONArray("instance_ids");
        List<Member> ms = new ArrayList<>();
        List<Thread> threads = new ArrayList<>();
        try {
            for (int i = 0; i < n; i++) {
                Properties p = (Properties) base.clone();
                p.put(ConsumerConfig.CLIENT_ID_CONFIG, "kafkapy-compat-java-" + i);
                if (ids != null) {
                    p.put(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG, ids.getString(i));
                }
                Member m = new Member(p, topic, regex);
                ms.add(m);
                Thread t = new Thread(m, "member-" + i);
                threads.add(t);
                t.start();
            }
            JSONObject failed = await(ms, deadline,
                    () -> split(ms) && ms.stream().mapToLong(Member::ownedRead).sum() >= count,
                    "split and read " + count + " records");
            if (failed != null) {
                return failed;
            }
            JSONArray members = new JSONArray();
            for (Member m : ms) {
                members.put(new JSONObject().put("assigned", new JSONArray(m.assigned))
                        .put("messages", new JSONArray(m.read.values())));
            }
            JSONObject reply = ok().put("members", members);
            if (req.optBoolean("commit", false)) {
                ms.forEach(m -> m.commitsWanted = 1);
                failed = await(ms, deadline, () -> ms.stream().allMatch(m -> m.commitsDone >= 1), "commit");
                if (failed != null) {
                    return failed;
                }
            }
            if (req.optBoolean("leave", false)) {
                Set<Integer> everything = new TreeSet<>();
                ms.forEach(m -> everything.addAll(m.assigned));
                ms.get(0).closeRequested = true;
                threads.get(0).join(15000);
                List<Member> rest = ms.subList(1, ms.size());
                failed = await(rest, deadline, () -> {
                    Set<Integer> union = new TreeSet<>();
                    rest.forEach(m -> union.addAll(m.assigned));
                    return split(rest) && union.equals(everything);
                }, "takeover");
                if (failed != null) {
                    return failed;
                }
                JSONArray after = new JSONArray();
                rest.forEach(m -> after.put(new JSONArray(m.assigned)));
                reply.put("after_leave", after);
            }
            return reply;
        } finally {
            ms.forEach(m -> m.closeRequested = true);
            for (Thread t : threads) {
                t.join(15000);
            }
        }
    }

    // ---------------------------------------------------------------- live members (member_* ops)

    /** Starts one group member that subscribes and polls on its own thread until member_stop. */
    JSONObject memberStart(JSONObject req) {
        String name = req.getString("name");
        if (live.containsKey(name)) {
            throw new BadRequest("member " + name + " is already running");
        }
        Properties p = common();
        p.put(ConsumerConfig.GROUP_ID_CONFIG, req.getString("group"));
        p.put(ConsumerConfig.CLIENT_ID_CONFIG, "kafkapy-compat-java-" + name);
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        String protocol = req.optString("group_protocol", "classic");
        p.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, protocol);
        if (protocol.equals("classic")) {
            // The consumer protocol refuses these client settings: the broker's group configs rule there.
            p.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, String.valueOf(req.optInt("session_timeout_ms", 6000)));
            p.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, "500");
            if (!isNull(req, "assignor")) {
                String cls = ASSIGNORS.get(req.getString("assignor"));
                if (cls == null) {
                    throw new BadRequest("unknown assignor " + req.getString("assignor"));
                }
                p.put(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG, cls);
            }
        }
        Member m = new Member(p, req.getString("topic"), null);
        Thread t = new Thread(m, "member-" + name);
        live.put(name, m);
        liveThreads.put(name, t);
        t.start();
        return ok();
    }

    Member liveMember(String name) {
        Member m = live.get(name);
        if (m == null) {
            throw new BadRequest("no running member " + name);
        }
        return m;
    }

    /** Waits until the named members split the partitions and each owner's position reached `positions`. */
    JSONObject membersAwait(JSONObject req) throws InterruptedException {
        List<Member> ms = new ArrayList<>();
        JSONArray names = req.getJSONArray("names");
        for (int i = 0; i < names.length(); i++) {
            ms.add(liveMember(names.getString(i)));
        }
        int partitions = req.getInt("partitions");
        JSONObject want = req.optJSONObject("positions");
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(req.optLong("timeout_ms", 30000));
        JSONObject failed = await(ms, deadline, () -> {
            Set<Integer> union = new TreeSet<>();
            ms.forEach(m -> union.addAll(m.assigned));
            if (!split(ms) || union.size() != partitions) {
                return false;
            }
            for (Member m : ms) {
                Map<Integer, Long> pos = m.positions;
                for (int part : m.assigned) {
                    long target = want == null ? 0 : want.optLong(String.valueOf(part), 0);
                    if (pos.getOrDefault(part, -1L) < target) {
                        return false;
                    }
                }
            }
            return true;
        }, "split and reach the positions");
        if (failed != null) {
            return failed;
        }
        JSONArray members = new JSONArray();
        for (Member m : ms) {
            members.put(new JSONObject().put("assigned", new JSONArray(m.assigned)).put("positions", new JSONObject(m.positions)));
        }
        return ok().put("members", members);
    }

    /** Commits what the member consumed (commitSync on its thread); the reply has the committed positions. */
    JSONObject memberCommit(JSONObject req) throws InterruptedException {
        Member m = liveMember(req.getString("name"));
        int round = m.commitsWanted + 1;
        m.commitsWanted = round;
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(req.optLong("timeout_ms", 30000));
        JSONObject failed = await(List.of(m), deadline, () -> m.commitsDone >= round, "commit");
        return failed != null ? failed : ok().put("offsets", new JSONObject(m.lastCommit));
    }

    /** Closes the member (it leaves the group); the reply has every record it read and its last assignment. */
    JSONObject memberStop(JSONObject req) throws InterruptedException {
        String name = req.getString("name");
        Member m = liveMember(name);
        m.closeRequested = true;
        liveThreads.get(name).join(15000);
        live.remove(name);
        liveThreads.remove(name);
        if (!m.closed) {
            return new JSONObject().put("ok", false).put("error", "Timeout").put("message", "member " + name + " did not close");
        }
        if (m.failure != null) {
            return error(m.failure);
        }
        return ok().put("assigned", new JSONArray(m.assigned)).put("messages", new JSONArray(m.read.values()));
    }

    // ---------------------------------------------------------------- transactions

    JSONObject txnProduce(JSONObject req) throws Exception {
        String tid = req.getString("transactional_id");
        KafkaProducer<byte[], byte[]> p = txnProducers.computeIfAbsent(tid, k -> {
            Properties props = common();
            props.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, k);
            props.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "20000");
            KafkaProducer<byte[], byte[]> created = new KafkaProducer<>(props, new ByteArraySerializer(), new ByteArraySerializer());
            created.initTransactions();
            return created;
        });
        String topic = req.getString("topic");
        p.beginTransaction();
        JSONArray msgs = req.getJSONArray("messages");
        List<Future<RecordMetadata>> futures = new ArrayList<>();
        for (int i = 0; i < msgs.length(); i++) {
            JSONObject m = msgs.getJSONObject(i);
            Integer partition = isNull(m, "partition") ? null : m.getInt("partition");
            futures.add(p.send(new ProducerRecord<>(topic, partition, null, bytes(m.opt("key")), bytes(m.opt("value")))));
        }
        p.flush();
        JSONArray results = new JSONArray();
        for (Future<RecordMetadata> f : futures) {
            RecordMetadata md = f.get(60, TimeUnit.SECONDS);
            results.put(new JSONObject().put("partition", md.partition()).put("offset", md.offset()));
        }
        JSONObject so = req.optJSONObject("send_offsets");
        if (so != null) {
            Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
            JSONObject positions = so.getJSONObject("offsets");
            for (String part : positions.keySet()) {
                offsets.put(new TopicPartition(so.getString("topic"), Integer.parseInt(part)),
                        new OffsetAndMetadata(positions.getLong(part)));
            }
            p.sendOffsetsToTransaction(offsets, new ConsumerGroupMetadata(so.getString("group")));
        }
        if (req.optString("end", "commit").equals("commit")) {
            p.commitTransaction();
        } else {
            p.abortTransaction();
        }
        return ok().put("results", results);
    }

    // ---------------------------------------------------------------- admin

    JSONObject describeConfigs(JSONObject req) throws Exception {
        ConfigResource r = new ConfigResource(ConfigResource.Type.TOPIC, req.getString("topic"));
        Config config = admin().describeConfigs(List.of(r)).all().get(30, TimeUnit.SECONDS).get(r);
        JSONObject configs = new JSONObject();
        for (ConfigEntry e : config.entries()) {
            configs.put(e.name(), e.value() == null ? JSONObject.NULL : e.value());
        }
        return ok().put("configs", configs);
    }

    JSONObject alterConfigs(JSONObject req) throws Exception {
        ConfigResource r = new ConfigResource(ConfigResource.Type.TOPIC, req.getString("topic"));
        List<AlterConfigOp> ops = new ArrayList<>();
        JSONObject set = req.optJSONObject("set");
        if (set != null) {
            for (String name : set.keySet()) {
                ops.add(new AlterConfigOp(new ConfigEntry(name, String.valueOf(set.get(name))), AlterConfigOp.OpType.SET));
            }
        }
        JSONArray delete = req.optJSONArray("delete");
        for (int i = 0; delete != null && i < delete.length(); i++) {
            ops.add(new AlterConfigOp(new ConfigEntry(delete.getString(i), null), AlterConfigOp.OpType.DELETE));
        }
        admin().incrementalAlterConfigs(Map.of(r, ops)).all().get(30, TimeUnit.SECONDS);
        return ok();
    }

    JSONObject deleteRecords(JSONObject req) throws Exception {
        String topic = req.getString("topic");
        JSONObject offsets = req.getJSONObject("offsets");
        Map<TopicPartition, RecordsToDelete> wanted = new HashMap<>();
        for (String part : offsets.keySet()) {
            wanted.put(new TopicPartition(topic, Integer.parseInt(part)), RecordsToDelete.beforeOffset(offsets.getLong(part)));
        }
        JSONObject lows = new JSONObject();
        for (Map.Entry<TopicPartition, KafkaFuture<DeletedRecords>> e : admin().deleteRecords(wanted).lowWatermarks().entrySet()) {
            lows.put(String.valueOf(e.getKey().partition()), e.getValue().get(30, TimeUnit.SECONDS).lowWatermark());
        }
        return ok().put("low_watermarks", lows);
    }

    JSONObject listGroups() throws Exception {
        JSONArray groups = new JSONArray();
        for (GroupListing g : admin().listGroups().all().get(30, TimeUnit.SECONDS)) {
            groups.put(g.groupId());
        }
        return ok().put("groups", groups);
    }

    JSONObject describeGroup(JSONObject req) throws Exception {
        String group = req.getString("group");
        ConsumerGroupDescription d = admin().describeConsumerGroups(List.of(group)).all().get(30, TimeUnit.SECONDS).get(group);
        JSONArray members = new JSONArray();
        for (MemberDescription m : d.members()) {
            JSONArray assigned = new JSONArray();
            for (TopicPartition tp : m.assignment().topicPartitions()) {
                assigned.put(new JSONArray().put(tp.topic()).put(tp.partition()));
            }
            members.put(new JSONObject().put("member_id", m.consumerId())
                    .put("instance_id", m.groupInstanceId().orElse(null)).put("assigned", assigned));
        }
        return ok().put("state", d.groupState().toString()).put("members", members);
    }
}
