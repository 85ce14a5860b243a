/**
 * /proc/cpuinfo for a container (pure): the host's blocks of the visible CPUs
 * only, renumbered 0..n-1 as the container's stat lines are, so that the two
 * files agree (the lxcfs#628 bug is a stat listing host CPUs next to a cpuinfo
 * listing fewer). One block per CPU, separated by a blank line
 * (arch/x86/kernel/cpu/proc.c show_cpuinfo; arm64 and others also start each
 * block with "processor\t: N").
 */
export function renderCpuinfo(hostText: string, cpus: number[]): string {
  const blocks = hostText.split(/\n\n+/).filter((b) => b.trim() !== '');
  const out: string[] = [];
  const trailer: string[] = [];
  for (const b of blocks) {
    const m = /^processor\s*:\s*([0-9]+)$/m.exec(b);
    if (!m) {
      // A block that is not a CPU's (arm's "Hardware"/"Revision" trailer): kept.
      trailer.push(b);
      continue;
    }
    const i = cpus.indexOf(Number(m[1]));
    if (i < 0) continue;
    out.push(
      b
        .replace(/^(processor\s*:\s*)[0-9]+$/m, `$1${i}`)
        // x86: the package's logical CPUs and cores as far as the container sees them.
        .replace(/^(siblings\s*:\s*)[0-9]+$/m, `$1${cpus.length}`)
        .replace(/^(cpu cores\s*:\s*)[0-9]+$/m, (_, p: string) => `${p}${cpus.length}`),
    );
  }
  return [...out, ...trailer].map((b) => `${b.replace(/\n+$/, '')}\n`).join('\n');
}
