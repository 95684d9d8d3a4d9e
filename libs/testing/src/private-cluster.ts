import { execFile } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

import kafkajs from 'kafkajs';

import { eventually } from './eventually.js';
import { freePorts } from './free-port.js';
import { processAlive } from './process-state.js';
import { repositoryRoot } from './repository.js';

const { Kafka, logLevel } = kafkajs;
const run = promisify(execFile);

/** Where each partition of a topic stands, as the cluster's metadata says now. */
export interface PartitionState {
  readonly partition: number;
  /** The leading node's id; -1 while none leads. */
  readonly leader: number;
  readonly replicas: readonly number[];
  readonly isr: readonly number[];
}

/**
 * A Kafka cluster of its own (`KAFKA_NODES=3 scripts/kafka.sh`), for a test that kills, wipes and
 * restarts its nodes: three brokers, each a KRaft controller too, on free ports (client port, then
 * its controller port; the nodes two apart), in a folder of the Kafka cache that `destroy()`
 * deletes. Nodes are numbered from 1. The shared broker on 9092 is never touched.
 *
 * With `controllers` (`KAFKA_CONTROLLERS`), the brokers are brokers only and the KRaft quorum is
 * that many dedicated controllers, nodes size+1 on: killing brokers then leaves the quorum whole.
 */
export class PrivateCluster {
  private readonly script = join(repositoryRoot(), 'scripts', 'kafka.sh');
  private readonly cache = process.env.KAFKA_CACHE_DIR ?? join(repositoryRoot(), '.cache', 'kafka');

  /** Kills the nodes if the test process exits without `destroy()`. */
  private readonly onExit = (): void => {
    for (const node of this.allNodes) {
      const pid = this.pidOf(node);
      if (pid !== undefined && processAlive(pid)) process.kill(pid, 'SIGKILL');
    }
    this.removeStorage();
  };

  private constructor(
    private readonly base: number,
    readonly size: number,
    readonly controllers: number,
  ) {
    process.once('exit', this.onExit);
  }

  static async start(size = 3, { controllers = 0 }: { controllers?: number } = {}): Promise<PrivateCluster> {
    const cluster = new PrivateCluster(await freePorts(2 * (size + controllers)), size, controllers);
    try {
      await cluster.startMissing();
    } catch (error) {
      await cluster.destroy();
      throw error;
    }
    return cluster;
  }

  /** The brokers' node ids, 1 to size. */
  get nodes(): number[] {
    return Array.from({ length: this.size }, (_, index) => index + 1);
  }

  /** Every node's id, the brokers' and then any dedicated controllers'. */
  private get allNodes(): number[] {
    return Array.from({ length: this.size + this.controllers }, (_, index) => index + 1);
  }

  /** `host:port` of every node, for KAFKA_BROKERS. */
  get brokers(): string[] {
    return this.nodes.map((node) => this.addressOf(node));
  }

  addressOf(node: number): string {
    return `127.0.0.1:${String(this.base + 2 * (node - 1))}`;
  }

