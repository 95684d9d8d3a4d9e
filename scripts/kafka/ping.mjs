// Exit 0 if Kafka answers a metadata request on KAFKA_BROKERS with at least KAFKA_NODES brokers
// (default 1) in the cluster, 1 otherwise. Silent on purpose: scripts/kafka.sh uses it as a probe.
// Exit 2 if kafkajs is missing.
const brokers = (process.env.KAFKA_BROKERS || '127.0.0.1:9092').split(',');
const nodes = Number(process.env.KAFKA_NODES || 1);

let kafkajs;
try {
  kafkajs = (await import('kafkajs')).default; // kafkajs is CommonJS: use its default export
} catch {
  console.error('kafka: cannot load kafkajs; run npm install first');
  process.exit(2);
}
const { Kafka, logLevel } = kafkajs;

// Hard upper bound, whatever kafkajs does with its own timers.
setTimeout(() => process.exit(1), 5000).unref();

/** Whether a broker of `bootstrap` answers and sees at least `nodes` brokers in its cluster. */
async function answers(bootstrap) {
  const admin = new Kafka({
    clientId: 'kafka-ping',
    brokers: bootstrap,
    connectionTimeout: 1000,
    requestTimeout: 2000,
    retry: { retries: 0 },
    logLevel: logLevel.NOTHING,
  }).admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    return cluster.brokers.length >= nodes;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

// One broker: any of the list answering is enough (clients bootstrap from any). Several nodes
// expected: every listed broker must answer, since the cluster's metadata lists a killed broker
// for a while after it died.
const results = await Promise.all(nodes > 1 ? brokers.map((broker) => answers([broker])) : [answers(brokers)]);
process.exitCode = results.every(Boolean) ? 0 : 1;
