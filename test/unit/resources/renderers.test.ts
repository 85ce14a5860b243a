import fs from 'node:fs';
import path from 'node:path';

import { describe, expect, test } from 'vitest';

import { isWithin, ownsCgroup, parseCgroupMounts, parseProcCgroup } from '../../../src/resources/cgroup-paths';
import { memStatOf, parseCpuList, parseCpuMax, parseKeyed, parseLimit, quotaCpus, visibleCpus, type CgMemory } from '../../../src/resources/cgroup-values';
import { renderCpuinfo } from '../../../src/resources/cpuinfo';
import { calcLoad, FIXED_1, renderLoadavg, stepLoad } from '../../../src/resources/loadavg';
import { parseMeminfo, renderMeminfo } from '../../../src/resources/meminfo';
import { cpuTicks, hostCpuTicks, onlineCpus, renderStat, renderUptime, withCpuRows } from '../../../src/resources/stat';

const FIX = path.resolve(__dirname, '../../fixtures/resources');
const fixture = (n: string) => fs.readFileSync(path.join(FIX, n), 'latin1');
const MiB = 1024 * 1024;

describe('cgroup paths', () => {
  test('/proc/<pid>/cgroup of a hybrid layout: v1 controllers and the unified path', () => {
    const p = parseProcCgroup('9:name=systemd:/\n4:memory:/box/a\n2:cpu,cpuacct:/box\n0::/init.scope\n');
    expect(p.v1.get('memory')).toBe('/box/a');
    expect(p.v1.get('cpu')).toBe('/box');
    expect(p.v1.get('cpuacct')).toBe('/box');
    expect(p.v2).toBe('/init.scope');
  });
  test('cgroup mounts: v1 by controller option, the first cgroup2, octal escapes', () => {
    const m = parseCgroupMounts(
      'cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,relatime,cpu,cpuacct 0 0\ncgroup /sys/fs/cgroup/memory cgroup rw,memory 0 0\ncgroup2 /sys/fs/cgroup/uni\\040fied cgroup2 rw 0 0\n',
    );
    expect(m.v1.get('cpuacct')).toBe('/sys/fs/cgroup/cpu,cpuacct');
    expect(m.v1.get('memory')).toBe('/sys/fs/cgroup/memory');
    expect(m.v2).toBe('/sys/fs/cgroup/uni fied');
  });
  test('a container owns a cgroup below the root that the daemon is not in or below', () => {
    expect(isWithin('/a/b', '/a')).toBe(true);
    expect(isWithin('/ab', '/a')).toBe(false);
    expect(ownsCgroup('/', '/')).toBe(false);
    expect(ownsCgroup('/box', '/')).toBe(true);
    // a sandbox that inherited the daemon's cgroup (or an ancestor of it) has the host's resources
    expect(ownsCgroup('/api/x', '/api/x')).toBe(false);
    expect(ownsCgroup('/api', '/api/x')).toBe(false);
    expect(ownsCgroup('/api/x/box', '/api/x')).toBe(true);
    expect(ownsCgroup('/machine/c1', '/system/procfuse')).toBe(true);
  });
});

describe('cgroup values', () => {
  test('limits: max and the v1 page-counter maximum are unlimited', () => {
    expect(parseLimit('max\n')).toBeUndefined();
    expect(parseLimit('9223372036854771712\n')).toBeUndefined();
    expect(parseLimit('268435456\n')).toBe(268435456);
  });
  test('cpu lists, quotas, visible CPUs', () => {
    expect(parseCpuList('0-2,5,7-8\n')).toEqual([0, 1, 2, 5, 7, 8]);
    expect(quotaCpus(150000, 100000)).toBe(2);
    expect(quotaCpus(-1, 100000)).toBeUndefined();
    expect(quotaCpus(1000, 100000)).toBe(1);
    expect(parseCpuMax('max 100000')).toEqual({ period: 100000 });
    expect(parseCpuMax('50000 100000')).toEqual({ quota: 50000, period: 100000 });
    expect(visibleCpus([0, 1, 2, 3], [1, 3], undefined)).toEqual([1, 3]);
    expect(visibleCpus([0, 1, 2, 3], [1, 2, 3], 2)).toEqual([1, 2]);
    expect(visibleCpus([0, 1, 2, 3], undefined, 8)).toEqual([0, 1, 2, 3]);
    expect(visibleCpus([0, 1], [5], undefined)).toEqual([0, 1]); // an offline-only cpuset: nothing better to show
  });
  test('memory.stat v1 takes the hierarchical total_ values, v2 its own names', () => {
    const v1 = memStatOf(parseKeyed(fixture('memory.stat.v1')), false);
    expect(v1.anon).toBe(2105344);
    expect(v1.file).toBe(589824);
    expect(v1.inactiveAnon).toBe(1986560);
    const v2 = memStatOf(parseKeyed(fixture('memory.stat.v2')), true);
    expect(v2).toMatchObject({ anon: 100 * MiB, file: 50 * MiB, shmem: 4 * MiB, mapped: 10 * MiB, slabReclaimable: 3 * MiB, slabUnreclaimable: 2 * MiB, pageTables: 2 * MiB });
  });
});