  pidOf(node: number): number | undefined {
    try {
      const pid = Number(readFileSync(join(this.home, `node${String(node)}`, 'kafka.pid'), 'utf8').trim());
      return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  /** `kill -9` of one node; resolves once the process is gone. */
  async kill(node: number): Promise<void> {
    const pid = this.pidOf(node);
    if (pid === undefined || !processAlive(pid)) return;
    process.kill(pid, 'SIGKILL');
    await eventually(
      () => {
        if (processAlive(pid)) throw new Error(`node ${String(node)} (pid ${String(pid)}) is still running`);
      },
      { timeoutMs: 30_000, intervalMs: 50 },
    );
  }

  /** Deletes a stopped node's data folder (its log segments and metadata): a failed disk replaced. */
  wipe(node: number): void {
    const pid = this.pidOf(node);
    if (pid !== undefined && processAlive(pid)) throw new Error(`node ${String(node)} runs: kill it before wiping`);
    rmSync(join(this.home, `node${String(node)}`, 'data'), { recursive: true, force: true });
  }

  /** Starts every node that is not running (formatting a wiped one); resolves once all answer. */
  async startMissing(): Promise<void> {
    await run('bash', [this.script, 'start'], { env: this.env(), timeout: 180_000 });
  }

  /** Each partition's leader, replicas and in-sync replicas, from any node that answers. */
  async partitions(topic: string): Promise<PartitionState[]> {
    const admin = this.client().admin();
    await admin.connect();
    try {
      const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
      return (metadata.topics[0]?.partitions ?? [])
        .map((partition) => ({
          partition: partition.partitionId,
          leader: partition.leader,
          replicas: [...partition.replicas].sort(),
          isr: [...partition.isr].sort(),
        }))
        .sort((a, b) => a.partition - b.partition);
    } finally {
      await admin.disconnect();
    }
  }

  /** Creates a topic of one partition with the given replication, waiting for its leader. */
  async createTopic(
    topic: string,
    { replicationFactor, minInsyncReplicas }: { replicationFactor: number; minInsyncReplicas: number },
  ): Promise<void> {
    const admin = this.client().admin();
    await admin.connect();
    try {
      await admin.createTopics({
        topics: [
          {
            topic,
            numPartitions: 1,
            replicationFactor,
            configEntries: [{ name: 'min.insync.replicas', value: String(minInsyncReplicas) }],
          },
        ],
        waitForLeaders: true,
      });
    } finally {
      await admin.disconnect();
    }
  }

  /**
   * One write with `acks=all` through `node` alone, without retries: `written`, or the error the
   * cluster answered (a refusal for want of in-sync replicas, say).
   */
  async writeOnce(node: number, topic: string): Promise<string> {
    const producer = new Kafka({
      clientId: 'private-cluster-probe',
      brokers: [this.addressOf(node)],
      logLevel: logLevel.NOTHING,
    }).producer({ retry: { retries: 0 } });
    await producer.connect();
    try {
      await producer.send({ topic, acks: -1, messages: [{ key: 'probe', value: 'probe' }] });
      return 'written';
    } catch (error) {
      return error instanceof Error ? error.message : String(error);
    } finally {
      await producer.disconnect();
    }
  }

  /** Resolves once every partition of `topic` has all its replicas in sync again. */
  async awaitFullySynced(topic: string, timeoutMs = 120_000): Promise<void> {
    await eventually(
      async () => {
        const lagging = (await this.partitions(topic)).filter((p) => p.isr.length < p.replicas.length);
        if (lagging.length > 0) throw new Error(`${topic}: under-replicated ${JSON.stringify(lagging)}`);
      },
      { timeoutMs, intervalMs: 250 },
    );
  }

  /** Stops every node the way an operator does (`scripts/kafka.sh stop`); resolves once all are gone. */
  async stop(): Promise<void> {
    await run('bash', [this.script, 'stop'], { env: this.env(), timeout: 60_000 });
  }

  /** Kills every node and deletes the cluster's folder. */
  async destroy(): Promise<void> {
    process.off('exit', this.onExit);
    await Promise.all(this.allNodes.map((node) => this.kill(node).catch(() => undefined)));
    this.removeStorage();
  }

  /** A client that bootstraps from every node, so that any one of them answering is enough. */
  client(): kafkajs.Kafka {
    return new Kafka({
      clientId: 'private-cluster',
      brokers: this.brokers,
      logLevel: logLevel.NOTHING,
      retry: { retries: 5 },
    });
  }

  private get home(): string {
    const controllers = this.controllers > 0 ? `c${String(this.controllers)}` : '';
    return join(this.cache, `cluster${String(this.size)}${controllers}-${String(this.base)}`);
  }

  private env(): NodeJS.ProcessEnv {
    return {
      ...process.env,
      KAFKA_NODES: String(this.size),
      KAFKA_CONTROLLERS: String(this.controllers),
      KAFKA_BROKERS: this.brokers.join(','),
      KAFKA_CACHE_DIR: this.cache,
      KAFKA_HEAP_OPTS: process.env.KAFKA_HEAP_OPTS ?? '-Xms128m -Xmx320m',
    };
  }

  private removeStorage(): void {
    rmSync(this.home, { recursive: true, force: true });
  }
}
