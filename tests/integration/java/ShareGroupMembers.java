import java.time.Duration;
import java.util.*;
import org.apache.kafka.clients.admin.*;
import org.apache.kafka.clients.consumer.KafkaShareConsumer;
import org.apache.kafka.common.TopicPartition;

/**
 * Three KafkaShareConsumers (kafka-clients 4.3.1) join one share group on a topic: every partition is
 * assigned and every member gets one; one consumer closes (leaves) and the other two take its
 * partitions; both close and the group is Empty. Prints one line per stage; exits 1 on a timeout.
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
            await(admin, consumers, group, topic, partitions, 2, "Stable");
            System.out.println("left: 2 members, every partition assigned");
            for (KafkaShareConsumer<byte[], byte[]> consumer : consumers) consumer.close();
            consumers.clear();
            await(admin, consumers, group, topic, partitions, 0, "Empty");
            System.out.println("closed: Empty");
        } finally {
            for (KafkaShareConsumer<byte[], byte[]> consumer : consumers) consumer.close();
        }
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
            } catch (java.util.concurrent.ExecutionException e) {
                // The consumers' first heartbeats, which create the group, may not have landed yet.
                if (!(e.getCause() instanceof org.apache.kafka.common.errors.GroupIdNotFoundException)) throw e;
                seen = "no group yet";
                Thread.sleep(200);
                continue;
            }
            Set<TopicPartition> assigned = new HashSet<>();
            boolean everyMemberHasOne = true;
            for (ShareMemberDescription m : d.members()) {
                assigned.addAll(m.assignment().topicPartitions());
                everyMemberHasOne &= !m.assignment().topicPartitions().isEmpty();
            }
            seen = d.groupState() + " " + d.members().size() + " members, assigned " + assigned;
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
