import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import request from 'supertest';

import { CommandApiModule } from '@app/command-api';
import { ProjectionWorkerModule, attachProjectionsTransport } from '@app/projection-worker';
import { QueryApiModule } from '@app/query-api';
import {
  AdminCliProcess,
  AppProcess,
  PrivatePostgres,
  createTestEnvironment,
  eventually,
  freePorts,
  startTestApp,
  type TestApp,
  type TestEnvironment,
} from '@app/testing';

interface ReadyBody {
  readonly status: string;
  readonly checks: Readonly<Record<string, string>>;
}

/** The ready answer's checks with each failure's message cut to `down`: the message is the client library's. */
function summary(body: ReadyBody): Record<string, string> {
  return Object.fromEntries(
    Object.entries(body.checks).map(([name, state]) => [name, state.startsWith('down: ') ? 'down' : state]),
  );
}

/**
 * README: every HTTP process answers `GET /health/ready` with 200 when Postgres and Kafka answer,
 * otherwise 503 naming the failing one. The failing part is made so deterministically: Kafka is a
 * port nothing listens on; Postgres is a private cluster stopped with `pg_ctl -m immediate`.
 */
describe('health: /health/ready names the part that does not answer', () => {
  let env: TestEnvironment;

  before(async () => {
    env = await createTestEnvironment('health', { relayEnabled: false });
  });

  after(async () => {
    await env.dispose();
  });

  it('answers 503 naming kafka when the broker does not answer, from the query API and the command API, while live stays 200', async () => {
    const nowhere = `127.0.0.1:${String(await freePorts(1))}`;
    const config = { ...env.config, kafka: { ...env.config.kafka, brokers: [nowhere] } };
    const apps: TestApp[] = [];
    try {
      for (const module of [QueryApiModule, CommandApiModule]) {
        const app = await startTestApp(module, config);
        apps.push(app);
        const ready = await request(app.getHttpServer()).get('/health/ready').expect(503);
        assert.equal((ready.body as ReadyBody).status, 'unavailable');
        assert.deepEqual(summary(ready.body as ReadyBody), { postgres: 'up', kafka: 'down' }, ready.text);
        await request(app.getHttpServer()).get('/health/live').expect(200, { status: 'ok' });
      }
    } finally {
      await Promise.all(apps.map((app) => app.close()));
    }
    // The same app on the real broker is ready: the 503 was the broker's absence, nothing else.
    const healthy = await startTestApp(QueryApiModule, env.config);
    try {
      // Eventually: a first check on a busy machine may outlast its 2 s budget while the admin client connects.
      await eventually(
        async () => {
          const ready = await request(healthy.getHttpServer()).get('/health/ready').expect(200);
          assert.deepEqual(ready.body, { status: 'ok', checks: { postgres: 'up', kafka: 'up' } });
        },
        { timeoutMs: 30_000 },
      );
    } finally {
      await healthy.close();
    }
  });

  describe('with Postgres stopped', () => {
    let cluster: PrivatePostgres;
    let privateEnv: TestEnvironment;
    let apps: Record<string, TestApp>;

    before(async () => {
      cluster = await PrivatePostgres.start();
      privateEnv = await createTestEnvironment('health_pg', { databaseServerUrl: cluster.url, relayEnabled: false });
      const [commandApi, worker, queryApi] = await Promise.all([
        startTestApp(CommandApiModule, privateEnv.config),
        startTestApp(ProjectionWorkerModule, privateEnv.config, async (app) => {
          attachProjectionsTransport(app);
          await app.startAllMicroservices();
        }),
        startTestApp(QueryApiModule, privateEnv.config),
      ]);
      apps = { 'command-api': commandApi, 'projection-worker': worker, 'query-api': queryApi };
    });

    after(async () => {
      await Promise.all(Object.values(apps).map((app) => app.close()));
      await privateEnv.dispose();
      await cluster.destroy();
    });

    it('answers 503 naming postgres from every HTTP process while it is down, and 200 again once it is back', async () => {
      for (const app of Object.values(apps))
        await eventually(
          async () => {
            await request(app.getHttpServer()).get('/health/ready').expect(200);
          },
          { timeoutMs: 30_000 },
        );
      await cluster.crash();
      for (const [name, app] of Object.entries(apps)) {
        const down = await request(app.getHttpServer()).get('/health/ready').expect(503);
        assert.equal((down.body as ReadyBody).status, 'unavailable', name);
        assert.deepEqual(summary(down.body as ReadyBody), { postgres: 'down', kafka: 'up' }, `${name}: ${down.text}`);
        await request(app.getHttpServer()).get('/health/live').expect(200);
      }

      await cluster.startServer();
      for (const [name, app] of Object.entries(apps)) {
        await eventually(
          async () => {
            const ready = await request(app.getHttpServer()).get('/health/ready').expect(200);
            assert.deepEqual(ready.body, { status: 'ok', checks: { postgres: 'up', kafka: 'up' } }, name);
          },
          { timeoutMs: 30_000, intervalMs: 200 },
        );
      }
    });
  });
});

/**
 * README: configuration is validated once, and a bad value stops the process with a message naming
 * every problem. Each app is started as its own process with bad variables; it must exit (code 2)
 * before serving, its message naming each variable and the rule it breaks, and never a secret.
 */
