import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { ServiceUnavailableException } from '@nestjs/common';

import { HealthController, type HealthCheck } from '@app/platform';

const up = (name: string): HealthCheck => ({ name, check: () => Promise.resolve() });
const down = (name: string): HealthCheck => ({ name, check: () => Promise.reject(new Error('refused')) });
const degraded = (name: string, why: string): HealthCheck => ({ ...up(name), degraded: () => why });

describe('GET /health/ready', () => {
  it('is ok when every dependency answers', async () => {
    assert.deepEqual(await new HealthController([up('postgres'), up('kafka')]).ready(), {
      status: 'ok',
      checks: { postgres: 'up', kafka: 'up' },
    });
  });

  it('is degraded, and still ready, when a dependency answers below what is configured, naming why', async () => {
    const checks = [
      up('postgres'),
      degraded('kafka', 'orders.events: replication factor 1, weaker than the 3 configured'),
    ];
    assert.deepEqual(await new HealthController(checks).ready(), {
      status: 'degraded',
      checks: { postgres: 'up', kafka: 'degraded: orders.events: replication factor 1, weaker than the 3 configured' },
    });
  });

  it('is unavailable when one does not answer, whatever the others say', async () => {
    await assert.rejects(new HealthController([down('postgres'), degraded('kafka', 'weak')]).ready(), (error) => {
      assert.ok(error instanceof ServiceUnavailableException);
      assert.deepEqual(error.getResponse(), {
        status: 'unavailable',
        checks: { postgres: 'down: refused', kafka: 'degraded: weak' },
      });
      return true;
    });
  });
});
