import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';

interface Message {
  readonly partition: number;
  readonly value: string;
}
interface TopicData {
  readonly topic: string;
  readonly partitions: readonly { readonly partition: string; readonly messages: readonly Message[] }[];
}
interface PartitionAnswer {
  readonly topicName: string;
  readonly partition: number;
  readonly errorCode: number;
}
type Send = (request: {
  acks: number;
  timeout: number;
  topicMessages: readonly { topic: string; messages: readonly Message[] }[];
}) => Promise<PartitionAnswer[]>;
type Attempt = (bail: (error: Error) => never, retryCount: number, retryTime: number) => Promise<PartitionAnswer[]>;

// kafkajs's own send loop, as patched by patches/kafkajs+2.2.4.patch, driven here by a cluster of
// two fake brokers: the one place a leader change can be staged exactly.
const require = createRequire(import.meta.url);
const sendMessages = require('kafkajs/src/producer/sendMessages.js') as (parts: unknown) => Send;

const TOPIC = 'orders.events';

/** A broker that refuses its first `failures` produce requests as a dead one would, then writes. */
class FakeBroker {
  readonly written: { partition: number; values: string[] }[] = [];

  constructor(
    readonly nodeId: number,
    private failures: number,
  ) {}

  produce({ topicData }: { topicData: readonly TopicData[] }): Promise<unknown> {
    if (this.failures-- > 0)
      return Promise.reject(Object.assign(new Error('connect ECONNREFUSED'), { name: 'KafkaJSConnectionError' }));
    for (const { partitions } of topicData)
      for (const { partition, messages } of partitions)
        this.written.push({ partition: Number(partition), values: messages.map((message) => message.value) });
    return Promise.resolve({
      topics: topicData.map(({ topic, partitions }) => ({
        topicName: topic,
        partitions: partitions.map(({ partition }) => ({
          partition: Number(partition),
          errorCode: 0,
          baseOffset: '0',
        })),
      })),
    });
  }
}

describe("kafkajs's send retried after a leader change (patches/kafkajs+2.2.4.patch)", () => {
  it('sends the partitions that moved to a broker which had already answered, before send() resolves', async () => {
    const survivor = new FakeBroker(1, 0);
    const dying = new FakeBroker(2, Number.MAX_SAFE_INTEGER);
    // Partition 0 is led by the survivor, partition 1 by the dying broker until metadata is refreshed.
    const leaders = new Map([
      [0, 1],
      [1, 2],
    ]);
    const cluster = {
      refreshMetadataIfNecessary: () => Promise.resolve(),
      refreshMetadata: () => {
        leaders.set(1, 1); // the controller moved partition 1 to the survivor
        return Promise.resolve();
      },
      addMultipleTargetTopics: () => Promise.resolve(),
      isConnected: () => true,
      removeBroker: () => undefined,
      findTopicPartitionMetadata: () => [...leaders].map(([partitionId, leader]) => ({ partitionId, leader })),
      findLeaderForPartitions: (_topic: string, partitions: readonly string[]) => {
        const byLeader: Record<string, string[]> = {};
        for (const partition of partitions) (byLeader[String(leaders.get(Number(partition)))] ??= []).push(partition);
        return byLeader;
      },
      findBroker: ({ nodeId }: { nodeId: string }) => Promise.resolve(Number(nodeId) === 1 ? survivor : dying),
    };
    const eosManager = {
      acquireBrokerLock: () => Promise.resolve(),
      releaseBrokerLock: () => Promise.resolve(),
      isTransactional: () => false,
      getSequence: () => 0,
      updateSequence: () => undefined,
      getProducerId: () => -1,
      getProducerEpoch: () => 0,
    };
    // kafkajs's retrier, reduced: the attempt again on a retriable failure, three times at most.
    const retrier = async (attempt: Attempt): Promise<PartitionAnswer[]> => {
      const bail = (error: Error): never => {
        throw error;
      };
      for (let retryCount = 0; ; retryCount++) {
        try {
          return await attempt(bail, retryCount, 0);
        } catch (error) {
          if (retryCount >= 3) throw error;
        }
      }
    };
    const send = sendMessages({
      logger: { debug: () => undefined, error: () => undefined },
      cluster,
      partitioner: ({ message }: { message: Message }) => message.partition,
      eosManager,
      retrier,
    });

    const answers = await send({
      acks: -1,
      timeout: 30_000,
      topicMessages: [
        {
          topic: TOPIC,
          messages: [
            { partition: 0, value: 'a' },
            { partition: 1, value: 'b' },
          ],
        },
      ],
    });

    assert.deepEqual(
      survivor.written.filter(({ partition }) => partition === 1),
      [{ partition: 1, values: ['b'] }],
      'the moved partition was written to its new leader',
    );
    assert.ok(
      survivor.written.some(({ partition }) => partition === 0),
      'the partition that never moved was written too',
    );
    assert.deepEqual(dying.written, [], 'nothing was written by the dead broker');
    assert.deepEqual(
      [...new Set(answers.map(({ partition }) => partition))].sort(),
      [0, 1],
      'send() answers for every partition it was given',
    );
  });
});
