/**
 * All configuration is read and validated here, once, at start-up. A bad value stops the process
 * with one message naming every problem, instead of failing later somewhere deep.
 */
export interface AppConfig {
  /** The write side: the event store, the outbox (and its relay), idempotency keys. */
  readonly databaseUrl: string;
  /**
   * The read side: read models, projection bookkeeping (offsets, versions, generations, parked
   * events, decisions, rebuilds) and the query API. `READ_DATABASE_URL`, by default the same as
   * `databaseUrl`; it may be another database on another server, since nothing joins across them.
   */
  readonly readDatabaseUrl: string;
  /** `json` (one object per line, the default) or `text` (Nest's readable lines, for a terminal). */
  readonly logFormat: 'json' | 'text';
  readonly http: {
    readonly host: string;
    readonly commandApiPort: number;
    readonly queryApiPort: number;
    readonly projectionWorkerPort: number;
    /**
     * Where the query API asks the command API for the outbox backlog (the operations page shows it):
     * the outbox lives on the write side, which the query API never reads itself.
     */
    readonly commandApiUrl: string;
    /** Larger JSON bodies answer 413. The largest valid command (100 lines) is about 15 kB. */
    readonly bodyLimitBytes: number;
  };
  readonly kafka: {
    readonly brokers: readonly string[];
    readonly clientId: string;
    readonly ordersTopic: string;
    readonly ordersTopicPartitions: number;
    /**
     * `min.insync.replicas` of the topics this system creates: how many replicas must hold a record
     * before the producer's `acks=all` write succeeds. Unset: by the cluster found (1 on one or two
     * brokers; 2 with three or more, where topics are replicated three times).
     */
    readonly minInsyncReplicas: number | undefined;
    /** Prefixed to every consumer group id, so test runs never share a group with a live system. */
    readonly groupPrefix: string;
    /** How long a silent group member keeps its partitions: the failover time after a crash. */
    readonly sessionTimeoutMs: number;
    /** How often the worker asks the cluster for replication, offsets and log sizes (its `kafka_*` gauges). */
    readonly clusterMetricsIntervalMs: number;
  };
  readonly query: {
    /** How long GET /orders/:id?minVersion waits for the read model before answering 409. */
    readonly minVersionWaitMs: number;
  };
  /** Bearer token for /admin endpoints; when unset, every admin request answers 401. */
  readonly adminToken: string | undefined;
  readonly idempotency: {
    /** How long a command's Idempotency-Key answers with its first response. */
    readonly keyTtlSeconds: number;
    readonly purgeIntervalMs: number;
  };
  /**
   * Group commit of the commands that start an order (docs/adr/0015-…): `COMMAND_GROUP_TRANSACTIONS`
   * shared transactions at once (0: each command in its own, as before), each taking the commands
   * that waited meanwhile, at most `COMMAND_GROUP_MAX`.
   */
  readonly commandGroups: {
    readonly transactions: number;
    readonly maxCommands: number;
  };
  readonly relay: {
    /**
     * `OUTBOX_RELAY`: who publishes committed events. `in-process`: the command API's OutboxRelay.
     * `debezium`: Debezium's Postgres connector on Kafka Connect, reading `outbox_capture` inserts
     * from the write-ahead log; the command API only writes them (docs/adr/0013-…).
     */
    readonly mode: 'in-process' | 'debezium';
    /**
     * `OUTBOX_CAPTURE_SLOT`: in `debezium` mode, the connector's replication slot. The command API
     * refuses to start without it: events committed before a slot exists are never captured.
     */
    readonly captureSlot: string;
    readonly enabled: boolean;
    readonly pollIntervalMs: number;
    readonly batchSize: number;
    /**
     * `OUTBOX_RELAY_LINGER_MS`: after publishing less than a full batch, the leader reads the outbox
     * again no sooner than this long after it last began to, so under load a batch takes what
     * committed meanwhile (as Kafka's producer `linger.ms`). The first event after a quiet spell goes
     * at once. 0: read again as soon as a commit wakes it.
     */
    readonly lingerMs: number;
    /**
     * How long after reading a batch the leader may still start publishing it. Postgres drops a
     * silent leader session after at least twice this; a standby takes over no sooner.
     */
    readonly leaseMs: number;
  };
  readonly projections: {
    /**
     * Partitions' batches each live projection takes from a fetch at once, applied in one transaction
     * (PartitionGroups): above the topic's partition count per worker, a fetch is one transaction.
     */
    readonly concurrentPartitions: number;
    /**
     * `PROJECTION_FETCH_LINGER_MS`: after applying a fetch, a live projection fetches again no sooner
     * than this long after the fetch returned, so under load one transaction applies what
     * arrived meanwhile instead of one per record or two. An idle projection's first record is
     * applied at once. 0: fetch again at once. For projections readers wait on (`readersWait`: the
     * order view, read with `minVersion`).
     */
    readonly fetchLingerMs: number;
    /**
     * `PROJECTION_BACKGROUND_LINGER_MS`: the same, for the projections no reader waits on (the
     * aggregates): they may fall this much further behind under load, and take fewer fetches and
     * transactions for it.
     */
    readonly backgroundLingerMs: number;
  };
  readonly tracing: {
    /**
     * `OTEL_EXPORTER_OTLP_ENDPOINT`: where spans go (OTLP over HTTP, protobuf). Unset: no span is
     * recorded or exported, and the `traceparent` a command carried travels on as it came.
     */
    readonly otlpEndpoint: string | undefined;
  };
}

