import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';

import {
  configToEnv,
  createTestEnvironment,
  describeGroup,
  eventually,
  freePorts,
  placeOrderBody,
  repositoryRoot,
  type TestEnvironment,
} from '@app/testing';

const SCALE = 'command-api=2,projection-worker=3,query-api=2';

/**
 * `npm start -- --scale …` as a newcomer runs it (scripts/start.mjs: build, migrate, every instance
 * its own process), on ports, a database, a topic and consumer groups of this test's own: two
 * command APIs of which one relay leads, three workers sharing the partitions, two query APIs
 * answering the same orders; Ctrl-C stops them all.
 */
describe('npm start --scale: every app scaled out', () => {
  let env: TestEnvironment | undefined;
  let start: ChildProcess | undefined;
  const output: string[] = [];
  let base = 0;

  before(async () => {
    env = await createTestEnvironment('start_scaled', { partitions: 3, relay: 'in-process' });
    base = await freePorts(21); // command API base, query API +1, worker +2; further instances every 10
  });

  after(async () => {
    if (start && start.exitCode === null && start.signalCode === null) {
      start.kill('SIGKILL');
      if (start.pid) process.kill(-start.pid, 'SIGKILL'); // its apps, in its process group
    }
    await env?.dispose();
  });

  it('starts two command APIs, three workers and two query APIs that serve one system', async () => {
    assert.ok(env);
    const url = (offset: number): string => `http://127.0.0.1:${String(base + offset)}`;
    const commandApis = [url(0), url(10)];
    const queryApis = [url(1), url(11)];
    const workers = [url(2), url(12), url(22)];
    start = spawn(process.execPath, [join(repositoryRoot(), 'scripts', 'start.mjs'), '--scale', SCALE], {
      cwd: repositoryRoot(),
      env: {
        ...process.env,
        ...configToEnv(env.config),
        COMMAND_API_PORT: String(base),
        QUERY_API_PORT: String(base + 1),
        PROJECTION_WORKER_PORT: String(base + 2),
        LOG_FORMAT: 'json',
        NO_COLOR: '1',
      },
      detached: true, // its own process group, so that `after` can reach its apps if it fails
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    for (const stream of [start.stdout!, start.stderr!])
      createInterface({ input: stream }).on('line', (line) => output.push(line));
    const exited = new Promise<number | null>((resolve) => start!.once('exit', resolve));
    await eventually(
      () => {
        assert.equal(start!.exitCode, null, `npm start exited:\n${output.slice(-20).join('\n')}`);
        assert.ok(output.some((line) => line.includes('The order system is running.')));
      },
      { timeoutMs: 240_000, intervalMs: 250 }, // includes the build
    );
    const welcome = output.join('\n');
    for (const address of [...commandApis, ...queryApis, ...workers]) assert.ok(welcome.includes(address), address);

    // Orders placed through either command API are read back through either query API.
    const placed: string[] = [];
    for (let index = 0; index < 6; index++) {
      const response = await fetch(`${commandApis[index % 2]!}/orders`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(placeOrderBody({ customerId: `scaled-${String(index)}` })),
      });
      assert.equal(response.status, 201);
      placed.push(((await response.json()) as { orderId: string }).orderId);
    }
    for (const orderId of placed) {
      for (const queryApi of queryApis) {
        const response = await fetch(`${queryApi}/orders/${orderId}?minVersion=1`);
        assert.equal(response.status, 200, `${queryApi}/orders/${orderId}`);
        assert.equal(((await response.json()) as { orderId: string }).orderId, orderId);
      }
    }

    // One relay leads; the other command API's stands by.
    const leaders = output.filter((line) => line.includes('outbox relay is the leader'));
    assert.equal(leaders.length, 1, leaders.join('\n'));
    // The three workers share each projection's partitions, one each.
    await eventually(async () => {
      const group = await describeGroup(
        env!.kafka,
        `${env!.config.kafka.groupPrefix}projection.order-view`,
        env!.config.kafka.ordersTopic,
      );
      assert.deepEqual(
        group.members.map((member) => member.partitions.length),
        [1, 1, 1],
      );
    });
    for (const worker of workers) assert.equal((await fetch(`${worker}/health/ready`)).status, 200, worker);

    // Ctrl-C stops every instance it started.
    start.kill('SIGINT');
    assert.equal(await exited, 0, output.slice(-20).join('\n'));
    for (const address of [...commandApis, ...queryApis, ...workers])
      await assert.rejects(fetch(`${address}/health/live`), `${address} still answers after Ctrl-C`);
  });
});
