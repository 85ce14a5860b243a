// Placeholder until the access-rules work (issue 3) lands.
import { CliError } from './args';

export function accessCommand(_args: string[]): number {
  throw new CliError('access: not implemented yet');
}
