/**
 * One request's context, made once by the dispatcher and handed to every node
 * method and renderer: who asks (the FUSE caller) and what they see (the view).
 *
 * The caller's numbers in the view are derived here, once: a FUSE caller pid is
 * a thread id in the daemon's pid namespace (0 when not visible there), and a
 * view of another namespace shows it under its number there, or not at all
 * (task_pid_nr_ns gives 0 for a task outside the namespace; proc_self_get_link
 * then answers ENOENT).
 */
import { native } from '../native';
import type { View } from '../view/view';
import type { Caller } from './caller';

export interface CallerInView {
  /** thread id in the view's namespace; 0 when the caller is not in it */
  readonly tid: number;
  /** thread group id in the view's namespace; 0 when the caller is not in it */
  readonly tgid: number;
}

const NOT_VISIBLE: CallerInView = { tid: 0, tgid: 0 };

export class RequestContext {
  private inView?: CallerInView;

  constructor(
    readonly caller: Caller,
    readonly view: View,
  ) {}

  /** The caller's numbers in the view (memoized for this request). */
  callerInView(): CallerInView {
    return (this.inView ??= translateCaller(this.caller, this.view));
  }
}

/**
 * The caller's tid/tgid in the view's namespace. The caller sleeps in its FUSE
 * request, so its numbers cannot change meanwhile (a task never changes pid
 * namespace; unshare(CLONE_NEWPID) only affects its children).
 */
function translateCaller(caller: Caller, view: View): CallerInView {
  if (caller.pid <= 0) return NOT_VISIBLE;
  const own = view.mount.own;
  if (view.isOwn) return { tid: caller.pid, tgid: own.tgidOf(caller.pid) };
  let chain: Array<{ ino: bigint }>;
  let status: Map<string, string>;
  try {
    // The caller's pid namespace, its parent, ... up to the daemon's.
    chain = native.nsChain(own.path(caller.pid, 'ns', 'pid'), false);
    status = own.status(caller.pid);
  } catch {
    return NOT_VISIBLE;
  }
  const k = chain.findIndex((l) => l.ino === view.pidNs);
  if (k < 0) return NOT_VISIBLE;
  // NSpid/NStgid list the numbers from the daemon's namespace down to the caller's own.
  const pick = (line: string | undefined): number => {
    const ids = (line ?? '').trim().split(/\s+/).map(Number);
    return ids.length === chain.length ? (ids[ids.length - 1 - k] ?? 0) : 0;
  };
  const tid = pick(status.get('NSpid'));
  const tgid = pick(status.get('NStgid'));
  return tid > 0 && tgid > 0 ? { tid, tgid } : NOT_VISIBLE;
}
