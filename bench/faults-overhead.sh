#!/usr/bin/env bash
# Cost of a compiled fault table on the mem read path (root): 4 KiB preads of
# one target's libc text through a mount without --faults and through a mount
# whose 50 rules select the target but none of the read pages, interleaved.
# Prints per-read medians. Usage: bench/faults-overhead.sh [rounds]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cli=(node "$root/dist/mount/cli.js")
work="$(mktemp -d /tmp/faults-bench.XXXXXX)"
sleep 600 & pid=$!
a="$work/plain"; b="$work/faults"; mkdir "$a" "$b"
trap '"${cli[@]}" unmount "$a" >/dev/null 2>&1 || true; "${cli[@]}" unmount "$b" >/dev/null 2>&1 || true; kill $pid; rm -rf "$work"' EXIT
python3 -c "
import json
r=[{'name':f'r{i}','target':{'pid':$pid},'range':{'start':hex(0x100000000+i*0x10000),'end':hex(0x100000000+i*0x10000+0x1000)},'action':'eio'} for i in range(50)]
print(json.dumps({'version':1,'rules':r}))" > "$work/rules.json"
"${cli[@]}" mount "$a" >/dev/null
"${cli[@]}" mount "$b" --faults "$work/rules.json" >/dev/null
cat > "$work/bench.py" <<'PY'
import os, sys, time
mnt, pid, label = sys.argv[1], int(sys.argv[2]), sys.argv[3]
line = next(l for l in open(f'/proc/{pid}/maps') if 'libc' in l)
addr = int(line.split('-')[0], 16)
fd = os.open(f'{mnt}/{pid}/mem', os.O_RDONLY)
for _ in range(2000): os.pread(fd, 4096, addr)
runs = []
for _ in range(5):
    t = time.perf_counter()
    for _ in range(20000): os.pread(fd, 4096, addr)
    runs.append((time.perf_counter() - t) / 20000 * 1e6)
print(f'{label:>8}: median {sorted(runs)[2]:.1f} us per 4 KiB pread')
PY
for _ in $(seq "${1:-3}"); do
  python3 "$work/bench.py" "$a" "$pid" plain
  python3 "$work/bench.py" "$b" "$pid" faults50
done
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