describe('meminfo', () => {
  const host = fixture('meminfo');
  const hostKb = (k: string) => parseMeminfo(host).find((l) => l.key === k)!.kb;
  const cg = (over: Partial<CgMemory> = {}): CgMemory => ({
    limit: 256 * MiB,
    usage: 160 * MiB,
    swapLimit: 0,
    swapUsage: 0,
    stat: memStatOf(parseKeyed(fixture('memory.stat.v2')), true),
    ...over,
  });
  const get = (text: string) => new Map(parseMeminfo(text).map((l) => [l.key, l.kb]));

  test('MemTotal is the limit, MemFree what the usage leaves, every line the host has, in its order, no size above its total', () => {
    const text = renderMeminfo(host, cg());
    const m = get(text);
    expect(m.get('MemTotal')).toBe(256 * 1024);
    expect(m.get('MemFree')).toBe(96 * 1024);
    expect(m.get('Cached')).toBe(50 * 1024);
    expect(m.get('AnonPages')).toBe(100 * 1024);
    expect(m.get('MemAvailable')).toBe(96 * 1024 + 50 * 1024 + 3 * 1024);
    expect([...m.keys()]).toEqual(parseMeminfo(host).map((l) => l.key));
    for (const [k, v] of m) {
      if (/^(Vmalloc|Huge|Hugetlb)/.test(k)) continue;
      expect.soft(v, k).toBeLessThanOrEqual(256 * 1024);
    }
    // the kernel's layout: key padded to 16, value to 8
    expect(text.split('\n')[0]).toBe(`MemTotal:${' '.repeat(7)}  262144 kB`);
  });
  test('unlimited, or a limit larger than the host: the host MemTotal; usage above the limit never makes MemFree negative', () => {
    expect(get(renderMeminfo(host, cg({ limit: undefined }))).get('MemTotal')).toBe(hostKb('MemTotal'));
    expect(get(renderMeminfo(host, cg({ limit: 2 ** 50 }))).get('MemTotal')).toBe(hostKb('MemTotal'));
    expect(get(renderMeminfo(host, cg({ usage: 300 * MiB }))).get('MemFree')).toBe(0);
  });
  test('swap: the cgroup swap limit, capped at the host swap; SwapFree what its usage leaves', () => {
    const withSwap = host.replace(/^SwapTotal:.*$/m, 'SwapTotal:       1048576 kB').replace(/^SwapFree:.*$/m, 'SwapFree:        1048576 kB');
    const m = get(renderMeminfo(withSwap, cg({ swapLimit: 64 * MiB, swapUsage: 16 * MiB })));
    expect(m.get('SwapTotal')).toBe(64 * 1024);
    expect(m.get('SwapFree')).toBe(48 * 1024);
    expect(get(renderMeminfo(withSwap, cg({ swapLimit: undefined }))).get('SwapTotal')).toBe(1048576);
    expect(get(renderMeminfo(host, cg({ swapLimit: 64 * MiB }))).get('SwapTotal')).toBe(hostKb('SwapTotal'));
  });
});

