/**
 * A mounted procfuse filesystem: the native libfuse session, the dispatcher and
 * the tree. Must not be accessed synchronously from this process (the JS thread
 * answers the requests: a sync fs call on the mount would deadlock).
 */
import createDebug from 'debug';

import { native, type NativeFuseSession, type NativeRequest } from '../native';
import { Dispatcher, type ViewResolver } from './dispatch';
import type { Node } from './node';

const log = createDebug('procfuse:fuse');

export interface SessionOptions {
  /** let every uid reach the mount (FUSE's allow_other); on by default as root */
  allowOther?: boolean;
  /** libfuse's own request trace on stderr */
  fuseDebug?: boolean;
  /** FUSE worker threads */
  threads?: number;
  /** cap on one FUSE_READ, bytes (default: libfuse's 1 MiB) */
  maxRead?: number;
  /**
   * How long the JS thread keeps polling for the next request after a burst, in
   * microseconds (0: sleep at once). Saves the ~90 us wakeup of the event loop for
   * the later requests of a path walk; costs that much CPU per burst.
   */
  spinUs?: number;
}

const DEFAULT_SPIN_US = Number(process.env.PROCFUSE_SPIN_US ?? 200);

export class ProcfuseSession {
  private readonly native: NativeFuseSession;
  readonly dispatcher: Dispatcher;
  private closed = false;
  /** Called once when the kernel ends the connection (external unmount, abort). */
  onExit: () => void = () => {};

  constructor(
    readonly mountpoint: string,
    root: Node,
    resolveView: ViewResolver,
    options: SessionOptions = {},
  ) {
    let dispatcher: Dispatcher | undefined;
    this.native = new native.FuseSession(
      mountpoint,
      {
        allowOther: options.allowOther ?? process.getuid?.() === 0,
        debug: options.fuseDebug ?? false,
        threads: options.threads ?? 4,
        fsname: 'procfuse',
        maxRead: options.maxRead ?? 0,
        spinUs: options.spinUs ?? DEFAULT_SPIN_US,
      },
      (req: NativeRequest) => {
        if ((req.op as string) === 'exit') {
          log('connection ended');
          if (!this.closed) this.onExit();
          return;
        }
        dispatcher!.handle(req);
      },
    );
    dispatcher = new Dispatcher(this.native, root, resolveView, native);
    this.dispatcher = dispatcher;
  }

  mount(): void {
    this.native.mount();
  }

  /** FUSE connection id (/sys/fs/fuse/connections/<id>), -1 if unknown. */
  get connectionId(): number {
    return this.native.connectionId();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.native.close();
  }
}
