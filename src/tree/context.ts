import type { AccessEnvOptions } from '../host/access-env';
import type { HostProc } from '../host/host-proc';

/** What every node of one mount shares: the host's /proc and the access options. */
export interface ProcContext {
  readonly host: HostProc;
  readonly access: AccessEnvOptions;
}
