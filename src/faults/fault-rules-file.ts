/**
 * The live fault rules of one mount: loaded from the --faults file, reloaded
 * when it changes or on SIGHUP (new opens get the new rules; open mem handles
 * keep the rules they were compiled with, as they keep their mm), with the hit
 * counts of the current generation. Logs under procfuse:faults.
 */
import fs from 'node:fs';

import createDebug from 'debug';

import type { RequestContext } from '../fuse/request';
import { parseMaps } from '../host/parse-maps';
import { native, type NativeFaultPlan } from '../native';
import type { ProcessRef } from '../proc/process-ref';
import { applyMapsRules, compileMemRules, type OpenFacts } from './compile';
import { FaultRulesError, parseFaultRules, type FaultRule } from './rules';

const log = createDebug('procfuse:faults');

/** What the files ask of the fault rules (MountContext.faults, src/view/view.ts). */
export interface FaultHooks {
  /** The compiled plan for a mem open, or undefined when no rule selects it. */
  memPlan(ctx: RequestContext, ref: ProcessRef): NativeFaultPlan | undefined;
  /** The maps text after the selected maps rules. */
  maps(text: Buffer, ctx: RequestContext, ref: ProcessRef): Buffer;
}

export interface FaultStatus {
  file: string;
  generation: number;
  loadedAt: string;
  /** the last reload's error, while the previous rules stay in force */
  error?: string;
  rules: Array<{ name: string; file: string; action: string; hits: number }>;
}

interface Generation {
  number: number;
  rules: FaultRule[];
  loadedAt: Date;
  /** native counters of the mem rules (by rule index) */
  counters: number;
  /** hits of the maps rules, counted here */
  mapsHits: number[];
}

export class FaultRulesFile implements FaultHooks {
  private gen: Generation;
  private lastError: string | undefined;
  private watching = false;

  /** Throws FaultRulesError (naming the rule) when the file is not valid. */
  constructor(readonly path: string) {
    this.gen = this.load(1);
  }

  private load(number: number): Generation {
    let text: string;
    try {
      text = fs.readFileSync(this.path, 'utf8');
    } catch (e) {
      throw new FaultRulesError(`cannot read ${this.path}: ${(e as Error).message}`);
    }
    const rules = parseFaultRules(text);
    const g = { number, rules, loadedAt: new Date(), counters: native.faultCounters(rules.length), mapsHits: rules.map(() => 0) };
    log('loaded %s (generation %d): %s', this.path, number, rules.map((r) => `${r.name}=${r.file}:${r.action}`).join(', ') || 'no rules');
    return g;
  }

  /** Re-reads the file; on an invalid file the old rules stay and the error is logged. */
  reload(why: string): boolean {
    try {
      const next = this.load(this.gen.number + 1);
      native.faultCountersDrop(this.gen.counters);
      this.gen = next;
      this.lastError = undefined;
      log('reloaded (%s)', why);
      return true;
    } catch (e) {
      this.lastError = (e as Error).message;
      log('reload (%s) failed, keeping generation %d: %s', why, this.gen.number, this.lastError);
      return false;
    }
  }

  /** Reloads whenever the file's mtime, size or inode change (polling: survives editors' renames). */
  watch(intervalMs = 200): void {
    if (this.watching) return;
    this.watching = true;
    fs.watchFile(this.path, { interval: intervalMs }, (cur, prev) => {
      if (cur.mtimeMs !== prev.mtimeMs || cur.size !== prev.size || cur.ino !== prev.ino) this.reload('file changed');
    });
  }

  unwatch(): void {
    if (this.watching) fs.unwatchFile(this.path);
    this.watching = false;
  }

  status(): FaultStatus {
    const g = this.gen;
    const memHits = native.faultHits(g.counters);
    return {
      file: this.path,
      generation: g.number,
      loadedAt: g.loadedAt.toISOString(),
      ...(this.lastError ? { error: this.lastError } : {}),
      rules: g.rules.map((r) => ({
        name: r.name,
        file: r.file,
        action: r.action,
        hits: r.file === 'mem' ? (memHits[r.index] ?? 0) : g.mapsHits[r.index]!,
      })),
    };
  }

  memPlan(ctx: RequestContext, ref: ProcessRef): NativeFaultPlan | undefined {
    const g = this.gen;
    if (!g.rules.some((r) => r.file === 'mem')) return undefined;
    const entries = compileMemRules(g.rules, openFacts(ctx, ref), () => {
      try {
        return parseMaps(ref.host.readBytes(...ref.hostPath('maps')));
      } catch {
        return []; // gone: the mem open itself gives the errno
      }
    });
    if (entries.length === 0) return undefined;
    const names = [...new Set(entries.map((e) => g.rules[e.rule]!.name))];
    log('mem open %d by pid %d: %s (%d ranges)', ref.tid, ctx.caller.pid, names.join(', '), entries.length);
    return { counters: g.counters, entries };
  }

  maps(text: Buffer, ctx: RequestContext, ref: ProcessRef): Buffer {
    const g = this.gen;
    if (!g.rules.some((r) => r.file === 'maps')) return text;
    const out = applyMapsRules(g.rules, openFacts(ctx, ref), text);
    for (const i of out.hits) {
      g.mapsHits[i]!++;
      log('maps of %d read by pid %d: %s', ref.tid, ctx.caller.pid, g.rules[i]!.name);
    }
    return out.text;
  }
}

function once<T>(f: () => T): () => T {
  let done = false;
  let v: T;
  return () => {
    if (!done) {
      v = f();
      done = true;
    }
    return v;
  };
}

/**
 * Facts about caller and target, each read at most once: the target's numbers
 * and comm in the view (what the reader sees in the mount), the caller's from
 * the daemon's own namespace (the request pid, as `ps` on the host shows it).
 * "self" compares the caller's thread group in the view with the target's.
 */
function openFacts(ctx: RequestContext, ref: ProcessRef): OpenFacts {
  const host = ref.host;
  const own = ctx.view.mount.own;
  const caller = ctx.caller;
  const quiet = <T>(f: () => T): (() => T | undefined) =>
    once(() => {
      try {
        return f();
      } catch {
        return undefined; // gone: selects nothing by that fact
      }
    });
  return {
    caller: {
      pid: caller.pid,
      uid: caller.uid,
      tgid: quiet(() => (caller.pid === 0 ? undefined : own.tgidOf(caller.pid))),
      viewTgid: quiet(() => ctx.callerInView().tgid || undefined),
      comm: quiet(() => (caller.pid === 0 ? undefined : own.readText(caller.pid, 'comm').replace(/\n$/, ''))),
    },
    target: {
      tgid: ref.tgid,
      tid: ref.tid,
      comm: quiet(() => host.readText(...ref.hostPath('comm')).replace(/\n$/, '')),
      uid: quiet(() => Number(host.status(ref.tgid).get('Uid')?.split(/\s+/)[0])),
    },
  };
}
