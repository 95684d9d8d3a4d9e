package orders.connect;

import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.common.config.ConfigException;
import org.apache.kafka.connect.connector.ConnectRecord;
import org.apache.kafka.connect.header.ConnectHeaders;
import org.apache.kafka.connect.header.Header;
import org.apache.kafka.connect.header.Headers;
import org.apache.kafka.connect.transforms.Transformation;
import org.apache.kafka.connect.transforms.util.SimpleConfig;

/**
 * Removes the named headers from a record where their value is null, and keeps them where it is not.
 *
 * Debezium's outbox EventRouter turns every additional column placed in a header into a header, a
 * NULL column included: the record then carries the header with a null value, where the in-process
 * relay leaves it out. None of Kafka's transforms or predicates looks at a header's value
 * (DropHeaders drops by name, HasHeaderKey tests the name), hence this one. Other headers and the
 * record itself pass through untouched.
 */
public class DropNullHeaders<R extends ConnectRecord<R>> implements Transformation<R> {
  public static final String HEADERS = "headers";

  private static final ConfigDef CONFIG = new ConfigDef()
      .define(HEADERS, ConfigDef.Type.LIST, ConfigDef.NO_DEFAULT_VALUE,
          ConfigDef.Importance.HIGH, "Names of the headers to remove when their value is null.");

  private Set<String> names = Set.of();

  @Override
  public void configure(Map<String, ?> props) {
    List<String> listed = new SimpleConfig(CONFIG, props).getList(HEADERS);
    if (listed.isEmpty()) throw new ConfigException(HEADERS, listed, "name at least one header");
    names = new HashSet<>(listed);
  }

  @Override
  public R apply(R record) {
    boolean any = false;
    for (Header header : record.headers()) any |= dropped(header);
    if (!any) return record;
    // A new set of headers in the same order, without the null ones: the record's own may be
    // shared with the record the connector handed over.
    Headers kept = new ConnectHeaders();
    for (Header header : record.headers()) if (!dropped(header)) kept.add(header);
    return record.newRecord(record.topic(), record.kafkaPartition(), record.keySchema(), record.key(),
        record.valueSchema(), record.value(), record.timestamp(), kept);
  }

  private boolean dropped(Header header) {
    return header.value() == null && names.contains(header.key());
  }

  @Override
  public ConfigDef config() {
    return CONFIG;
  }

  @Override
  public void close() {}
}
