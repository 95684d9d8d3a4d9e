import { hostname, userInfo } from 'node:os';

import {
  ProjectionRebuilder,
  RebuildAlreadyActive,
  StreamReplayUnsupported,
  replayStream,
  type Projection,
  type RebuildRecord,
  type ReplayContext,
} from '@app/projections';

import { ProgressDisplay, formatSeconds } from './progress-view.js';
import { USAGE, type ReplayRequest } from './replay-arguments.js';

export const EXIT = { done: 0, failed: 1, usage: 2, conflict: 3, interrupted: 130 } as const;

/** Who ran the command, for the rebuild's record and the logs. */
export function operator(): string {
  return `admin-cli:${userInfo().username}@${hostname()}`;
}

/** Runs a parsed replay request; returns the process's exit code. */
export async function runReplay(
  request: ReplayRequest,
  context: ReplayContext,
  projections: readonly Projection[],
  { out, signal }: { out: NodeJS.WriteStream; signal: AbortSignal },
): Promise<number> {
  const byName = new Map(projections.map((projection) => [projection.name, projection]));
  const chosen =
    request.kind === 'help'
      ? []
      : request.projections.map((name) => byName.get(name)).filter((projection) => projection !== undefined);
  switch (request.kind) {
    case 'help':
      out.write(`${USAGE}\n\nKnown projections: ${projections.map((projection) => projection.name).join(', ')}\n`);
      return EXIT.done;
    case 'order':
      return replayOneOrder(request, context, chosen, out);
    case 'rebuild':
      return request.dryRun ? planRebuilds(context, chosen, out) : rebuildAll(context, chosen, out, signal);
  }
}

async function planRebuilds(
  context: ReplayContext,
  projections: readonly Projection[],
  out: NodeJS.WriteStream,
): Promise<number> {
  const rebuilder = new ProjectionRebuilder(context);
  for (const projection of projections) {
    const plan = await rebuilder.plan(projection);
    const partitions = Object.entries(plan.highWaterMarks)
      .map(([partition, end]) => `p${partition} ${String(end)}`)
      .join(', ');
    out.write(
      `${plan.projection}: live generation ${String(plan.live.generation)} (schema ${plan.live.schemaName}, built by version ${String(plan.live.version)} at ${plan.live.builtAt}); code version ${String(plan.codeVersion)}\n` +
        `  would fill generation ${String(plan.nextGeneration)} from offset 0 up to ${plan.events.toLocaleString('en-US')} events (${partitions}), then switch readers to it\n` +
        (plan.activeRebuild
          ? `  but rebuild ${plan.activeRebuild.id} is ${plan.activeRebuild.state} (by ${plan.activeRebuild.requestedBy}): it would be refused, or replace it if that process is gone\n`
          : ''),
    );
  }
  out.write('dry run: nothing was changed\n');
  return EXIT.done;
}

async function rebuildAll(
  context: ReplayContext,
  projections: readonly Projection[],
  out: NodeJS.WriteStream,
  signal: AbortSignal,
): Promise<number> {
  const rebuilder = new ProjectionRebuilder(context);
  const display = new ProgressDisplay(
    projections.map((projection) => projection.name),
    out,
  );
  const by = operator();
  let results;
  try {
    results = await Promise.all(
      projections.map(
        async (projection): Promise<{ projection: string; record?: RebuildRecord; conflict?: string }> => {
          try {
            const record = await rebuilder.rebuild(projection, by, 'admin-cli', {
              signal,
              onProgress: (progress) => {
                display.update(projection.name, progress);
              },
            });
            return { projection: projection.name, record };
          } catch (error) {
            if (error instanceof RebuildAlreadyActive) return { projection: projection.name, conflict: error.message };
            throw error;
          }
        },
      ),
    );
  } finally {
    display.stop(); // the final figures stay on screen; what follows is printed below them
  }
  let exit: number = EXIT.done;
  for (const { projection, record, conflict } of results) {
    if (conflict !== undefined) {
      display.log(`${projection}: not started: ${conflict}`);
      exit = Math.max(exit, EXIT.conflict);
    } else if (record?.state === 'switched') {
      const progress = record.progress;
      const rate =
        progress && progress.elapsedSeconds > 0 ? Math.round(progress.eventsTotal / progress.elapsedSeconds) : 0;
      display.log(
        `${projection}: rebuilt as generation ${String(record.generation)} (${record.schemaName ?? ''}) from ${String(progress?.eventsTotal ?? 0)} events ` +
          `in ${formatSeconds(progress?.elapsedSeconds ?? 0)} (${rate.toLocaleString('en-US')} events/s overall); readers switched`,
      );
    } else {
      display.log(
        `${projection}: ${record?.state ?? 'failed'}: ${record?.error ?? 'unknown error'}; the live generation is unchanged`,
      );
      exit =
        record?.state === 'cancelled' && signal.aborted
          ? Math.max(exit, EXIT.interrupted)
          : Math.max(exit, EXIT.failed);
    }
  }
  return exit;
}

async function replayOneOrder(
  request: Extract<ReplayRequest, { kind: 'order' }>,
  context: ReplayContext,
  projections: readonly Projection[],
  out: NodeJS.WriteStream,
): Promise<number> {
  const able = projections.filter((projection) => projection.forgetStream !== undefined);
  const unable = projections.filter((projection) => projection.forgetStream === undefined);
  if (!request.all && unable.length > 0) {
    for (const projection of unable) out.write(`${new StreamReplayUnsupported(projection.name).message}\n`);
    return EXIT.usage;
  }
  for (const projection of unable)
    out.write(`${projection.name}: skipped: ${new StreamReplayUnsupported(projection.name).message}\n`);
  if (request.dryRun) {
    const { partition, partitions } = await context.kafka.partitionOf(context.topic, request.orderId);
    out.write(
      `order ${request.orderId}: its key maps to partition ${String(partition)} of ${String(partitions)} (murmur2, as the producer); ` +
        `would read that partition and rebuild the order's rows in ${able.map((projection) => projection.name).join(', ')}\ndry run: nothing was changed\n`,
    );
    return EXIT.done;
  }
  for (const projection of able) {
    const started = performance.now();
    const outcome = await replayStream(context, projection, request.orderId);
    out.write(
      `${projection.name}: order ${outcome.streamId} rebuilt from partition ${String(outcome.partition)}: ${String(outcome.eventsApplied)} events applied` +
        `${outcome.stillParked > 0 ? `, ${String(outcome.stillParked)} still parked` : ''} (${outcome.recordsRead.toLocaleString('en-US')} records read in ${formatSeconds((performance.now() - started) / 1_000)})\n`,
    );
  }
  return EXIT.done;
}
