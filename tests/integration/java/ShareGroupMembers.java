import java.time.Duration;
import java.util.*;
import java.util.concurrent.ExecutionException;
import org.apache.kafka.clients.admin.*;
import org.apache.kafka.clients.consumer.KafkaShareConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.GroupIdNotFoundException;

/**
 * Three KafkaShareConsumers (kafka-clients 4.3.1) join one share group on a topic: every partition is
 * assigned and every member gets one; one consumer closes (leaves the group); the other two close and
 * the group is Empty. Prints one line per stage; exits 1 on a timeout.
 * Usage: ShareGroupMembers bootstrap group topic partitions
 */
public class ShareGroupMembers {
    private static final long DEADLINE_MS = 30_000;

    public static void main(String[] args) throws Exception {
        String bootstrap = args[0], group = args[1], topic = args[2];
        int partitions = Integer.parseInt(args[3]);
        Properties props = new Properties();
        props.put("bootstrap.servers", bootstrap);
        props.put("group.id", group);
        props.put("key.deserializer", "org.apache.kafka.common.serialization.ByteArrayDeserializer");
        props.put("value.deserializer", "org.apache.kafka.common.serialization.ByteArrayDeserializer");
        List<KafkaShareConsumer<byte[], byte[]>> consumers = new ArrayList<>();
        try (Admin admin = Admin.create(Map.of("bootstrap.servers", bootstrap))) {
            for (int i = 0; i < 3; i++) {
                KafkaShareConsumer<byte[], byte[]> consumer = new KafkaShareConsumer<>(props);
                consumer.subscribe(List.of(topic));
                consumers.add(consumer);
            }
            await(admin, consumers, group, topic, partitions, 3, "Stable");
            System.out.println("joined: 3 members, every partition assigned");
            consumers.remove(0).close();
            awaitMembers(admin, consumers, group, 2);
            System.out.println("left: 2 members");
            for (KafkaShareConsumer<byte[], byte[]> consumer : consumers) consumer.close();
            consumers.clear();
            await(admin, consumers, group, topic, partitions, 0, "Empty");
            System.out.println("closed: Empty");
        } finally {
            for (KafkaShareConsumer<byte[], byte[]> consumer : consumers) consumer.close();
        }
    }

    /** Poll every consumer until the group has ``members`` members. */
    private static void awaitMembers(Admin admin, List<KafkaShareConsumer<byte[], byte[]>> consumers, String group,
                                     int members) throws Exception {
        long deadline = System.currentTimeMillis() + DEADLINE_MS;
        int seen = -1;
        while (System.currentTimeMillis() < deadline) {
            for (KafkaShareConsumer<byte[], byte[]> consumer : consumers) consumer.poll(Duration.ofMillis(100));
            seen = admin.describeShareGroups(List.of(group)).describedGroups().get(group).get().members().size();
            if (seen == members) return;
        }
        System.out.println("timeout waiting for " + members + " members; last seen " + seen);
        System.exit(1);
    }

    /** Poll every consumer until the group shows ``members`` members in ``state``, all partitions assigned. */
    private static void await(Admin admin, List<KafkaShareConsumer<byte[], byte[]>> consumers, String group,
                              String topic, int partitions, int members, String state) throws Exception {
        long deadline = System.currentTimeMillis() + DEADLINE_MS;
        String seen = "";
        while (System.currentTimeMillis() < deadline) {
            for (KafkaShareConsumer<byte[], byte[]> consumer : consumers) consumer.poll(Duration.ofMillis(100));
            ShareGroupDescription d;
            try {
                d = admin.describeShareGroups(List.of(group)).describedGroups().get(group).get();
            } catch (ExecutionException e) {
                if (!(e.getCause() instanceof GroupIdNotFoundException)) throw e;
                seen = "no group yet";  // the consumers' first heartbeats create it
                continue;
            }
            Set<TopicPartition> assigned = new HashSet<>();
            boolean everyMemberHasOne = true;
            for (ShareMemberDescription m : d.members()) {
                assigned.addAll(m.assignment().topicPartitions());
                everyMemberHasOne &= !m.assignment().topicPartitions().isEmpty();
            }
            StringBuilder detail = new StringBuilder();
            for (ShareMemberDescription m : d.members()) {
                detail.append(" ").append(m.consumerId()).append("@").append(m.memberEpoch())
                    .append(m.assignment().topicPartitions());
            }
            seen = d.groupState() + " epoch " + d.groupEpoch() + " " + d.members().size() + " members:" + detail;
            boolean allAssigned = members == 0 || assigned.size() == partitions;
            if (d.groupState().toString().equals(state) && d.members().size() == members && allAssigned
                    && everyMemberHasOne) {
                return;
            }
            Thread.sleep(200);
        }
        System.out.println("timeout waiting for " + members + " members " + state + "; last seen: " + seen);
        System.exit(1);
    }
}
