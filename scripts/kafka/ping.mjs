// Exit 0 if a Kafka broker answers a metadata request on KAFKA_BROKERS, 1 otherwise.
// Silent on purpose: scripts/kafka.sh uses it as a probe. Exit 2 if kafkajs is missing.
const brokers = (process.env.KAFKA_BROKERS || '127.0.0.1:9092').split(',');

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

const admin = new Kafka({
  clientId: 'kafka-ping',
  brokers,
  connectionTimeout: 1000,
  requestTimeout: 2000,
  retry: { retries: 0 },
  logLevel: logLevel.NOTHING,
}).admin();

try {
  await admin.connect();
  await admin.describeCluster();
  process.exitCode = 0;
} catch {
  process.exitCode = 1;
} finally {
  await admin.disconnect().catch(() => {});
}
