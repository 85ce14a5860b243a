export { FsError, toErrno } from './fuse/errno';
export type { Caller } from './fuse/caller';