describe('cpuinfo and stat agree', () => {
  const cpuinfo = fixture('cpuinfo');
  const stat = fixture('stat');
  test('cpuinfo keeps the visible CPUs, renumbered from 0', () => {
    const out = renderCpuinfo(cpuinfo, [1]);
    expect(out.match(/^processor\s*:/gm)).toHaveLength(1);
    expect(out).toMatch(/^processor\s*: 0$/m);
    expect(out.endsWith('\n\n') || out.endsWith('\n')).toBe(true);
    expect(renderCpuinfo(cpuinfo, onlineCpus(stat)).match(/^processor/gm)).toHaveLength(onlineCpus(stat).length);
    // eight host CPUs, a container of three
    const eight = Array.from({ length: 8 }, (_, i) => `processor\t: ${i}\nmodel name\t: X\nsiblings\t: 8\ncpu cores\t: 4\n`).join('\n');
    const three = renderCpuinfo(eight, [2, 5, 7]);
    expect(three.match(/^processor\t: ([0-9]+)$/gm)).toEqual(['processor\t: 0', 'processor\t: 1', 'processor\t: 2']);
    expect(three).toMatch(/^siblings\t: 3$/m);
    expect(three).not.toMatch(/siblings\t: 8/);
  });
  test('stat: one line per visible CPU, times from the usage, idle the rest of the uptime, the summary their sum', () => {
    const out = renderStat(stat, {
      uptime: 100,
      btime: 1000,
      times: { user: [30e9, 5e9], system: [10e9, 0] },
      processes: 42,
      running: 1,
      blocked: 0,
      ctxt: 77,
    });
    const lines = out.split('\n');
    expect(lines[0]).toBe('cpu  3500 0 1000 15500 0 0 0 0 0 0');
    expect(lines[1]).toBe('cpu0 3000 0 1000 6000 0 0 0 0 0 0');
    expect(lines[2]).toBe('cpu1 500 0 0 9500 0 0 0 0 0 0');
    expect(lines.filter((l) => /^cpu[0-9]/.test(l))).toHaveLength(2);
    expect(out).toMatch(/^btime 1000$/m);
    expect(out).toMatch(/^processes 42$/m);
    expect(out).toMatch(/^procs_running 1$/m);
    expect(out).toMatch(/^ctxt 77$/m);
    expect(out).toMatch(/^intr /m);
  });
  test('usage above the elapsed time (a cgroup older than its init) never gives negative idle', () => {
    expect(cpuTicks({ uptime: 1, times: { user: [5e9], system: [5e9] } })).toEqual([{ user: 100, system: 0, idle: 0 }]);
  });
  test('without accounting: the host rows of the visible CPUs, renumbered, with their sum', () => {
    const rows = hostCpuTicks('cpu  9 9 9 9\ncpu0 1 2 3 4 0 0 0 0 0 0\ncpu1 10 20 30 40 0 0 0 0 0 0\n', [1]);
    const out = withCpuRows('cpu  0\ncpu0 0\nctxt 1\n', rows);
    expect(out.split('\n').slice(0, 2)).toEqual(['cpu  10 20 30 40 0 0 0 0 0 0', 'cpu0 10 20 30 40 0 0 0 0 0 0']);
  });
  test('uptime prints centiseconds like the kernel', () => {
    expect(renderUptime(12.345, 250)).toBe('12.34 2.50\n');
  });
});

describe('loadavg', () => {
  test('calc_load converges to the number of active tasks, and decays', () => {
    let a = [0, 0, 0];
    for (let i = 0; i < 12; i++) a = stepLoad(a, 2); // one minute of two busy tasks
    expect(a[0]! / FIXED_1).toBeGreaterThan(1.2);
    expect(a[0]! / FIXED_1).toBeLessThan(2);
    expect(a[0]!).toBeGreaterThan(a[1]!);
    expect(a[1]!).toBeGreaterThan(a[2]!);
    expect(calcLoad(FIXED_1, 1884, 0)).toBeLessThan(FIXED_1);
  });
  test('printed as loadavg_proc_show does', () => {
    expect(renderLoadavg([FIXED_1, FIXED_1 / 2, 0], 1, 5, 37)).toBe('1.00 0.50 0.00 1/5 37\n');
  });
});

describe('start times on the container clock', () => {
  test('field 22 moves back by the init start, never below 0; a comm with spaces and parens is kept', async () => {
    const { shiftStartTime } = await import('../../../src/resources/start-time');
    const line = (start: number) => `7 (a) b (c) S 1 7 7 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 1 0 ${start} 2592 100 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n`;
    expect(shiftStartTime(line(5000), 4000n)).toBe(line(1000));
    expect(shiftStartTime(line(5000), 6000n)).toBe(line(0));
    expect(shiftStartTime(line(5000), 0n)).toBe(line(5000));
  });
});

