#!/usr/bin/env bash
# Start a one-node Slurm on localhost for tests: munged, slurmctld and slurmd, all three with their
# key, sockets, state, logs and pid files under STATE_DIR, so nothing of the system's is touched.
#   tests/slurm/start.sh STATE_DIR        then: export SLURM_CONF=STATE_DIR/slurm.conf PATH=STATE_DIR/bin:$PATH
#   tests/slurm/stop.sh STATE_DIR         stops what this started (by its pid files)
# Needs root and the Debian packages slurm-wlm and munge (`make slurm`). Environment knobs:
# SLURM_TEST_PARTITION (debug), SLURM_TEST_CTLD_PORT (6817), SLURM_TEST_SLURMD_PORT (6818).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ $# -eq 1 ] || { echo "usage: $0 STATE_DIR" >&2; exit 2; }
mkdir -p "$1"
state=$(cd "$1" && pwd)
partition=${SLURM_TEST_PARTITION:-debug}
node=$(hostname -s)
conf=$state/slurm.conf
export SLURM_CONF=$conf

alive() {  # alive NAME: the pid in STATE_DIR/NAME.pid is a running NAME
    local pid
    pid=$(cat "$state/$1.pid" 2>/dev/null) || return 1
    [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$1" ]
}

on_exit() {
    local status=$?
    if [ $status -ne 0 ]; then
        echo "start.sh: the test cluster did not come up; last log lines:" >&2
        tail -n 20 "$state"/log/*.log >&2 2>/dev/null || true
        "$here/stop.sh" "$state" >&2 || true
    fi
}
trap on_exit EXIT

for tool in munged mungekey slurmctld slurmd sinfo srun; do
    command -v "$tool" >/dev/null || { echo "start.sh: $tool not found (run: make slurm)" >&2; exit 1; }
done

mkdir -p "$state/munge" "$state/log" "$state/slurmctld" "$state/slurmd"
chmod 700 "$state/munge"

# The config: the template with this machine's node name, CPUs and memory (90% of MemTotal).
cpus=$(nproc)
memory_mb=$(free -m | awk '/^Mem:/ {print int($2 * 0.9)}')
sed -e "s|@STATE@|$state|g" -e "s|@NODE@|$node|g" -e "s|@CPUS@|$cpus|g" \
    -e "s|@MEMORY_MB@|$memory_mb|g" -e "s|@PARTITION@|$partition|g" \
    -e "s|@CTLD_PORT@|${SLURM_TEST_CTLD_PORT:-6817}|g" -e "s|@SLURMD_PORT@|${SLURM_TEST_SLURMD_PORT:-6818}|g" \
    "$here/slurm.conf" > "$conf"

# Inside a job, snakemake-executor-plugin-slurm-jobstep (0.6.1) starts `srun` with every SLURM_*
# variable removed, SLURM_CONF too, so that srun would look for /etc/slurm/slurm.conf. Rather than
# write there, put an srun first on PATH (exported into the jobs) that knows this cluster's config.
mkdir -p "$state/bin"
real_srun=$(PATH=$(tr ':' '\n' <<<"$PATH" | grep -vxF "$state/bin" | paste -sd:) && command -v srun)
cat > "$state/bin/srun" <<WRAPPER
#!/bin/sh
export SLURM_CONF="$conf"
exec "$real_srun" "\$@"
WRAPPER
chmod +x "$state/bin/srun"

# munge: a key of our own, created once, and a daemon on a socket of our own (--force: munged wants
# the socket's folder open to all users; the state folder may be private, e.g. under pytest's tmp).
if [ ! -s "$state/munge/munge.key" ]; then
    mungekey --create --keyfile="$state/munge/munge.key"
fi
chmod 600 "$state/munge/munge.key"
if ! alive munged; then
    munged --force --key-file="$state/munge/munge.key" --socket="$state/munge/munge.socket" \
        --pid-file="$state/munged.pid" --log-file="$state/log/munged.log" \
        --seed-file="$state/munge/munged.seed"
fi

alive slurmctld || slurmctld -f "$conf"
alive slurmd || slurmd -f "$conf"

# Ready when the node reports idle (the first registration takes a few seconds).
for _ in $(seq 60); do
    if [ "$(sinfo -h -n "$node" -o %T 2>/dev/null)" = "idle" ]; then
        echo "slurm test cluster up: node $node ($cpus CPUs, ${memory_mb} MB), partition $partition"
        echo "export SLURM_CONF=$conf PATH=$state/bin:\$PATH"
        exit 0
    fi
    sleep 1
done
echo "start.sh: node $node not idle after 60 s: $(sinfo -h -N -o '%N %T %E' 2>&1)" >&2
exit 1
