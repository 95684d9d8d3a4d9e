import assert from 'node:assert/strict';

import request from 'supertest';

import { eventually } from './eventually.js';
import type { TestServer } from './test-app.js';
import { TEST_ADMIN_TOKEN } from './test-environment.js';

/** The admin endpoints' bearer header in every test environment. */
export const ADMIN_AUTH = { Authorization: `Bearer ${TEST_ADMIN_TOKEN}` } as const;

export interface ParkedEventItem {
  readonly id: string;
  readonly projection: string;
  readonly orderId: string | null;
  readonly offset: string;
  readonly partition: number;
  readonly reason: string;
  readonly deadLettered: boolean;
}

/** Every parked event of the live generations, through the admin API. */
export async function listParkedEvents(queryApi: TestServer): Promise<ParkedEventItem[]> {
  const response = await request(queryApi).get('/admin/parked-events?limit=1000').set(ADMIN_AUTH).expect(200);
  return (response.body as { items: ParkedEventItem[] }).items;
}

export interface RebuildState {
  readonly id: string;
  readonly state: string;
  readonly generation: number | null;
}

/** Asks the worker to rebuild a projection through the admin API (202); returns the rebuild's status URL. */
export async function requestRebuild(queryApi: TestServer, projection: string): Promise<string> {
  const accepted = await request(queryApi).post(`/admin/projections/${projection}/rebuild`).set(ADMIN_AUTH).expect(202);
  return (accepted.body as { statusUrl: string }).statusUrl;
}

/** Waits until the rebuild behind `statusUrl` switched; fails if it ended otherwise. */
export function waitUntilSwitched(
  queryApi: TestServer,
  statusUrl: string,
  { timeoutMs = 120_000 } = {},
): Promise<RebuildState> {
  return eventually(
    async () => {
      const { rebuild } = (await request(queryApi).get(statusUrl).set(ADMIN_AUTH).expect(200)).body as {
        rebuild: RebuildState;
      };
      assert.ok(
        rebuild.state !== 'failed' && rebuild.state !== 'cancelled',
        `rebuild ${rebuild.id} ended ${rebuild.state}`,
      );
      assert.equal(rebuild.state, 'switched');
      return rebuild;
    },
    { timeoutMs, intervalMs: 100 },
  );
}

/** Rebuilds a projection through the admin API and waits until it switched. */
export async function rebuildThroughAdminApi(
  queryApi: TestServer,
  projection: string,
  options: { timeoutMs?: number } = {},
): Promise<RebuildState> {
  return waitUntilSwitched(queryApi, await requestRebuild(queryApi, projection), options);
}
