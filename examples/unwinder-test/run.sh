#!/usr/bin/env bash
# An unwinder under fault rules (root): gdb's `bt`, which reads the target's
# stack with pread on /proc/<pid>/task/<tid>/mem, runs inside `procfuse run`
# against a live target, once per rule set (--no-new-pidns: the target is a host
# process, which a sandbox of its own pid namespace would not see). eu-stack (libdwfl) reads memory with
# process_vm_readv and only maps through /proc, so it gets a maps rule.
# Prints each trace; exits 0 only when every case degrades as expected.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
procfuse=(node "$root/dist/mount/cli.js")
work="$(mktemp -d /tmp/unwinder-test.XXXXXX)"
bin="$work/target"
cc -O0 -g -fno-omit-frame-pointer -o "$bin" "$here/target.c" || exit 1

"$bin" > "$work/target.out" &
pid=$!
cleanup() {
  for m in live replay; do
    grep -q " $work/$m " /proc/mounts && "${procfuse[@]}" unmount "$work/$m" >/dev/null 2>&1
  done
  kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$work"
}
trap cleanup EXIT
for _ in $(seq 100); do grep -q ready "$work/target.out" && break; sleep 0.1; done
frame=$(sed -n 's/^ready outer_frame=\([^ ]*\).*/\1/p' "$work/target.out")
[ -n "$frame" ] || { echo "FAIL: target did not start"; exit 1; }
# From the page holding outer's frame to the top of the stack.
top=$(awk '$6 == "[stack]" { split($1, r, "-"); print "0x" r[2] }' "/proc/$pid/maps")
start=$(printf '0x%x' $(( frame & ~0xfff )))

rules() { printf '{"version":1,"rules":[%s]}\n' "$1" > "$work/rules.json"; }
fail=0
expect() { # expect <case> <output> <regex that must match> [<regex that must not match>]
  echo "$2" | grep -qE "$3" || { echo "FAIL ($1): no match for /$3/"; fail=1; }
  if [ -n "${4:-}" ] && echo "$2" | grep -qE "$4"; then echo "FAIL ($1): unexpected /$4/"; fail=1; fi
}
gdb_bt() {
  "${procfuse[@]}" run --no-new-pidns --faults "$work/rules.json" -- \
    gdb -q -batch -nx -p "$pid" -ex 'set pagination off' -ex bt 2>&1 | grep -E '^#|Backtrace stopped|Cannot access'
  return "${PIPESTATUS[0]}"
}

echo "== gdb bt, no faults"
rules ''
out=$(gdb_bt); rc=$?; echo "$out"
expect plain "$out" ' leaf \(\)'; expect plain "$out" ' main \(\)'
[ "$rc" = 0 ] || { echo "FAIL (plain): gdb exited $rc"; fail=1; }
full="$out"

echo "== gdb bt, EIO on the stack from outer's frame up ($start-$top)"
rules "{\"name\":\"outer-stack-eio\",\"target\":{\"pid\":$pid},\"range\":{\"start\":\"$start\",\"end\":\"$top\"},\"action\":\"eio\"}"
out=$(gdb_bt); rc=$?; echo "$out"
expect stack-eio "$out" ' leaf \(\)' ' main \(\)'
expect stack-eio "$out" ' middle \(\)'
expect stack-eio "$out" 'Cannot access memory'
[ "$rc" = 0 ] || { echo "FAIL (stack-eio): gdb exited $rc"; fail=1; }

echo "== gdb bt, every read short at the next page boundary"
rules "{\"name\":\"page-short\",\"target\":{\"pid\":$pid},\"action\":\"short\"}"
out=$(gdb_bt); rc=$?; echo "$out"
[ "$out" = "$full" ] || { echo "FAIL (short): the trace differs from the plain one"; fail=1; }
[ "$rc" = 0 ] || { echo "FAIL (short): gdb exited $rc"; fail=1; }

echo "== gdb bt, the target \"exits\" after 20 reads (0 bytes from then on)"
rules "{\"name\":\"exit-mid-unwind\",\"target\":{\"pid\":$pid},\"action\":\"eof\",\"after\":20}"
out=$(gdb_bt); rc=$?; echo "$out"
expect exit-mid-unwind "$out" 'Cannot access memory' ' main \(\)'
[ "$rc" = 0 ] || { echo "FAIL (exit-mid-unwind): gdb exited $rc"; fail=1; }

echo "== eu-stack, no faults"
rules ''
out=$("${procfuse[@]}" run --no-new-pidns --faults "$work/rules.json" -- eu-stack -p "$pid" 2>&1); rc=$?; echo "$out"
expect eu-plain "$out" ' leaf$'; expect eu-plain "$out" ' main$'

echo "== eu-stack, maps without the target's own file mappings"
rules "{\"name\":\"hide-exe\",\"file\":\"maps\",\"target\":{\"pid\":$pid},\"mapping\":\"$bin\",\"action\":\"hide\"}"
out=$("${procfuse[@]}" run --no-new-pidns --faults "$work/rules.json" -- eu-stack -p "$pid" 2>&1); rc=$?; echo "$out"
expect eu-hide "$out" '^#1 +0x[0-9a-f]+$' ' leaf$'
# eu-stack reports the frames it could not map with status 1; a crash would be >= 128.
[ "$rc" -lt 128 ] || { echo "FAIL (eu-hide): eu-stack died with $rc"; fail=1; }

echo "== a snapshot of the target, replayed: symbolize against the live process and against the replay"
# gdb and eu-stack need a live process to ptrace; a symbolizer that reads
# <proc>/<pid>/maps and mem (examples/symbolize, glog's method) does not.
cc -O1 -g -o "$work/symbolize" "$root/examples/symbolize/symbolize.c" || exit 1
"${procfuse[@]}" snapshot "$pid" -o "$work/snap" || { echo "FAIL: snapshot"; exit 1; }
pcs=$(sed -n 's/^ready outer_frame=[^ ]* //p' "$work/target.out" | sed 's/[a-z_]*=//g')
pcs="$pcs $(sed -n 's/.*"pc": "\(0x[0-9a-f]*\)".*/\1/p' "$work/snap/snapshot.json" | head -1)"
for m in live replay; do
  mkdir -p "$work/$m" "$work/$m-proc"
  if [ "$m" = live ]; then "${procfuse[@]}" mount "$work/$m" >/dev/null 2>&1
  else "${procfuse[@]}" mount --replay "$work/snap" "$work/$m" >/dev/null 2>&1; fi
  ln -s "$work/$m/$pid" "$work/$m-proc/self"
  # shellcheck disable=SC2086
  "$work/symbolize" "$work/$m-proc" $pcs > "$work/$m.txt"
  "${procfuse[@]}" unmount "$work/$m" >/dev/null 2>&1
done
echo "-- live"; cat "$work/live.txt"; echo "-- replay"; cat "$work/replay.txt"
expect symbolize "$(cat "$work/live.txt")" 'leaf\+0x0'
cmp -s "$work/live.txt" "$work/replay.txt" || { echo "FAIL (replay): the symbolizer's output differs"; fail=1; }

[ "$fail" = 0 ] && echo "OK"
exit "$fail"
