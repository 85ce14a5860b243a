#!/usr/bin/env node
/**
 * The `procfuse-runtime` command: an OCI runtime (runc's command line) whose
 * containers get a procfuse view of their own pid namespace as /proc.
 * See src/runtime/runtime.ts.
 */
import { runtimeMain, RuntimeError } from '../src/runtime/runtime';

runtimeMain(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof RuntimeError) {
      process.stderr.write(`procfuse-runtime: ${err.message}\n`);
      process.exit(err.exitCode);
    }
    process.stderr.write(`procfuse-runtime: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
