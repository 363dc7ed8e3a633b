package kafkapy.compat;

import java.time.Duration;
import java.util.Arrays;
import java.util.Locale;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;

import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;

/**
 * The compat suite's Kafka Streams application: word count with exactly_once_v2.
 *
 * <p>Lines from the input topic are split into lowercase words, re-keyed by word (groupBy: a repartition
 * topic), counted in a persistent state store (with a compacted changelog topic) and the counts written to the
 * output topic (key: word, value: 8-byte big-endian long). Streams creates its internal topics itself through
 * the Admin API. Stdout carries one status line per state change ("STATE RUNNING", ...); the app runs until
 * its stdin closes (or SIGTERM), then closes Streams cleanly (committing its transactions) and exits 0.
 *
 * <pre>java -cp 'target/wordcount.jar:target/lib/*' kafkapy.compat.WordCount BOOTSTRAP APP_ID INPUT OUTPUT STATE_DIR</pre>
 */
public final class WordCount {
    private WordCount() {}

    public static void main(String[] args) throws Exception {
        if (args.length != 5 && args.length != 6) {
            System.err.println("usage: WordCount BOOTSTRAP APP_ID INPUT OUTPUT STATE_DIR [GROUP_PROTOCOL]");
            System.exit(2);
        }
        String bootstrap = args[0], appId = args[1], input = args[2], output = args[3], stateDir = args[4];

        Properties props = new Properties();
        props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(StreamsConfig.APPLICATION_ID_CONFIG, appId);
        props.put(StreamsConfig.STATE_DIR_CONFIG, stateDir);
        props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
        props.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, 1);
        props.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, 1);
        props.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 200);
        props.put(StreamsConfig.DEFAULT_KEY_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
        props.put(StreamsConfig.DEFAULT_VALUE_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
        // One member: a quick first rebalance and a quick rejoin after restart.
        props.put(StreamsConfig.consumerPrefix("session.timeout.ms"), 6000);
        props.put(StreamsConfig.consumerPrefix("heartbeat.interval.ms"), 1000);
        props.put(StreamsConfig.consumerPrefix("auto.offset.reset"), "earliest");
        // "classic" (the consumer rebalance protocol, the default) or "streams" (KIP-1071 streams groups).
        if (args.length == 6) {
            props.put(StreamsConfig.GROUP_PROTOCOL_CONFIG, args[5]);
        }

        StreamsBuilder builder = new StreamsBuilder();
        KStream<String, String> lines = builder.stream(input, Consumed.with(Serdes.String(), Serdes.String()));
        lines.flatMapValues(line -> Arrays.asList(line.toLowerCase(Locale.ROOT).split("\\W+")))
            .filter((key, word) -> !word.isEmpty())
            .groupBy((key, word) -> word, Grouped.with("words", Serdes.String(), Serdes.String()))
            .count(Materialized.as("counts"))
            .toStream()
            .map((word, count) -> KeyValue.pair(word, count))
            .to(output, Produced.with(Serdes.String(), Serdes.Long()));

        KafkaStreams streams = new KafkaStreams(builder.build(), props);
        CountDownLatch stop = new CountDownLatch(1);
        streams.setStateListener((now, before) -> {
            System.out.println("STATE " + now);
            System.out.flush();
            if (now == KafkaStreams.State.ERROR || now == KafkaStreams.State.NOT_RUNNING) {
                stop.countDown();
            }
        });
        streams.setUncaughtExceptionHandler(exc -> {
            System.err.println("uncaught: " + exc);
            exc.printStackTrace();
            return org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse
                .SHUTDOWN_CLIENT;
        });
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            stop.countDown();
            closeStreams(streams);
        }, "wordcount-shutdown"));
        Thread stdinWatch = new Thread(() -> {
            try {
                while (System.in.read() >= 0) {
                    // the test never writes; end of input means "stop"
                }
            } catch (java.io.IOException ignored) {
                // same as end of input
            }
            stop.countDown();
        }, "wordcount-stdin");
        stdinWatch.setDaemon(true);
        streams.start();
        stdinWatch.start();
        stop.await();
        boolean error = streams.state() == KafkaStreams.State.ERROR;
        closeStreams(streams);
        System.out.println("STOPPED");
        System.out.flush();
        System.exit(error ? 1 : 0);
    }

    private static synchronized void closeStreams(KafkaStreams streams) {
        if (!streams.close(Duration.ofSeconds(30))) {
            System.err.println("streams did not close within 30 s");
        }
    }
}
