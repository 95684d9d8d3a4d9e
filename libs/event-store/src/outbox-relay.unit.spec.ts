import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { ORDER_EVENTS } from '@app/messaging';
import { eventually } from '@app/testing';

import { OutboxRelay, leaderSessionConfig } from './outbox-relay.js';

describe('leader session settings', () => {
  it('ask Postgres to wait at least twice the lease before dropping a silent leader, for any lease', () => {
    for (let leaseMs = 1_000; leaseMs <= 60_000; leaseMs += 250) {
      const config = leaderSessionConfig('postgres://postgres@127.0.0.1:5432/orders', leaseMs);
      assert.ok(
        config.serverPatienceMs >= 2 * leaseMs,
        `lease ${String(leaseMs)} ms: patience ${String(config.serverPatienceMs)} ms`,
      );
      assert.ok((config.query_timeout ?? Infinity) <= leaseMs / 2);
      assert.match(
        new URL(config.connectionString ?? '').searchParams.get('options') ?? '',
        new RegExp(`tcp_user_timeout=${String(config.serverPatienceMs)}\\b`),
      );
    }
  });

  it('keep the startup options the database URL already has', () => {
    const { connectionString } = leaderSessionConfig(
      'postgres://u:p@db.example:6543/orders?options=-c%20search_path%3Dorders&sslmode=require',
      5_000,
    );
    const url = new URL(connectionString ?? '');
    assert.equal(
      url.searchParams.get('options'),
      '-c search_path=orders -c tcp_keepalives_idle=5 -c tcp_keepalives_interval=2 -c tcp_keepalives_count=3 -c tcp_user_timeout=11000 -c synchronous_commit=off -c plan_cache_mode=force_custom_plan',
    );
    assert.equal(url.searchParams.get('application_name'), 'outbox-relay');
    assert.equal(url.searchParams.get('sslmode'), 'require');
    assert.deepEqual(
      [url.hostname, url.port, url.pathname, url.username, url.password],
      ['db.example', '6543', '/orders', 'u', 'p'],
    );
  });
});

describe('the relay started during a stop', () => {
  it('refuses until the stop has closed the publisher; started after it, it runs and stops again', async () => {
    let closed = 0;
    let finishClosing = (): void => undefined;
    const publisher = {
      publish: () => Promise.resolve(),
      close: () => {
        closed++;
        return new Promise<void>((resolve) => (finishClosing = resolve));
      },
    };
    // Nothing listens on port 1: the relay fails to lead and stands by, which a stop ends at once.
    const relay = new OutboxRelay(publisher, {
      databaseUrl: 'postgres://postgres@127.0.0.1:1/none',
      contract: ORDER_EVENTS,
      pollIntervalMs: 60_000,
      batchSize: 100,
      leaseMs: 5_000,
    });
    const refused = /stopping: start it again once stop\(\) has resolved/;
    relay.start();
    const stopping = relay.stop();
    assert.throws(() => {
      relay.start();
    }, refused); // the run has not ended yet
    await eventually(
      () => {
        assert.equal(closed, 1);
      },
      { timeoutMs: 10_000, intervalMs: 2 },
    );
    assert.throws(() => {
      relay.start();
    }, refused); // the run has ended; the publisher is closing
    assert.equal(relay.stop(), stopping, 'a second stop shares the first');
    finishClosing();
    await stopping;
    relay.start();
    const stoppingAgain = relay.stop();
    await eventually(
      () => {
        assert.equal(closed, 2);
      },
      { timeoutMs: 10_000, intervalMs: 2 },
    );
    finishClosing();
    await stoppingAgain;
  });
});
