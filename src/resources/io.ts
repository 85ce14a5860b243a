/**
 * /proc/swaps and /proc/diskstats of a container (pure).
 *
 * swaps (mm/swapfile.c swap_show): the host's devices, their sizes cut so
 * that they add up to the container's SwapTotal and their use to its swap use
 * (the same numbers as its meminfo), in the host's priority order.
 *
 * diskstats (block/genhd.c diskstats_show): every host device line, its I/O
 * counters the cgroup's (v1 blkio.throttle.io_serviced/io_service_bytes, v2
 * io.stat): requests completed, sectors of 512 bytes, discards; the times,
 * merges and queue depth are not accounted per cgroup and are 0.
 */

export interface DeviceIo {
  rbytes: number;
  wbytes: number;
  rios: number;
  wios: number;
  dbytes: number;
  dios: number;
}

const zero = (): DeviceIo => ({ rbytes: 0, wbytes: 0, rios: 0, wios: 0, dbytes: 0, dios: 0 });

/** v2 io.stat: "MAJ:MIN rbytes=.. wbytes=.. rios=.. wios=.. dbytes=.. dios=..". */
export function parseIoStat(text: string): Map<string, DeviceIo> {
  const out = new Map<string, DeviceIo>();
  for (const line of text.split('\n')) {
    const [dev, ...kv] = line.trim().split(/\s+/);
    if (!dev || !/^[0-9]+:[0-9]+$/.test(dev)) continue;
    const io = zero();
    for (const p of kv) {
      const [k, v] = p.split('=');
      if (k && k in io && v !== undefined) io[k as keyof DeviceIo] = Number(v);
    }
    out.set(dev, io);
  }
  return out;
}

/** v1 blkio.throttle.io_service_bytes(_recursive) and io_serviced(_recursive): "MAJ:MIN Read|Write|Discard N". */
export function parseBlkio(bytes: string, ios: string): Map<string, DeviceIo> {
  const out = new Map<string, DeviceIo>();
  const add = (text: string, field: 'bytes' | 'ios') => {
    for (const line of text.split('\n')) {
      const [dev, op, n] = line.trim().split(/\s+/);
      if (!dev || !/^[0-9]+:[0-9]+$/.test(dev) || n === undefined) continue;
      const io = out.get(dev) ?? zero();
      const v = Number(n);
      if (op === 'Read') io[field === 'bytes' ? 'rbytes' : 'rios'] = v;
      else if (op === 'Write') io[field === 'bytes' ? 'wbytes' : 'wios'] = v;
      else if (op === 'Discard') io[field === 'bytes' ? 'dbytes' : 'dios'] = v;
      out.set(dev, io);
    }
  };
  add(bytes, 'bytes');
  add(ios, 'ios');
  return out;
}

export function renderDiskstats(hostText: string, io: Map<string, DeviceIo>): string {
  const out: string[] = [];
  for (const line of hostText.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 14) continue;
    const d = io.get(`${f[0]}:${f[1]}`) ?? zero();
    // 1-3: major minor name; 4 reads, 5 merged, 6 sectors, 7 ms; 8-11 the same for
    // writes; 12 in flight, 13 io ms, 14 weighted ms; 15-18 discards; 19-20 flushes.
    const vals = new Array<number>(f.length - 3).fill(0);
    vals[0] = d.rios;
    vals[2] = Math.floor(d.rbytes / 512);
    vals[4] = d.wios;
    vals[6] = Math.floor(d.wbytes / 512);
    if (vals.length > 11) {
      vals[11] = d.dios;
      vals[13] = Math.floor(d.dbytes / 512);
    }
    // "%4d %7d %s " then the counters (diskstats_show)
    out.push(`${f[0]!.padStart(4)} ${f[1]!.padStart(7)} ${f[2]} ${vals.join(' ')}`);
  }
  return out.length ? `${out.join('\n')}\n` : '';
}

/** swaps with sizes (kB) cut to `totalKb` and use spread to `usedKb`, device by device. */
export function renderSwaps(hostText: string, totalKb: number, usedKb: number): string {
  const lines = hostText.split('\n');
  const header = lines[0] ?? '';
  const out = [header];
  let sizeLeft = totalKb;
  let usedLeft = usedKb;
  for (const line of lines.slice(1)) {
    const m = /^(.*?)(\s+)(\S+)(\s+)([0-9]+)(\s+)([0-9]+)(\s+)(-?[0-9]+)$/.exec(line);
    if (!m) continue;
    const size = Math.min(Number(m[5]), sizeLeft);
    if (size <= 0) continue;
    const used = Math.min(size, usedLeft);
    sizeLeft -= size;
    usedLeft -= used;
    out.push(`${m[1]}${m[2]}${m[3]}${m[4]}${size}${m[6]}${used}${m[8]}${m[9]}`);
  }
  return `${out.join('\n')}\n`;
}
