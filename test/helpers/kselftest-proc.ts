/**
 * The kernel's own procfs selftests (tools/testing/selftests/proc), built from
 * Debian's linux-source package: only that directory, the kselftest headers and
 * the one uapi header it needs newer than the distribution's (linux/fs.h for
 * PROCMAP_QUERY) are extracted, into test/.build (ignored by git), once.
 * Nothing of the kernel's tree is kept in the repository.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');
const CACHE = path.join(ROOT, 'test/.build/kselftest-proc');
const TARBALL_DIR = '/usr/src';

export interface ProcSelftests {
  /** the directory holding the built programs */
  dir: string;
  /** every test the Makefile lists (TEST_GEN_PROGS), in its order */
  tests: string[];
  /** tests that did not build, with the compiler's first error */
  unbuilt: Map<string, string>;
  /** where the sources came from */
  source: string;
}

/** The selftests, extracted and built on first use; a string says why they are unavailable. */
export function prepareProcSelftests(): ProcSelftests | string {
  const tarballs = fs.existsSync(TARBALL_DIR)
    ? fs
        .readdirSync(TARBALL_DIR)
        .filter((n) => /^linux-source-[\d.]+\.tar\.xz$/.test(n))
        .sort()
    : [];
  const tarball = tarballs.pop();
  if (!tarball) return `no ${TARBALL_DIR}/linux-source-*.tar.xz (apt-get install linux-source-6.12)`;
  const top = tarball.replace(/\.tar\.xz$/, '');
  const base = path.join(CACHE, top);
  const dir = path.join(base, top, 'tools/testing/selftests/proc');
  const stamp = path.join(base, 'built');
  if (!fs.existsSync(stamp)) {
    fs.rmSync(base, { recursive: true, force: true });
    fs.mkdirSync(base, { recursive: true });
    const x = spawnSync(
      'tar',
      [
        '-xJf',
        path.join(TARBALL_DIR, tarball),
        '-C',
        base,
        '--wildcards',
        `${top}/tools/testing/selftests/proc/*`,
        `${top}/tools/testing/selftests/kselftest*`,
        `${top}/tools/testing/selftests/lib.mk`,
        `${top}/include/uapi/linux/fs.h`,
      ],
      { encoding: 'utf8' },
    );
    if (x.status !== 0) return `cannot extract ${tarball}: ${x.stderr.trim()}`;
    // Only fs.h comes from the kernel's tree; every other header stays the distribution's.
    const inc = path.join(base, 'include/linux');
    fs.mkdirSync(inc, { recursive: true });
    fs.copyFileSync(path.join(base, top, 'include/uapi/linux/fs.h'), path.join(inc, 'fs.h'));
    const make = spawnSync('make', ['-k', '-C', dir], {
      encoding: 'utf8',
      env: { ...process.env, CFLAGS: `-I${path.join(base, 'include')}` },
    });
    fs.writeFileSync(path.join(base, 'make.log'), make.stdout + make.stderr);
    fs.writeFileSync(stamp, '');
  }
  const makefile = fs.readFileSync(path.join(dir, 'Makefile'), 'utf8');
  const tests = [...makefile.matchAll(/^TEST_GEN_PROGS\s*\+=\s*(\S+)/gm)].map((m) => m[1]!);
  const log = fs.readFileSync(path.join(base, 'make.log'), 'utf8');
  const unbuilt = new Map<string, string>();
  for (const t of tests) {
    if (fs.existsSync(path.join(dir, t))) continue;
    const err = log.split('\n').find((l) => l.startsWith(`${t}.c:`) && l.includes('error'));
    unbuilt.set(t, err ?? 'did not build');
  }
  return { dir, tests, unbuilt, source: `${tarball} (${TARBALL_DIR})` };
}
