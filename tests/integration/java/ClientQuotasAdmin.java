// What kafka-configs --alter/--describe --entity-type users/clients does, through Kafka's own Admin client
// (kafka-clients): run by tests/integration/test_quotas.py as a single-file Java program.
//
//   java -cp 'lib/*' ClientQuotasAdmin.java BOOTSTRAP alter user=alice,client-id=app producer_byte_rate=1024 request_percentage=
//   java -cp 'lib/*' ClientQuotasAdmin.java BOOTSTRAP describe user=alice
//
// An entity is type=name pairs (an empty name is the <default>); an op key=value sets, key= removes. describe
// prints one line per entity: "type=name,... key=value ..." sorted, "<default>" for a default name.

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.common.quota.ClientQuotaAlteration;
import org.apache.kafka.common.quota.ClientQuotaEntity;
import org.apache.kafka.common.quota.ClientQuotaFilter;
import org.apache.kafka.common.quota.ClientQuotaFilterComponent;

public class ClientQuotasAdmin {
    static Map<String, String> entity(String text) {
        Map<String, String> entries = new HashMap<>();
        for (String pair : text.split(",")) {
            String[] kv = pair.split("=", 2);
            entries.put(kv[0], kv[1].isEmpty() ? null : kv[1]);
        }
        return entries;
    }

    public static void main(String[] args) throws Exception {
        Properties props = new Properties();
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "20000");
        props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000");
        try (Admin admin = Admin.create(props)) {
            Map<String, String> names = entity(args[2]);
            if (args[1].equals("alter")) {
                List<ClientQuotaAlteration.Op> ops = new ArrayList<>();
                for (int i = 3; i < args.length; i++) {
                    String[] kv = args[i].split("=", 2);
                    ops.add(new ClientQuotaAlteration.Op(kv[0], kv[1].isEmpty() ? null : Double.valueOf(kv[1])));
                }
                ClientQuotaEntity quotaEntity = new ClientQuotaEntity(names);
                admin.alterClientQuotas(List.of(new ClientQuotaAlteration(quotaEntity, ops))).all().get(30, TimeUnit.SECONDS);
                System.out.println("altered");
            } else {
                List<ClientQuotaFilterComponent> components = new ArrayList<>();
                names.forEach((type, name) -> components.add(
                    name == null ? ClientQuotaFilterComponent.ofDefaultEntity(type) : ClientQuotaFilterComponent.ofEntity(type, name)));
                Map<ClientQuotaEntity, Map<String, Double>> found =
                    admin.describeClientQuotas(ClientQuotaFilter.contains(components)).entities().get(30, TimeUnit.SECONDS);
                List<String> lines = new ArrayList<>();
                found.forEach((e, values) -> {
                    StringBuilder line = new StringBuilder();
                    new TreeMap<>(e.entries()).forEach((type, name) ->
                        line.append(line.length() == 0 ? "" : ",").append(type).append('=').append(name == null ? "<default>" : name));
                    new TreeMap<>(values).forEach((key, value) -> line.append(' ').append(key).append('=').append(value));
                    lines.add(line.toString());
                });
                lines.sort(null);
                lines.forEach(System.out::println);
            }
        }
    }
}