describe('configuration: a bad value stops the process with a message naming every problem', () => {
  let env: TestEnvironment;

  before(async () => {
    env = await createTestEnvironment('bad_config', { relayEnabled: false });
  });

  after(async () => {
    await env.dispose();
  });

  async function refusedStart(
    app: 'command-api' | 'projection-worker' | 'query-api',
    variables: Record<string, string>,
    problems: readonly string[],
  ): Promise<string> {
    const child = new AppProcess(app, env.config, undefined, variables);
    child.ready.catch(() => undefined); // it must never be ready: asserted through its exit
    assert.equal(await child.exited, 2, `${app} exit code`);
    // The exit can come before the last lines are read from its pipe.
    const message = await eventually(() => {
      const text = child.log.join('\n');
      assert.match(text, /invalid configuration:/);
      for (const problem of problems) assert.ok(text.includes(`  - ${problem}`), `${app}: ${problem}\nin: ${text}`);
      return text;
    });
    assert.equal(message.match(/^ {2}- /gm)?.length, problems.length, `${app} names each problem once: ${message}`);
    assert.doesNotMatch(message, /listening on|projections running/);
    return message;
  }

  it('command API: brokers, body limit, relay switch and log format', async () => {
    await refusedStart(
      'command-api',
      {
        KAFKA_BROKERS: '127.0.0.1:9092,kafka',
        HTTP_BODY_LIMIT_BYTES: '100',
        OUTBOX_RELAY_ENABLED: 'maybe',
        LOG_FORMAT: 'xml',
        OUTBOX_RELAY_LEASE_MS: '500',
      },
      [
        'LOG_FORMAT must be one of json, text, got "xml"',
        'HTTP_BODY_LIMIT_BYTES must be an integer from 1024 to 10485760, got "100"',
        'KAFKA_BROKERS must be a comma-separated list of host:port, got "127.0.0.1:9092,kafka"',
        'OUTBOX_RELAY_ENABLED must be true or false, got "maybe"',
        'OUTBOX_RELAY_LEASE_MS must be an integer from 1000 to 60000, got "500"',
      ],
    );
  });

  it('query API: a short admin token and a database URL without a database, neither secret printed', async () => {
    const message = await refusedStart(
      'query-api',
      {
        ADMIN_TOKEN: 'too-short-token',
        DATABASE_URL: 'postgres://orders:hunter2-secret@127.0.0.1:5432',
        QUERY_MIN_VERSION_WAIT_MS: '60001',
        QUERY_API_PORT: '70000',
      },
      [
        'DATABASE_URL must be a URL like postgres://postgres@127.0.0.1:5432/orders, got "postgres://orders:***@127.0.0.1:5432"',
        'QUERY_API_PORT must be an integer from 0 to 65535, got "70000"',
        'QUERY_MIN_VERSION_WAIT_MS must be an integer from 0 to 60000, got "60001"',
        'ADMIN_TOKEN must be at least 16 characters',
      ],
    );
    assert.doesNotMatch(message, /hunter2|too-short-token/);
  });

  it('projection worker: session timeout, partition concurrency, topic name, min.insync.replicas and read store, no secret printed', async () => {
    const message = await refusedStart(
      'projection-worker',
      {
        READ_DATABASE_URL: 'mysql://reader:read-secret@127.0.0.1:5432/orders',
        KAFKA_SESSION_TIMEOUT_MS: '1000',
        PROJECTION_CONCURRENT_PARTITIONS: '0',
        ORDERS_TOPIC: 'orders events',
        KAFKA_MIN_INSYNC_REPLICAS: '0',
        ORDERS_TOPIC_PARTITIONS: 'six',
      },
      [
        'READ_DATABASE_URL must be a URL like postgres://postgres@127.0.0.1:5432/orders, got "mysql://reader:***@127.0.0.1:5432/orders"',
        'ORDERS_TOPIC must be a Kafka topic name ([A-Za-z0-9._-], at most 249), got "orders events"',
        'ORDERS_TOPIC_PARTITIONS must be an integer from 1 to 10000, got "six"',
        'KAFKA_MIN_INSYNC_REPLICAS must be an integer from 1 to 100, got "0"',
        'KAFKA_SESSION_TIMEOUT_MS must be an integer from 6000 to 1800000, got "1000"',
        'PROJECTION_CONCURRENT_PARTITIONS must be an integer from 1 to 64, got "0"',
      ],
    );
    assert.doesNotMatch(message, /read-secret/);
  });

  it('replay CLI: exits 2 on bad configuration too, before touching anything', async () => {
    const bad = { ...env.config, kafka: { ...env.config.kafka, brokers: ['kafka-without-port'] } };
    const replay = await new AdminCliProcess(bad, ['--all']).exited;
    assert.equal(replay.code, 2, replay.stderr + replay.stdout);
    assert.equal(
      replay.stderr,
      'invalid configuration:\n  - KAFKA_BROKERS must be a comma-separated list of host:port, got "kafka-without-port"\n',
    );
    const { rows } = await env.readDb.query<{ n: number }>('SELECT count(*)::int AS n FROM projection_rebuilds');
    assert.equal(rows[0]?.n, 0);
  });
});
