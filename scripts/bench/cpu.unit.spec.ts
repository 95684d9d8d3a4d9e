import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { coresBetween, machineCpu, parseProcStat, type CpuSample } from './cpu.js';
import { saturated } from './report.js';

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

  it("divides the machine's and the five processes' CPU time by the wall time", () => {
    const cores = coresBetween(
      { before: { busyMs: 1_000, allMs: 2_000 }, after: { busyMs: 20_600, allMs: 22_000 } },
      { before: processes(100), after: processes(3_300) },
      10_000,
    );
    assert.deepEqual(cores, { machine: 2, machine_busy: 1.96, system: 1.6 });
  });

  it('calls a machine busy nine tenths of the time or more saturated, and not one with a core to spare', () => {
    assert.equal(saturated({ machine: 2, machine_busy: 1.96, system: 1.6 }), true);
    assert.equal(saturated({ machine: 2, machine_busy: 1.8, system: 1.5 }), true);
    assert.equal(saturated({ machine: 2, machine_busy: 1.38, system: 1.18 }), false);
    assert.equal(saturated({ machine: 0, machine_busy: 0, system: 0 }), false);
  });
});
