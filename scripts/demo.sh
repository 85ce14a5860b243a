#!/usr/bin/env bash
# The newcomer's one command: install libfuse3, build, mount procfuse, show what a
# process sees through it next to the kernel's /proc, and unmount.
#   usage: scripts/demo.sh [mountpoint] [--keep]
set -euo pipefail
cd "$(dirname "$0")/.."
mnt=/tmp/procfuse
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
npm run build >/tmp/procfuse-build.log 2>&1 || { cat /tmp/procfuse-build.log; exit 1; }

mkdir -p "$mnt"
node dist/mount/cli.js mount "$mnt"
trap '[ $keep = 1 ] || node dist/mount/cli.js unmount "$mnt"' EXIT

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
  echo "== still mounted at $mnt; stop with: node dist/mount/cli.js unmount $mnt"
fi
