#!/usr/bin/env bash
# Side by side, inside one limited sandbox (256 MiB, cpuset 0-1, a quota of half
# a CPU, a busy loop): the kernel's procfs of its pid namespace, procfuse
# (-o pidns=<init>) and LXCFS (-l --enable-cfs, its files bound over a kernel
# procfs), then the host. Needs root, v1 cgroup hierarchies, lxcfs, procps,
# node; run from the repository after `npm run build`. Prints to stdout.
set -u
cd "$(dirname "$0")/.."
CG=/procfuse-compare-$$
C="memory cpu cpuacct cpuset"
for c in $C; do mkdir -p /sys/fs/cgroup/$c$CG; done
echo $((256 * 1024 * 1024)) > /sys/fs/cgroup/memory$CG/memory.limit_in_bytes
cat /sys/fs/cgroup/cpuset/cpuset.mems > /sys/fs/cgroup/cpuset$CG/cpuset.mems
cat /sys/fs/cgroup/cpuset/cpuset.cpus > /sys/fs/cgroup/cpuset$CG/cpuset.cpus
echo 100000 > /sys/fs/cgroup/cpu$CG/cpu.cfs_period_us
echo 50000 > /sys/fs/cgroup/cpu$CG/cpu.cfs_quota_us
JOIN="for c in $C; do echo \$\$ > /sys/fs/cgroup/\$c$CG/cgroup.procs; done"
sh -c "$JOIN; exec unshare --pid --fork --kill-child sh -c 'sleep 1000 & (while :; do :; done) & wait'" &
U=$!
sleep 1
INIT=$(cut -d' ' -f1 /proc/$U/task/$U/children)
M=$(mktemp -d)
L=$(mktemp -d)
node dist/mount/cli.js mount "$M" --foreground -o pidns="$INIT" > /dev/null 2>&1 &
D=$!
LX=""
if command -v lxcfs > /dev/null; then
  lxcfs -f -l --enable-cfs -p "$L.pid" "$L" > /dev/null 2>&1 &
  LX=$!
fi
sleep 2
# Both load averages start sampling at the first look.
sh -c "$JOIN; exec nsenter --pid=/proc/$INIT/ns/pid -- unshare --mount --fork sh -c 'mount --bind $M /proc; cat /proc/loadavg'" > /dev/null
[ -n "$LX" ] && cat "$L/proc/loadavg" > /dev/null
sleep 20
TOOLS='echo "\$ free -b"; free -b; echo "\$ nproc"; nproc; echo "\$ node os.cpus().length"; node -e "console.log(require(\"os\").cpus().length)"; echo "\$ grep -c ^cpu[0-9] /proc/stat; grep -c ^processor /proc/cpuinfo"; grep -c "^cpu[0-9]" /proc/stat; grep -c ^processor /proc/cpuinfo; echo "\$ uptime"; uptime; echo "\$ top -b -n2 -d1 | tail of the 2nd frame header"; top -b -n2 -d1 -w 120 | grep -A4 "^top" | tail -5; echo "\$ ps -o pid,pcpu,etime,comm -p 3   (the busy loop)"; ps -o pid,pcpu,etime,comm -p 3; echo "\$ grep -E ^(btime|processes|procs_running) /proc/stat"; grep -E "^(btime|processes|procs_running)" /proc/stat; echo "\$ time: 200 x cat /proc/stat"; s=$(date +%s%N); for i in $(seq 200); do cat /proc/stat > /dev/null; done; echo "$(( ($(date +%s%N) - s) / 200000 )) us per read"'
run() { sh -c "$JOIN; exec nsenter --pid=/proc/$INIT/ns/pid -- unshare --mount --fork sh -c '$1; $TOOLS'" 2>&1; }
echo "===== kernel procfs of the sandbox's pid namespace ====="
run 'mount -t proc proc /proc'
echo
echo "===== procfuse -o pidns=<init> over /proc ====="
run "mount --bind $M /proc"
if [ -n "$LX" ]; then
  echo
  echo "===== LXCFS $(lxcfs --version 2>&1 | head -1) (-l --enable-cfs) over a kernel procfs of the namespace ====="
  run "mount -t proc proc /proc; for f in cpuinfo diskstats loadavg meminfo stat swaps uptime; do mount --bind $L/proc/\$f /proc/\$f; done"
fi
echo
echo "===== the host ====="
echo '$ free -b'; free -b
echo '$ nproc'; nproc
echo '$ uptime'; uptime
BUSY=$(cut -d' ' -f2 /proc/$INIT/task/$INIT/children)
echo "\$ ps -o pid,pcpu,etime,comm -p $BUSY   (the busy loop)"; ps -o pid,pcpu,etime,comm -p "$BUSY"
fusermount3 -u "$M"
[ -n "$LX" ] && fusermount3 -u "$L"
kill $D $LX 2> /dev/null
kill -9 $U 2> /dev/null
wait 2> /dev/null
for c in $C; do rmdir /sys/fs/cgroup/$c$CG 2> /dev/null || { sleep 1; rmdir /sys/fs/cgroup/$c$CG; }; done
rmdir "$M" "$L"
rm -f "$L.pid"