export const APP_CONFIG = Symbol('APP_CONFIG');

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/orders';

type Env = Readonly<Record<string, string | undefined>>;

export function loadConfig(env: Env = process.env): AppConfig {
  const problems: string[] = [];
  const read = new EnvReader(env, problems);
  const databaseUrl = read.databaseUrl('DATABASE_URL', DEFAULT_DATABASE_URL);
  const host = read.string('HOST', '127.0.0.1');
  const commandApiPort = read.port('COMMAND_API_PORT', 3000);
  const config: AppConfig = {
    logFormat: read.choice('LOG_FORMAT', ['json', 'text'] as const, 'json'),
    databaseUrl,
    readDatabaseUrl: read.databaseUrl('READ_DATABASE_URL', databaseUrl),
    http: {
      host,
      commandApiPort,
      queryApiPort: read.port('QUERY_API_PORT', 3001),
      projectionWorkerPort: read.port('PROJECTION_WORKER_PORT', 3002),
      commandApiUrl: read.httpUrl('COMMAND_API_URL', localUrl(host, commandApiPort)),
      bodyLimitBytes: read.integer('HTTP_BODY_LIMIT_BYTES', 65_536, 1_024, 10_485_760),
    },
    kafka: {
      brokers: read.brokers('KAFKA_BROKERS', '127.0.0.1:9092'),
      clientId: read.string('KAFKA_CLIENT_ID', 'orders'),
      ordersTopic: read.topicName('ORDERS_TOPIC', 'orders.events'),
      ordersTopicPartitions: read.integer('ORDERS_TOPIC_PARTITIONS', 6, 1, 10_000),
      minInsyncReplicas: read.optionalInteger('KAFKA_MIN_INSYNC_REPLICAS', 1, 100),
      groupPrefix: read.string('KAFKA_GROUP_PREFIX', ''),
      // Within the broker's default group.min/max.session.timeout.ms (6 s to 30 min).
      sessionTimeoutMs: read.integer('KAFKA_SESSION_TIMEOUT_MS', 10_000, 6_000, 1_800_000),
      clusterMetricsIntervalMs: read.integer('KAFKA_CLUSTER_METRICS_INTERVAL_MS', 15_000, 100, 3_600_000),
    },
    query: {
      minVersionWaitMs: read.integer('QUERY_MIN_VERSION_WAIT_MS', 5_000, 0, 60_000),
    },
    adminToken: read.secret('ADMIN_TOKEN', 16),
    idempotency: {
      keyTtlSeconds: read.integer('IDEMPOTENCY_KEY_TTL_SECONDS', 86_400, 1, 31_536_000),
      purgeIntervalMs: read.integer('IDEMPOTENCY_PURGE_INTERVAL_MS', 600_000, 1_000, 86_400_000),
    },
    commandGroups: {
      transactions: read.integer('COMMAND_GROUP_TRANSACTIONS', 2, 0, 1_000),
      maxCommands: read.integer('COMMAND_GROUP_MAX', 16, 2, 1_000),
    },
    relay: {
      mode: read.choice('OUTBOX_RELAY', ['in-process', 'debezium'] as const, 'in-process'),
      captureSlot: read.slotName('OUTBOX_CAPTURE_SLOT', 'orders_outbox_capture'),
      enabled: read.boolean('OUTBOX_RELAY_ENABLED', true),
      pollIntervalMs: read.integer('OUTBOX_RELAY_POLL_MS', 500, 10, 60_000),
      batchSize: read.integer('OUTBOX_RELAY_BATCH_SIZE', 500, 1, 10_000),
      lingerMs: read.integer('OUTBOX_RELAY_LINGER_MS', 6, 0, 1_000),
      // Postgres counts TCP keepalives in whole seconds, hence the lower bound.
      leaseMs: read.integer('OUTBOX_RELAY_LEASE_MS', 5_000, 1_000, 60_000),
    },
    projections: {
      concurrentPartitions: read.integer('PROJECTION_CONCURRENT_PARTITIONS', 16, 1, 64),
      fetchLingerMs: read.integer('PROJECTION_FETCH_LINGER_MS', 9, 0, 1_000),
      backgroundLingerMs: read.integer('PROJECTION_BACKGROUND_LINGER_MS', 100, 0, 1_000),
    },
    tracing: {
      otlpEndpoint: read.optionalHttpUrl('OTEL_EXPORTER_OTLP_ENDPOINT'),
    },
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

class EnvReader {
  constructor(
    private readonly env: Env,
    private readonly problems: string[],
  ) {}

  string(name: string, fallback: string): string {
    return this.env[name]?.trim() || fallback;
  }

  choice<T extends string>(name: string, choices: readonly T[], fallback: T): T {
    const raw = this.env[name]?.trim();
    if (!raw) return fallback;
    if ((choices as readonly string[]).includes(raw)) return raw as T;
    this.problems.push(`${name} must be one of ${choices.join(', ')}, got "${raw}"`);
    return fallback;
  }

  /** An optional secret; too short to be safe is a configuration error, and its value is never printed. */
  secret(name: string, minLength: number): string | undefined {
    const value = this.env[name]?.trim();
    if (!value) return undefined;
    if (value.length < minLength) this.problems.push(`${name} must be at least ${minLength} characters`);
    return value;
  }

  integer(name: string, fallback: number, min: number, max: number): number {
    const raw = this.env[name]?.trim();
    if (!raw) return fallback;
    const value = Number(raw);
    if (!/^-?\d+$/.test(raw) || !Number.isSafeInteger(value) || value < min || value > max) {
      this.problems.push(`${name} must be an integer from ${min} to ${max}, got "${raw}"`);
      return fallback;
    }
    return value;
  }

  optionalInteger(name: string, min: number, max: number): number | undefined {
    if (!this.env[name]?.trim()) return undefined;
    return this.integer(name, min, min, max);
  }

  port(name: string, fallback: number): number {
    return this.integer(name, fallback, 0, 65_535);
  }

  boolean(name: string, fallback: boolean): boolean {
    const raw = this.env[name]?.trim().toLowerCase();
    if (!raw) return fallback;
    if (raw === 'true' || raw === '1') return true;
    if (raw === 'false' || raw === '0') return false;
    this.problems.push(`${name} must be true or false, got "${raw}"`);
    return fallback;
  }

  /**
   * A Postgres URL naming a database. The message shows the default, never the fallback: a fallback
   * taken from another variable may hold a password.
   */
  databaseUrl(name: string, fallback: string): string {
    const raw = this.env[name]?.trim();
    if (!raw) return fallback;
    try {
      const url = new URL(raw);
      if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') throw new Error('protocol');
      if (url.pathname.length <= 1) throw new Error('database');
    } catch {
      this.problems.push(`${name} must be a URL like ${DEFAULT_DATABASE_URL}, got "${redact(raw)}"`);
    }
    return raw;
  }

  /** An http(s) base URL without a path, query or credentials; a trailing slash is dropped. */
  httpUrl(name: string, fallback: string): string {
    const raw = this.env[name]?.trim();
    if (!raw) return fallback;
    try {
      const url = new URL(raw);
      const bare = url.pathname === '/' && !url.search && !url.hash && !url.username && !url.password;
      if ((url.protocol === 'http:' || url.protocol === 'https:') && bare) return url.origin;
    } catch {
      // reported below
    }
    this.problems.push(`${name} must be an http(s) URL like http://127.0.0.1:3000, got "${redact(raw)}"`);
    return fallback;
  }

  optionalHttpUrl(name: string): string | undefined {
    const raw = this.env[name]?.trim();
    if (!raw) return undefined;
    if (!URL.canParse(raw) || !['http:', 'https:'].includes(new URL(raw).protocol)) {
      this.problems.push(`${name} must be an http or https URL, like http://127.0.0.1:4318, got "${redact(raw)}"`);
    }
    return raw;
  }

  brokers(name: string, fallback: string): string[] {
    const brokers = this.string(name, fallback)
      .split(',')
      .map((broker) => broker.trim())
      .filter(Boolean);
    const bad = brokers.filter((broker) => !/^[\w.-]+:\d{1,5}$/.test(broker));
    if (brokers.length === 0 || bad.length > 0) {
      this.problems.push(`${name} must be a comma-separated list of host:port, got "${this.env[name]}"`);
    }
    return brokers;
  }

  /** A replication slot name: what Postgres accepts (lower-case letters, digits, underscores; at most 63). */
  slotName(name: string, fallback: string): string {
    const slot = this.string(name, fallback);
    if (!/^[a-z0-9_]{1,63}$/.test(slot)) {
      this.problems.push(`${name} must be a replication slot name ([a-z0-9_], at most 63), got "${slot}"`);
    }
    return slot;
  }

  topicName(name: string, fallback: string): string {
    const topic = this.string(name, fallback);
    if (!/^[A-Za-z0-9._-]{1,249}$/.test(topic)) {
      this.problems.push(`${name} must be a Kafka topic name ([A-Za-z0-9._-], at most 249), got "${topic}"`);
    }
    return topic;
  }
}

/** This machine's address of a server listening on `host` (a wildcard address names the loopback). */
export function localUrl(host: string, port: number): string {
  const reachable = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `http://${reachable.includes(':') ? `[${reachable}]` : reachable}:${String(port)}`;
}

/** Hides the password of a connection URL in messages. */
export function redact(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
}

/** For a process entry point: the configuration, or a clear message on stderr and exit code 2. */
export function loadConfigOrExit(env: Env = process.env): AppConfig {
  try {
    return loadConfig(env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`${error.message}\n`);
    process.exit(2);
  }
}
