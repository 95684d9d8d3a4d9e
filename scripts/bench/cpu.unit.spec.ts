import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, it } from 'node:test';

import {
  coresBetween,
  cpuUsPer,
  machineCpu,
  ownCpuMs,
  parseProcStat,
  reapedChildrenCpuMs,
  type CpuSample,
} from './cpu.js';
import { bounds, saturated } from './report.js';

const processes = (ms: number): CpuSample => ({
  command_api: ms,
  projection_worker: ms,
  query_api: ms,
  postgres: ms,
  kafka: ms,
});

describe('the cores in use over a phase', () => {
  it("counts /proc/stat's busy time without idle and iowait, and guest time once (it is in user)", () => {
    // user nice system idle iowait irq softirq steal guest guest_nice, in 10 ms ticks
    assert.deepEqual(parseProcStat('cpu  100 5 50 1000 20 3 2 1 40 0'), { busyMs: 1_610, allMs: 11_810 });
  });

  it("reads the machine's CPU time, busy within all", () => {
    const { busyMs, allMs } = machineCpu();
    assert.ok(busyMs > 0 && allMs >= busyMs, `busy ${String(busyMs)} of ${String(allMs)} ms`);
  });

  it("divides the machine's, the five processes' and the client's CPU time by the wall time", () => {
    const cores = coresBetween(
      { before: { busyMs: 1_000, allMs: 2_000 }, after: { busyMs: 20_600, allMs: 22_000 } },
      { before: processes(100), after: processes(3_300) },
      10_000,
      1_234,
    );
    assert.deepEqual(cores, { machine: 2, machine_busy: 1.96, system: 1.6, client: 0.12 });
  });

  it("reads this process's own CPU time, which grows with its work", () => {
    const before = ownCpuMs();
    const started = performance.now();
    while (ownCpuMs() - before < 20 && performance.now() - started < 10_000); // work on this thread, however busy the machine
    const grown = ownCpuMs() - before;
    const wall = performance.now() - started;
    assert.ok(grown >= 20, `${String(grown)} ms`);
    // In ms, not µs: one thread's work, plus the runtime's helper threads, fits in a few times its wall time.
    assert.ok(grown <= wall * 4 + 20, `${String(grown)} ms of CPU in ${wall.toFixed(1)} ms`);
  });

  it('calls a machine busy nine tenths of the time or more saturated, and not one with a core to spare', () => {
    assert.equal(saturated({ machine: 2, machine_busy: 1.96, system: 1.6, client: 0.3 }), true);
    assert.equal(saturated({ machine: 2, machine_busy: 1.8, system: 1.5, client: 0.2 }), true);
    assert.equal(saturated({ machine: 2, machine_busy: 1.38, system: 1.18, client: 0.1 }), false);
    assert.equal(saturated({ machine: 0, machine_busy: 0, system: 0, client: 0 }), false);
  });
});

describe('the CPU per unit of work and the bounds it sets', () => {
  it('gives microseconds per unit for each part and their total', () => {
    const perEvent = cpuUsPer(
      { replay: 1_000, postgres: 500, kafka: 0 },
      { replay: 17_000, postgres: 8_500, kafka: 400 },
      400_000,
    );
    assert.deepEqual(perEvent, { replay: 40, postgres: 20, kafka: 1, total: 61 });
  });

  it('counts the CPU of a child once it has exited and been reaped', async () => {
    const before = reapedChildrenCpuMs();
    // Spins until it has used 300 ms of CPU itself, however busy the machine is.
    const spin = 'while (process.cpuUsage().user + process.cpuUsage().system < 300_000);';
    const child = spawn(process.execPath, ['-e', spin]);
    await once(child, 'exit');
    const spent = reapedChildrenCpuMs() - before;
    assert.ok(spent >= 280, `${String(spent)} ms`); // /proc counts in 10 ms ticks
  });

  it('divides the cores by the CPU per order and per event, and names the ratios those rates would give', () => {
    const ceilings = {
      http_rps: 20_000,
      http_express_rps: 5_000,
      append_tps: 4_000,
      produce_mps: 40_000,
      consume_mps: 200_000,
      upsert_rps: 100_000,
    };
    const cpu = { command_api: 0.5, projection_worker: 0.3, query_api: 0, postgres: 0.5, kafka: 0.2, total: 1.6 };
    const consumeCpu = { kafkajs: 5, kafka: 2, total: 7 };
    const result = bounds(
      ceilings,
      { load_cpu_ms_per_order: cpu, replay_cpu_us_per_event: { replay: 25, postgres: 12, kafka: 3, total: 40 } },
      { cores: 2, projections: 4, consumeCpu },
    );
    // 2,000 ms of CPU a second ÷ 1.6 ms an order; (50 + 250 + 25 + 5 + 40) µs through the raw parts an order
    assert.deepEqual(result, {
      cores: 2,
      consume_cpu_us_per_message: consumeCpu,
      orders_per_s: 1_250,
      orders_vs_pipeline: 0.46,
      replay_events_per_s: 50_000,
      replay_vs_consume: 0.25,
    });
  });
});
