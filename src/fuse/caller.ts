/**
 * Who made a FUSE request, from the request header (fs/fuse/dev.c fuse_get_req):
 * `pid` is the caller's thread id in the daemon's pid namespace (0 when the caller
 * is not visible there), `uid`/`gid` its fsuid/fsgid. No capabilities or groups
 * are sent: those are read from the host's /proc when a decision needs them.
 */
export interface Caller {
  readonly pid: number;
  readonly uid: number;
  readonly gid: number;
  readonly umask: number;
}
