import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { ConfigError, loadConfig } from './app-config.js';

describe('loadConfig', () => {
  it('uses the documented defaults for an empty environment', () => {
    const config = loadConfig({});
    assert.equal(config.databaseUrl, 'postgres://postgres@127.0.0.1:5432/orders');
    assert.equal(config.readDatabaseUrl, config.databaseUrl);
    assert.deepEqual(config.kafka.brokers, ['127.0.0.1:9092']);
    assert.equal(config.kafka.ordersTopic, 'orders.events');
    assert.equal(config.kafka.ordersTopicPartitions, 6);
    assert.deepEqual(
      [config.http.commandApiPort, config.http.queryApiPort, config.http.projectionWorkerPort],
      [3000, 3001, 3002],
    );
    assert.equal(config.projections.concurrentPartitions, 16);
  });

  it("asks the command API for the outbox at its configured address, or at COMMAND_API_URL's origin", () => {
    assert.equal(loadConfig({}).http.commandApiUrl, 'http://127.0.0.1:3000');
    assert.equal(loadConfig({ HOST: '0.0.0.0', COMMAND_API_PORT: '4000' }).http.commandApiUrl, 'http://127.0.0.1:4000');
    assert.equal(
      loadConfig({ COMMAND_API_URL: 'http://command-api:3000/' }).http.commandApiUrl,
      'http://command-api:3000',
    );
    for (const value of ['command-api:3000', 'ftp://x', 'http://x/api', 'http://u:secret@x', 'http://x?a=1']) {
      assert.throws(
        () => loadConfig({ COMMAND_API_URL: value }),
        (error: unknown) => {
          assert.ok(error instanceof ConfigError);
          assert.match(error.message, /COMMAND_API_URL must be an http\(s\) URL/);
          assert.doesNotMatch(error.message, /secret/);
          return true;
        },
      );
    }
  });

  it('refuses a partition concurrency outside 1 to 64', () => {
    for (const value of ['0', '65', 'two', '1.5']) {
      assert.throws(() => loadConfig({ PROJECTION_CONCURRENT_PARTITIONS: value }), /PROJECTION_CONCURRENT_PARTITIONS/);
    }
    assert.equal(loadConfig({ PROJECTION_CONCURRENT_PARTITIONS: '1' }).projections.concurrentPartitions, 1);
  });

  it('lingers 6 ms in the relay, 9 and 100 ms in the projections by default, 0 to 1000 ms when set', () => {
    const defaults = loadConfig({});
    assert.equal(defaults.relay.lingerMs, 6);
    assert.equal(defaults.projections.fetchLingerMs, 9);
    assert.equal(defaults.projections.backgroundLingerMs, 100);
    const none = loadConfig({
      OUTBOX_RELAY_LINGER_MS: '0',
      PROJECTION_FETCH_LINGER_MS: '0',
      PROJECTION_BACKGROUND_LINGER_MS: '0',
    });
    assert.equal(none.relay.lingerMs, 0);
    assert.equal(none.projections.fetchLingerMs, 0);
    assert.equal(none.projections.backgroundLingerMs, 0);
    for (const name of ['OUTBOX_RELAY_LINGER_MS', 'PROJECTION_FETCH_LINGER_MS', 'PROJECTION_BACKGROUND_LINGER_MS']) {
      for (const value of ['-1', '1001', '5ms', '2.5']) {
        assert.throws(() => loadConfig({ [name]: value }), new RegExp(`${name} must be an integer from 0 to 1000`));
      }
    }
  });

  it('groups placements two shared transactions at a time, at most 16 each, by default; 0 transactions turns it off', () => {
    assert.deepEqual(loadConfig({}).commandGroups, { transactions: 2, maxCommands: 16 });
    assert.deepEqual(loadConfig({ COMMAND_GROUP_TRANSACTIONS: '0', COMMAND_GROUP_MAX: '2' }).commandGroups, {
      transactions: 0,
      maxCommands: 2,
    });
    for (const value of ['-1', '1001', 'two', '1.5']) {
      assert.throws(
        () => loadConfig({ COMMAND_GROUP_TRANSACTIONS: value }),
        /COMMAND_GROUP_TRANSACTIONS must be an integer from 0 to 1000/,
      );
    }
    for (const value of ['0', '1', '1001', '16x']) {
      assert.throws(
        () => loadConfig({ COMMAND_GROUP_MAX: value }),
        /COMMAND_GROUP_MAX must be an integer from 2 to 1000/,
      );
    }
  });

  it('gives the outbox relay a 5 s lease by default and refuses one under 1 s or over 60 s', () => {
    assert.equal(loadConfig({}).relay.leaseMs, 5_000);
    for (const value of ['999', '60001', '2.5s']) {
      assert.throws(() => loadConfig({ OUTBOX_RELAY_LEASE_MS: value }), /OUTBOX_RELAY_LEASE_MS/);
    }
    assert.equal(loadConfig({ OUTBOX_RELAY_LEASE_MS: '1000' }).relay.leaseMs, 1_000);
  });

  it('relays in process by default, through Debezium when OUTBOX_RELAY says so, and refuses any other relay', () => {
    assert.equal(loadConfig({}).relay.mode, 'in-process');
    assert.equal(loadConfig({ OUTBOX_RELAY: 'debezium' }).relay.mode, 'debezium');
    for (const value of ['Debezium', 'kafka-connect', 'none']) {
      assert.throws(() => loadConfig({ OUTBOX_RELAY: value }), /OUTBOX_RELAY must be one of in-process, debezium/);
    }
  });

  it('names the capture slot orders_outbox_capture by default and refuses a name Postgres would refuse', () => {
    assert.equal(loadConfig({}).relay.captureSlot, 'orders_outbox_capture');
    assert.equal(loadConfig({ OUTBOX_CAPTURE_SLOT: 'orders_eu_1' }).relay.captureSlot, 'orders_eu_1');
    for (const value of ['Orders', 'orders-outbox', 'x'.repeat(64)]) {
      assert.throws(
        () => loadConfig({ OUTBOX_CAPTURE_SLOT: value }),
        /OUTBOX_CAPTURE_SLOT must be a replication slot name/,
      );
    }
  });

  it('leaves min.insync.replicas to the cluster size by default, and refuses less than 1', () => {
    assert.equal(loadConfig({}).kafka.minInsyncReplicas, undefined);
    for (const value of ['0', '-1', 'all', '1.5']) {
      assert.throws(() => loadConfig({ KAFKA_MIN_INSYNC_REPLICAS: value }), /KAFKA_MIN_INSYNC_REPLICAS/);
    }
    assert.equal(loadConfig({ KAFKA_MIN_INSYNC_REPLICAS: '2' }).kafka.minInsyncReplicas, 2);
  });

  it('traces only when OTEL_EXPORTER_OTLP_ENDPOINT names an http(s) URL, and never prints its credentials', () => {
    assert.equal(loadConfig({}).tracing.otlpEndpoint, undefined);
    assert.equal(
      loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' }).tracing.otlpEndpoint,
      'http://127.0.0.1:4318',
    );
    for (const value of ['127.0.0.1:4318', 'grpc://collector:4317', 'not a url']) {
      assert.throws(() => loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: value }), /OTEL_EXPORTER_OTLP_ENDPOINT/);
    }
    assert.throws(
      () => loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'ftp://user:hunter2@collector' }),
      (error: Error) => !error.message.includes('hunter2'),
    );
  });

  it('names every bad variable in one error', () => {
    assert.throws(
      () =>
        loadConfig({
          COMMAND_API_PORT: 'abc',
          KAFKA_BROKERS: 'no-port',
          DATABASE_URL: 'mysql://x/y',
          ORDERS_TOPIC: 'bad topic',
        }),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.equal(error.problems.length, 4);
        for (const name of ['COMMAND_API_PORT', 'KAFKA_BROKERS', 'DATABASE_URL', 'ORDERS_TOPIC']) {
          assert.match(error.message, new RegExp(name));
        }
        return true;
      },
    );
  });

  it('never prints a database password', () => {
    assert.throws(
      () => loadConfig({ DATABASE_URL: 'mysql://user:secret@host/db' }),
      (error: unknown) => !(error as Error).message.includes('secret'),
    );
  });

  describe('the read store', () => {
    it('follows DATABASE_URL when READ_DATABASE_URL is unset or blank', () => {
      for (const blank of [undefined, '', '  ']) {
        const config = loadConfig({ DATABASE_URL: 'postgresql://app:pw@db:5432/store', READ_DATABASE_URL: blank });
        assert.equal(config.readDatabaseUrl, 'postgresql://app:pw@db:5432/store');
      }
    });

    it('takes READ_DATABASE_URL on its own, even on another server', () => {
      const config = loadConfig({ READ_DATABASE_URL: 'postgres://reader@replica:6432/orders_read' });
      assert.equal(config.databaseUrl, 'postgres://postgres@127.0.0.1:5432/orders');
      assert.equal(config.readDatabaseUrl, 'postgres://reader@replica:6432/orders_read');
    });

    it('refuses a READ_DATABASE_URL that is not Postgres or names no database', () => {
      for (const value of ['mysql://x/y', 'postgres://host:5432', 'postgres://host:5432/', 'not a url']) {
        assert.throws(
          () => loadConfig({ READ_DATABASE_URL: value }),
          (error: unknown) => {
            assert.ok(error instanceof ConfigError);
            assert.equal(error.problems.length, 1);
            assert.match(
              error.message,
              /READ_DATABASE_URL must be a URL like postgres:\/\/postgres@127\.0\.0\.1:5432\/orders/,
            );
            return true;
          },
        );
      }
    });

    it('never prints its password, nor that of the DATABASE_URL it would follow', () => {
      assert.throws(
        () => loadConfig({ READ_DATABASE_URL: 'mysql://reader:read-secret@host/db' }),
        (error: unknown) => {
          const { message } = error as Error;
          assert.match(message, /mysql:\/\/reader:\*\*\*@host\/db/);
          return !message.includes('read-secret');
        },
      );
      assert.throws(
        () => loadConfig({ DATABASE_URL: 'mysql://user:store-secret@host/db' }),
        (error: unknown) => {
          const { message } = error as Error;
          assert.doesNotMatch(message, /READ_DATABASE_URL/);
          return !message.includes('store-secret');
        },
      );
    });
  });
});
