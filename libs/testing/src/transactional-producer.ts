import kafkajs, { type Producer } from 'kafkajs';

import type { TestEnvironment } from './test-environment.js';

const { Kafka, Partitioners, logLevel } = kafkajs;

/** kafkajs' producer, named here so that tests outside libs/messaging and libs/testing need not import kafkajs. */
export type TransactionalProducer = Producer;

/**
 * A producer that writes the way Kafka Connect, Streams or another team's transactional client does:
 * in transactions it commits or aborts, leaving markers and aborted records on the topic. Its
 * partitioner is the application's (murmur2), so an order id lands where the relay would put it.
 * Connected; the caller disconnects it.
 */
export async function transactionalProducer(env: TestEnvironment, label: string): Promise<TransactionalProducer> {
  const kafka = new Kafka({
    clientId: `${env.config.kafka.clientId}-${label}`,
    brokers: [...env.config.kafka.brokers],
    logLevel: logLevel.NOTHING,
  });
  const producer = kafka.producer({
    transactionalId: `${env.config.kafka.groupPrefix}${label}`,
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await producer.connect();
  return producer;
}
