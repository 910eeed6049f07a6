#!/usr/bin/env bash
# Stop the test cluster that tests/slurm/start.sh STATE_DIR started: cancel its jobs, then stop
# slurmd, slurmctld and munged by the pids in their STATE_DIR pid files, nothing else.
set -uo pipefail
[ $# -eq 1 ] || { echo "usage: $0 STATE_DIR" >&2; exit 2; }
state=$(cd "$1" 2>/dev/null && pwd) || { echo "stop.sh: no such folder $1" >&2; exit 0; }
export SLURM_CONF=$state/slurm.conf

pid_of() {  # pid_of NAME: the pid in STATE_DIR/NAME.pid if that process is a running NAME
    local pid
    pid=$(cat "$state/$1.pid" 2>/dev/null) || return 1
    [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$1" ] && echo "$pid"
}

# Jobs still running (a failed test) would outlive slurmd: cancel this cluster's jobs first.
if pid_of slurmctld >/dev/null && [ -f "$SLURM_CONF" ]; then
    jobs=$(squeue -h -o %i 2>/dev/null | tr '\n' ' ')
    [ -n "${jobs// /}" ] && scancel $jobs 2>/dev/null
fi

status=0
for daemon in slurmd slurmctld munged; do
    if pid=$(pid_of "$daemon"); then
        kill "$pid"
        for _ in $(seq 50); do
            [ -d "/proc/$pid" ] || break
            sleep 0.2
        done
        if [ -d "/proc/$pid" ]; then
            echo "stop.sh: $daemon ($pid) ignored SIGTERM for 10 s; sending SIGKILL" >&2
            kill -9 "$pid" 2>/dev/null
        fi
        echo "stopped $daemon ($pid)"
    fi
    rm -f "$state/$daemon.pid"
done
exit $status