describe('-o cgroup=', () => {
  test('parsed, given back, and refused when relative or with ..', async () => {
    const { parseProcOptions, formatProcOptions } = await import('../../../src/cli/proc-options');
    const o = parseProcOptions(['pidns=42,cgroup=/machine/box']);
    expect(o.cgroup).toBe('/machine/box');
    expect(parseProcOptions([formatProcOptions(o)])).toEqual(o);
    expect(() => parseProcOptions(['cgroup=box'])).toThrow(/absolute/);
    expect(() => parseProcOptions(['cgroup=/a/../b'])).toThrow(/\.\./);
  });
});

describe('run --cgroup limits', () => {
  test('sizes, cpu lists with ":" and fractional CPUs; errors name the part', async () => {
    const { parseCgroupLimits } = await import('../../../src/resources/cgroup-limits');
    expect(parseCgroupLimits('memory=256M,cpus=0:2-3,cpu=1.5')).toEqual({ memoryBytes: 256 * MiB, cpus: '0,2-3', cpu: 1.5 });
    expect(parseCgroupLimits('memory=4096')).toEqual({ memoryBytes: 4096 });
    expect(() => parseCgroupLimits('memory=0')).toThrow(/memory=0/);
    expect(() => parseCgroupLimits('cpus=x')).toThrow(/cpus=x/);
    expect(() => parseCgroupLimits('cpu=-1')).toThrow(/cpu=-1/);
    expect(() => parseCgroupLimits('swap=1G')).toThrow(/unknown limit/);
    const { parseRunArgs } = await import('../../../src/cli/args');
    expect(parseRunArgs(['--cgroup', 'memory=1G', '--', 'true']).cgroup).toEqual({ memoryBytes: 1024 * MiB });
    expect(() => parseRunArgs(['--cgroup', 'memory=1X', '--', 'true'])).toThrow(/run: --cgroup memory=1X/);
  });
});

describe('swaps and diskstats', () => {
  test('swaps: sizes cut to the container total device by device, use spread the same way', async () => {
    const { renderSwaps } = await import('../../../src/resources/io');
    const host = 'Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n/dev/vdb                                partition\t1048572\t\t500\t\t-2\n/swapfile                               file\t\t1048572\t\t0\t\t-3\n';
    const out = renderSwaps(host, 1500000, 600000).split('\n');
    expect(out[0]).toBe('Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority');
    expect(out[1]).toMatch(/^\/dev\/vdb\s+partition\t1048572\t\t600000\t\t-2$/);
    expect(out[2]).toMatch(/^\/swapfile\s+file\t\t451428\t\t0\t\t-3$/);
    // no swap for the container: the header only, as the kernel prints without swap
    expect(renderSwaps(host, 0, 0)).toBe(`${out[0]}\n`);
  });
  test('diskstats: the host devices, the cgroup counters (v1 blkio and v2 io.stat), sectors of 512 bytes', async () => {
    const { parseBlkio, parseIoStat, renderDiskstats } = await import('../../../src/resources/io');
    const host = ' 254       0 vda 124688 14951 5368130 90856 52630 60620 3830344 41915 0 33420 146179 53862 219 1472192 13346 849 60\n   7       0 loop0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n';
    const v1 = parseBlkio('254:0 Read 1048576\n254:0 Write 4096\n254:0 Sync 0\n254:0 Total 1052672\nTotal 1052672\n', '254:0 Read 8\n254:0 Write 1\nTotal 9\n');
    const lines = renderDiskstats(host, v1).split('\n');
    expect(lines[0]).toBe(' 254       0 vda 8 0 2048 0 1 0 8 0 0 0 0 0 0 0 0 0 0');
    expect(lines[1]).toBe('   7       0 loop0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0');
    const v2 = parseIoStat('254:0 rbytes=512 wbytes=1024 rios=1 wios=2 dbytes=2048 dios=1\n');
    expect(renderDiskstats(host, v2).split('\n')[0]).toBe(' 254       0 vda 1 0 1 0 2 0 2 0 0 0 0 1 0 4 0 0 0');
  });
});
