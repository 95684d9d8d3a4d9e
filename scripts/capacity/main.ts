/**
 * `npm run capacity -- --orders-per-second N [options]`: partitions, brokers, disk, network, workers and
 * Postgres for a target load, from the figures `npm run bench` measured (docs/capacity.md).
 * Exit codes: 0 printed, 2 bad command line or results file.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

import { REFERENCE_FIGURES, n, planCapacity, type CapacityPlan, type MeasuredFigures } from './calculator.js';
import { CapacityUsageError, USAGE, figuresFromBench, parseCapacityOptions } from './options.js';

function repositoryRoot(): string {
  for (let dir = import.meta.dirname; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) return process.cwd();
  }
}

function loadFigures(from: string | undefined): MeasuredFigures {
  const path = from ?? join(repositoryRoot(), 'bench', 'results', 'latest.json');
  if (from === undefined && !existsSync(path)) return REFERENCE_FIGURES;
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new CapacityUsageError(`--from ${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const quick = (json as { machine?: { quick?: boolean } }).machine?.quick === true;
  return figuresFromBench(json, quick ? `${path} (a --quick run: noisy figures)` : path);
}

function render(plan: CapacityPlan): string {
  const f = plan.figures;
  const lines = [
    `Measured figures (${f.source}):`,
    `  consume ceiling ${n(f.consumePerSecond)} msg/s; replay ${n(f.replayEventsPerSecond)} events/s over ${n(f.replayPartitionsAtOnce)} partitions at once`,
    `  CPU ms per event: command API ${n(f.cpuMsPerEvent.commandApi)}, worker ${n(f.cpuMsPerEvent.worker)}, query API ${n(f.cpuMsPerEvent.queryApi)} (per read), Kafka ${n(f.cpuMsPerEvent.kafka)}, Postgres ${n(f.cpuMsPerEvent.postgres)}`,
  ];
  for (const { title, quantities } of plan.sections) {
    lines.push('', title);
    for (const quantity of quantities) {
      lines.push(`  ${quantity.name}: ${n(quantity.value)}${quantity.unit ? ` ${quantity.unit}` : ''}`);
      lines.push(`      = ${quantity.formula}`);
      lines.push(`      = ${quantity.workings}`);
    }
  }
  return lines.join('\n');
}

try {
  const options = parseCapacityOptions(process.argv.slice(2));
  if (options === 'help') {
    console.log(USAGE);
  } else {
    console.log(render(planCapacity(options.target, loadFigures(options.from))));
  }
} catch (error) {
  if (!(error instanceof CapacityUsageError)) throw error;
  console.error(`capacity: ${error.message}\n\n${USAGE}`);
  process.exitCode = 2;
}
