#!/usr/bin/env bash
# The newcomer's one command: install libfuse3, build, put `procfuse` on PATH
# (npm link), then run a sandboxed shell under `procfuse run` (its own pid 1
# world, reading its own memory through /proc/self/mem).
#   usage: scripts/demo.sh [mountpoint] [--keep]
# With a mountpoint it also mounts the host view there, shows it, and unmounts
# (--keep leaves it mounted).
set -euo pipefail
cd "$(dirname "$0")/.."
mnt=
keep=0
for a in "$@"; do
  case "$a" in
    --keep) keep=1 ;;
    *) mnt=$a ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "procfuse: run as root (the daemon needs CAP_SYS_ADMIN and CAP_SYS_PTRACE)" >&2; exit 1; }

if ! pkg-config --exists fuse3 2>/dev/null || ! command -v fusermount3 >/dev/null; then
  echo "== installing libfuse3-dev fuse3"
  apt-get update -qq && apt-get install -y -qq libfuse3-dev fuse3 pkg-config build-essential python3 >/dev/null
fi
if [ ! -f build/Release/procfuse_native.node ] || [ ! -d node_modules ]; then
  echo "== npm ci (builds the native addon and the TypeScript)"
  npm ci --no-audit --no-fund
fi
buildlog=$(mktemp /tmp/procfuse-build.XXXXXX.log)
npm run build >"$buildlog" 2>&1 || { cat "$buildlog"; exit 1; }
rm -f "$buildlog"

# Every message says "procfuse unmount ...": make that command exist, for this checkout.
here=$(pwd -P)
if [ "$(readlink -f "$(command -v procfuse 2>/dev/null || echo /nonexistent)")" != "$here/dist/mount/cli.js" ]; then
  echo "== npm link (puts procfuse on PATH: $(npm prefix -g)/bin/procfuse -> $here/dist/mount/cli.js)"
  npm link --no-audit --no-fund >/dev/null
  hash -r
fi
procfuse=procfuse
command -v procfuse >/dev/null || procfuse="node $here/dist/mount/cli.js"

# The main job: a sandbox whose /proc is procfuse. Its shell is pid 1 of its own
# pid namespace, sees only its own processes, and reads its own memory through
# /proc/self/mem (what a crash symbolizer does).
echo "== $procfuse run -- sh -c '...': a sandboxed shell"
$procfuse run -- sh -c '
  echo "I am pid $$; /proc/self -> $(readlink /proc/self); /proc is $(stat -f -c %T /proc)"
  sleep 30 & 
  echo "the processes I can see: $(ls /proc | grep "^[0-9]" | tr "\n" " ")"
  ps -o pid,ppid,comm
  if command -v python3 >/dev/null; then
    python3 -c "
import re
m = open(\"/proc/self/maps\").readline()
start = int(m.split(\"-\")[0], 16)
with open(\"/proc/self/mem\", \"rb\") as f:
    f.seek(start); head = f.read(4)
print(\"python3 (pid %d) reads its own memory at 0x%x: %r, its first mapping: %s\" % (__import__(\"os\").getpid(), start, head, m.split()[-1]))
"
  fi
  kill $! 2>/dev/null
  umount /proc 2>/dev/null && echo "umount /proc: succeeded (it should not)" || echo "umount /proc: refused, the sandbox cannot get under its /proc"
'
[ -n "$mnt" ] || exit 0

# With a mountpoint: also mount procfuse there (the host view) and show it.
mkdir -p "$mnt"
$procfuse mount "$mnt"
cleanup() {
  [ $keep = 1 ] && return
  $procfuse unmount "$mnt"
  # the directory stays busy until the daemon has gone
  for _ in 1 2 3 4 5 6 7 8 9 10; do rmdir "$mnt" 2>/dev/null && return; sleep 0.2; done
}
trap cleanup EXIT

echo "== readlink self: each caller sees its own pid (exec keeps the shell's pid)"
sh -c "printf 'process %s reads %s/self -> ' \$\$ $mnt; exec readlink $mnt/self"
sh -c "printf 'process %s reads /proc/self -> ' \$\$; exec readlink /proc/self"
echo "== readlink $mnt/thread-self"
readlink "$mnt/thread-self"
echo "== processes (first 15 of $(ls "$mnt" | grep -c '^[0-9]'))"
for p in $(ls "$mnt" | grep "^[0-9]" | sort -n | head -15); do
  printf '%6s %s\n' "$p" "$(cat "$mnt/$p/comm" 2>/dev/null || echo '?')"
done
if [ $keep = 1 ]; then
  echo "== still mounted at $mnt; stop with: $procfuse unmount $mnt"
fi
