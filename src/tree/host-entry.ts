/**
 * Everything in the root that is not a process: uptime, meminfo, stat, loadavg,
 * cpuinfo, sys/, mounts (a link to self/mounts), ... passed through from the
 * host's /proc, read-only, so that ps, top and friends work on the mount.
 * Writes (sysctl knobs in sys/) are refused: a sandbox must not reach the
 * host's kernel settings through us.
 *
 * The kernel derives much of this from the opener's or the reader's
 * credentials (kallsyms_show_value(file->f_cred), r_show's CAP_SYS_ADMIN test
 * in iomem/ioports, key permission in proc_keys_show, proc_bus_pci_read's
 * config-space size, mtrr_open's capable(), %pK at read time), so every file
 * is opened by the reader pool wearing the caller's credentials, and each read
 * is a pread made as that read's caller (native/reader_ops.h): the kernel
 * decides, for the reader. A file whose read blocks or consumes (kmsg) is
 * never read on a reader's behalf. See docs/reader-credentials.md.
 */
import { FsError } from '../fuse/errno';
import { O_ACCMODE, S_IFDIR, S_IFLNK, S_IFREG, type Attr, type DirEntry, type Node, type OpenIntent } from '../fuse/node';
import type { RequestContext } from '../fuse/request';
import { audit } from '../audit/audit-log';
import { filterKeys } from '../files/keys';
import { readCallerCredentials } from '../host/credentials';
import type { HostProc } from '../host/host-proc';

function typeOf(mode: number): number {
  return mode & 0o170000;
}

export function hostEntry(host: HostProc, rel: string[]): Node | undefined {
  let st;
  try {
    st = host.lstat(...rel);
  } catch (e) {
    if (e instanceof FsError) return undefined;
    throw e;
  }
  switch (typeOf(st.mode)) {
    case S_IFDIR:
      return new HostDir(host, rel);
    case S_IFLNK:
      return new HostLink(host, rel);
    case S_IFREG:
      return new HostFile(host, rel);
    default:
      return undefined;
  }
}

abstract class HostNode implements Node {
  constructor(
    protected readonly host: HostProc,
    protected readonly rel: string[],
  ) {}

  get key(): string {
    return `host:${this.rel[this.rel.length - 1]}`;
  }

  getattr(): Attr {
    const st = this.host.lstat(...this.rel);
    return { mode: st.mode, nlink: st.nlink, uid: st.uid, gid: st.gid, size: 0, time: st.mtimeMs / 1000 };
  }
}

export class HostDir extends HostNode {
  lookup(name: string): Node {
    const n = hostEntry(this.host, [...this.rel, name]);
    if (!n) throw new FsError('ENOENT');
    return n;
  }

  readdir(): DirEntry[] {
    const out: DirEntry[] = [
      { name: '.', type: S_IFDIR, pos: 0 },
      { name: '..', type: S_IFDIR, pos: 1 },
    ];
    this.host.readdir(...this.rel).forEach((name, i) => {
      let type = S_IFREG;
      try {
        type = typeOf(this.host.lstat(...this.rel, name).mode);
      } catch {
        // vanished meanwhile
      }
      out.push({ name, type, pos: 2 + i });
    });
    return out;
  }
}

/**
 * Root-level files whose read blocks or consumes: the daemon never reads them
 * for anyone. Linux: kernel/printk/printk.c do_syslog(SYSLOG_ACTION_READ)
 * waits for new messages and moves the syslog cursor for every reader.
 */
const NEVER_READ = new Set(['kmsg']);

/**
 * Root-level files whose kernel code looks at the reader at READ time:
 * %pK (lib/vsprintf.c restricted_pointer: kptr_restrict and CAP_SYSLOG of
 * current) in vmallocinfo and timer_list, sysctl_perm on every read of sys/**,
 * capable(CAP_SYS_ADMIN) in proc_bus_pci_read (bus/pci/BB/DD.F: how much
 * config space) and in uart_proc_show (tty/driver/*). Their reads are made
 * as the reader of each read; every other file's reads are plain preads (the
 * kernel decided at open, from f_cred). A file missing here that does decide
 * at read would show the daemon's view: add it (docs/reader-credentials.md).
 */
const READ_DECIDES = /^(vmallocinfo|timer_list|sys\/.*|bus\/pci\/.*|tty\/driver\/.*)$/;

/**
 * Root-level files whose content or permission depends on the opener's
 * capabilities or keys (docs/reader-credentials.md): their opens are audited.
 */
const PROTECTED = /^(kallsyms|modules|iomem|ioports|keys|key-users|mtrr|kmsg|kcore|kpage\w+|vmallocinfo|slabinfo|pagetypeinfo|timer_list|sysrq-trigger|bus\/pci\/.*|tty\/driver\/.*)$/;

/**
 * Root-level files read whole as the reader and then narrowed for it, where
 * the reading thread itself adds something the reader does not have.
 */
const RENDERED_AS_READER: Record<string, (text: string, host: HostProc, ctx: RequestContext) => string> = {
  keys: (text, host, ctx) => {
    const creds = readCallerCredentials(host, ctx.caller.pid);
    return filterKeys(text, { fsuid: ctx.caller.uid, fsgid: ctx.caller.gid, groups: creds.groups });
  },
};

export class HostFile extends HostNode {
  async open(ctx: RequestContext, flags: number): Promise<OpenIntent> {
    if ((flags & O_ACCMODE) !== 0) throw new FsError('EACCES', 'host /proc entries are read-only here');
    const name = this.rel.length === 1 ? this.rel[0]! : '';
    const file = this.rel.join('/');
    const audited = PROTECTED.test(file);
    const record = (errno: string | undefined, rule: string): void => {
      if (audited) audit(ctx, { file, how: flags, decision: errno ? 'deny' : 'allow', errno, rule, kernel: rule === 'kernel' ? (errno ?? 'allow') : undefined });
    };
    if (NEVER_READ.has(name)) {
      // The kernel's own verdict first (kmsg_open: check_syslog_permissions,
      // EPERM without CAP_SYSLOG); a reader it admits is refused all the same.
      try {
        await this.host.probeAsReader(ctx.caller, flags, ...this.rel);
      } catch (e) {
        record(String((e as { code?: unknown } | null)?.code ?? 'EIO'), 'kernel');
        throw e;
      }
      record('EPERM', 'never-read-on-behalf');
      throw new FsError('EPERM', `${name} is never read on a reader's behalf (its reads block and consume)`);
    }
    const render = RENDERED_AS_READER[name];
    if (render) {
      let text: string;
      try {
        text = (await this.host.readAsReader(ctx.caller, ...this.rel)).toString('latin1');
      } catch (e) {
        record(String((e as { code?: unknown } | null)?.code ?? 'EIO'), 'kernel');
        throw e;
      }
      record(undefined, 'kernel, narrowed');
      return { kind: 'bytes', data: Buffer.from(render(text, this.host, ctx), 'latin1') };
    }
    return {
      kind: 'as-reader',
      path: this.host.path(...this.rel),
      flags,
      openerDecides: !READ_DECIDES.test(file),
      opened: (errno) => record(errno, 'kernel'),
    };
  }
}

export class HostLink extends HostNode {
  readlink(): string {
    return this.host.readlink(...this.rel).toString('latin1');
  }
}
