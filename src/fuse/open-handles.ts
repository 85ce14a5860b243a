/**
 * The one place that turns a node's OpenIntent into a native handle, and the
 * render-at-read protocol: a handle made with renderAtRead forwards a read at
 * offset 0 to JS (op 'read'), which renders for that reader, stores the text in
 * the handle (native.setHandleData) and answers; later reads slice it natively.
 */
import { native, OpenAsReaderKind, type NativeCaller, type NativeFaultPlan } from '../native';
import { FsError, hasCode } from './errno';
import type { FileWriter, OpenIntent } from './node';
import type { RequestContext } from './request';

export interface OpenedHandle {
  fh: number;
  directIo: boolean;
  /** for a render-at-read handle: what generates its text, and what to free at release */
  renderer?: { render: (ctx: RequestContext) => Buffer; release?: () => void; wholeLines?: boolean };
  /** for a handle whose writes come to JS */
  writer?: FileWriter;
}

/** The native calls used here; tests replace them. */
export interface HandleFactory {
  bufferHandle(data: Buffer | null, renderAtRead?: boolean, forwardWrites?: boolean, wholeLines?: boolean): number;
  /** native/reader_ops.h: open(2) by the reader pool wearing the caller's credentials */
  openAsReader(path: string, caller: NativeCaller, flags: number, kind: OpenAsReaderKind): Promise<number>;
  memOpen(taskDir: string, writable: boolean, faults?: NativeFaultPlan): number;
  memAlive(fh: number): boolean;
  closeHandle(fh: number): void;
}

/**
 * `again` makes a 'bytes' intent's bytes anew (the dispatcher opens the node
 * again); without it they are served as made at open, for ever. An
 * 'as-reader' or a kernel-judged 'mem' intent settles later (the reader pool).
 */
export function createHandle(
  intent: OpenIntent,
  ctx: RequestContext,
  natives: HandleFactory = native,
  again?: () => Buffer,
): OpenedHandle | Promise<OpenedHandle> {
  switch (intent.kind) {
    case 'bytes': {
      const lines = intent.wholeLines === true;
      if (intent.write) return { fh: natives.bufferHandle(intent.data, false, true, lines), directIo: true, writer: intent.write };
      if (!again) return { fh: natives.bufferHandle(intent.data, false, false, lines), directIo: true };
      return { fh: natives.bufferHandle(intent.data, true, false, lines), directIo: true, renderer: { render: again, wholeLines: lines } };
    }
    case 'render':
      return {
        fh: natives.bufferHandle(intent.initial ?? null, true, false, intent.wholeLines === true),
        directIo: true,
        renderer: { render: intent.render, release: intent.release, wholeLines: intent.wholeLines },
      };
    case 'mem': {
      const fh = openMem(intent, natives);
      return fh instanceof Promise ? fh.then((n) => ({ fh: n, directIo: true })) : { fh, directIo: true };
    }
    case 'as-reader':
      return natives
        .openAsReader(intent.path, ctx.caller, intent.flags, intent.openerDecides ? OpenAsReaderKind.OpenerHandle : OpenAsReaderKind.Handle)
        .then(
          (fh) => {
            intent.opened?.(undefined);
            return { fh, directIo: true };
          },
          (e: unknown) => {
            intent.opened?.(String((e as { code?: unknown } | null)?.code ?? 'EIO'));
            throw e;
          },
        );
  }
}

/** fs/proc/base.c mem_open: pin first (proc_mem_open), then decide, then prove identity. */
function openMem(intent: Extract<OpenIntent, { kind: 'mem' }>, natives: HandleFactory): number | Promise<number> {
  let fh: number;
  try {
    fh = natives.memOpen(intent.taskDir, intent.writable, intent.faults);
  } catch (e) {
    // The host kernel's answer for a gone task or one without an mm.
    if (hasCode(e, 'ESRCH', 'ENOENT')) throw new FsError('ESRCH', `${intent.taskDir} is gone`);
    throw e;
  }
  const prove = (): number => {
    // The task was not reaped between the pin and the check, so the credentials
    // just checked were those of the task whose mm is pinned.
    if (!natives.memAlive(fh)) throw new FsError('ESRCH', `${intent.taskDir} exited during open`);
    return fh;
  };
  const fail = (e: unknown): never => {
    natives.closeHandle(fh);
    throw e;
  };
  try {
    const checked = intent.check();
    // A check the reader pool makes settles later; the pin is held meanwhile.
    if (checked instanceof Promise) return checked.then(prove).catch(fail);
    return prove();
  } catch (e) {
    return fail(e);
  }
}

/**
 * How many of the bytes at `off` one read of `size` returns (native/handle_table.h
 * ReadLength, for reads answered in JS): with `wholeLines`, only whole lines, as
 * seq_read copies whole records while they fit, and a partial one only when a
 * single line is longer than the request.
 */
export function readLength(data: Buffer, off: number, size: number, wholeLines: boolean): number {
  const avail = Math.max(0, data.length - off);
  if (avail <= size || !wholeLines) return Math.min(avail, size);
  const nl = data.lastIndexOf(0x0a, off + size - 1);
  return nl >= off ? nl - off + 1 : size;
}
