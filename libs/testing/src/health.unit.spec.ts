import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { ServiceUnavailableException } from '@nestjs/common';
import { Test } from '@nestjs/testing';

import { HealthController, HealthModule, type HealthCheck } from '@app/platform';

const up = (name: string): HealthCheck => ({ name, check: () => Promise.resolve() });
const down = (name: string): HealthCheck => ({ name, check: () => Promise.reject(new Error('refused')) });
const degraded = (name: string, why: string): HealthCheck => ({ ...up(name), degraded: () => why });
/** Answers after a minute; its timer also keeps the process alive meanwhile, as an app's server does. */
function silent(name: string): HealthCheck & { stop(): void } {
  let timer: NodeJS.Timeout | undefined;
  return {
    name,
    check: () =>
      new Promise((resolve) => {
        timer = setTimeout(resolve, 60_000);
      }),
    stop: () => {
      clearTimeout(timer);
    },
  };
}

/** The controller as an app wires it: Terminus's services and these checks. */
async function controller(checks: readonly HealthCheck[]): Promise<HealthController> {
  const module = await Test.createTestingModule({
    imports: [HealthModule.withChecks({ useFactory: () => checks })],
  })
    .setLogger({ log: () => undefined, error: () => undefined, warn: () => undefined })
    .compile();
  return module.get(HealthController);
}

describe('GET /health/ready', () => {
  it('is ok when every dependency answers', async () => {
    assert.deepEqual(await (await controller([up('postgres'), up('kafka')])).ready(), {
      status: 'ok',
      checks: { postgres: 'up', kafka: 'up' },
    });
  });

  it('is degraded, and still ready, when a dependency answers below what is configured, naming why', async () => {
    const checks = [
      up('postgres'),
      degraded('kafka', 'orders.events: replication factor 1, weaker than the 3 configured'),
    ];
    assert.deepEqual(await (await controller(checks)).ready(), {
      status: 'degraded',
      checks: { postgres: 'up', kafka: 'degraded: orders.events: replication factor 1, weaker than the 3 configured' },
    });
  });

  it('is unavailable when one does not answer, whatever the others say', async () => {
    await assert.rejects((await controller([down('postgres'), degraded('kafka', 'weak')])).ready(), (error) => {
      assert.ok(error instanceof ServiceUnavailableException);
      assert.deepEqual(error.getResponse(), {
        status: 'unavailable',
        checks: { postgres: 'down: refused', kafka: 'degraded: weak' },
      });
      return true;
    });
  });

  it('counts a dependency that does not answer within 2 s as down', async () => {
    const kafka = silent('kafka');
    await assert.rejects((await controller([up('postgres'), kafka])).ready(), (error) => {
      assert.ok(error instanceof ServiceUnavailableException);
      assert.deepEqual(error.getResponse(), {
        status: 'unavailable',
        checks: { postgres: 'up', kafka: 'down: timeout of 2000ms exceeded' },
      });
      return true;
    });
    kafka.stop();
  });

  it('is live without asking any dependency', async () => {
    assert.deepEqual((await controller([down('postgres')])).live(), { status: 'ok' });
  });
});
