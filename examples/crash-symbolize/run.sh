#!/usr/bin/env bash
# Builds crash.cc and runs it twice inside `procfuse run` (root): with the
# faithful /proc, then with ELF-header reads of /proc/self/mem failing.
# Prints both traces; exits 0 only when the first names the functions, the
# second has none of them, and both processes died of SIGSEGV (status 139).
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
procfuse=(node "$root/dist/mount/cli.js")
bin="${CRASH_BIN:-$here/crash}"
g++ -O1 -g -fno-omit-frame-pointer -rdynamic -o "$bin" "$here/crash.cc" -lglog || exit 1

fail=0
echo "== through procfuse, no faults"
out=$("${procfuse[@]}" run -- "$bin" 2>&1); rc=$?
echo "$out" | grep -E '^ *@|SIGSEGV'
echo "exit status $rc"
for f in parse_config start_server main; do
  echo "$out" | grep -qE "@ +0x[0-9a-f]+ +$f\$" || { echo "FAIL: '$f' not named"; fail=1; }
done
[ "$rc" = 139 ] || { echo "FAIL: expected death by SIGSEGV (139)"; fail=1; }

echo "== through procfuse, --faults no-elf-headers.json (EIO on the first page of every file mapping)"
out=$("${procfuse[@]}" run --faults "$here/no-elf-headers.json" -- "$bin" 2>&1); rc=$?
echo "$out" | grep -E '^ *@|SIGSEGV'
echo "exit status $rc"
for f in parse_config start_server main; do
  echo "$out" | grep -qE "@ +0x[0-9a-f]+ +$f\$" && { echo "FAIL: '$f' still named"; fail=1; }
done
echo "$out" | grep -qE '@ +0x[0-9a-f]+ +\(unknown\)' || { echo "FAIL: no (unknown) frames"; fail=1; }
[ "$rc" = 139 ] || { echo "FAIL: expected death by SIGSEGV (139), not a hang or a second crash"; fail=1; }
[ "$fail" = 0 ] && echo "OK"
exit "$fail"
