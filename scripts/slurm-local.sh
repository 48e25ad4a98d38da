#!/usr/bin/env bash
# A real single-node Slurm cluster on 127.0.0.1, everything (munge key and socket,
# slurm.conf, state, spool, logs, pid files) under one folder, for tests and CI.
# Needs root (SlurmUser=root), Debian 12's slurm 22.05 and munge 0.5.15, no systemd.
#
#   scripts/slurm-local.sh install          # apt-get the packages (skips if present)
#   eval "$(scripts/slurm-local.sh up DIR)" # start munged, slurmctld, slurmd; exports SLURM_CONF
#   scripts/slurm-local.sh check DIR        # sbatch array, dependency, scancel smoke test
#   scripts/slurm-local.sh down DIR         # stop the three daemons (idempotent)
#
# `up` prints only `export ...` lines on stdout; progress and errors go to stderr.
# See docs/slurm-local.md.
set -euo pipefail

PKGS=(slurmctld slurmd slurm-client munge)
UP_TIMEOUT=${SLURM_LOCAL_UP_TIMEOUT:-30}
CHECK_TIMEOUT=${SLURM_LOCAL_CHECK_TIMEOUT:-60}

log() { printf 'slurm-local: %s\n' "$*" >&2; }
UP_DIR="" # set while `up` runs: a failed `up` stops what it started (logs are kept)
die() {
    printf 'slurm-local: error: %s\n' "$*" >&2
    if [ -n "$UP_DIR" ]; then
        local d=$UP_DIR
        UP_DIR=""
        log "stopping what this 'up' started; logs stay in $d/log"
        cmd_down "$d" || true
    fi
    exit 1
}

usage() {
    cat >&2 <<'EOF'
usage: slurm-local.sh install
       slurm-local.sh up DIR      (eval "$(slurm-local.sh up DIR)")
       slurm-local.sh check DIR
       slurm-local.sh down DIR
       slurm-local.sh env DIR     (print the export lines again)
EOF
    exit 2
}

# ---------------------------------------------------------------- install
cmd_install() {
    local missing=()
    for p in "${PKGS[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
            missing+=("$p")
        fi
    done
    if [ ${#missing[@]} -eq 0 ]; then
        log "already installed: ${PKGS[*]}"
        return 0
    fi
    [ "$(id -u)" -eq 0 ] || die "install needs root (apt-get)"
    log "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # A fresh machine may have no package lists yet.
    if ! apt-get install -y --no-install-recommends "${PKGS[@]}" >&2; then
        apt-get update >&2
        apt-get install -y --no-install-recommends "${PKGS[@]}" >&2
    fi
    # The packages' init scripts do not start under policy-rc.d / without systemd,
    # but make sure no system-wide munged or slurm daemon was left running by them.
    log "installed: $(slurmctld -V 2>&1), $(munged -V 2>&1 | head -n1)"
}

# ---------------------------------------------------------------- helpers
abs_dir() { # make DIR absolute (it may not exist yet)
    local d=$1
    case "$d" in /*) ;; *) d="$PWD/$d" ;; esac
    printf '%s\n' "${d%/}"
}

pid_alive() { # pidfile -> 0 if the process in it is alive
    local f=$1 pid
    [ -s "$f" ] || return 1
    pid=$(tr -dc '0-9' <"$f")
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

port_in_use() {
    local p=$1
    if command -v ss >/dev/null 2>&1; then
        ss -Htan 2>/dev/null | awk '{print $4}' | grep -Eq "[:.]$p\$"
    else
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null
    fi
}

free_port() { # a random free TCP port in 20000-59999, not in "$@"
    local p i
    for i in $(seq 1 200); do
        p=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
        case " $* " in *" $p "*) continue ;; esac
        port_in_use "$p" || { echo "$p"; return 0; }
    done
    die "no free TCP port found"
}

tail_logs() { # print the tail of every daemon log in DIR to stderr
    local d=$1 f
    for f in "$d"/log/*; do
        [ -f "$f" ] || continue
        printf '\n----- %s (last 25 lines) -----\n' "$f" >&2
        tail -n 25 "$f" >&2 || true
    done
}

env_lines() {
    local d=$1
    echo "export SLURM_CONF=$d/slurm.conf"
}

stop_pidfile() { # name pidfile: TERM, wait up to 10 s, then KILL
    local name=$1 f=$2 pid i
    if ! pid_alive "$f"; then
        rm -f "$f"
        return 0
    fi
    pid=$(tr -dc '0-9' <"$f")
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || { rm -f "$f"; return 0; }
        sleep 0.1
    done
    log "$name did not stop in 10 s; killing"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.2
    rm -f "$f"
}

# ---------------------------------------------------------------- up
cmd_up() {
    local d
    d=$(abs_dir "${1:?usage: up DIR}")
    [ "$(id -u)" -eq 0 ] || die "up needs root: the generated cluster runs as SlurmUser=root"
    for b in munged mungekey slurmctld slurmd sinfo; do
        command -v "$b" >/dev/null 2>&1 || die "$b not found; run: $0 install"
    done

    # A fresh folder, or one of ours whose daemons are all stopped.
    if [ -e "$d" ] && [ -n "$(ls -A "$d" 2>/dev/null)" ]; then
        [ -f "$d/.slurm-local" ] || die "$d exists and is not empty (and not made by this script)"
        for f in munged.pid slurmctld.pid slurmd.pid; do
            pid_alive "$d/run/$f" && die "$d is in use (${f%.pid} running); run: $0 down $d"
        done
        log "reusing $d (previous instance is stopped): wiping its contents"
        rm -rf "${d:?}/munge" "${d:?}/etc" "${d:?}/run" "${d:?}/log" "${d:?}/state" \
            "${d:?}/spool" "${d:?}/slurm.conf" "${d:?}/check"
    fi
    mkdir -p "$d"
    chmod 0755 "$d"
    touch "$d/.slurm-local"
    UP_DIR=$d
    mkdir -p "$d/munge" "$d/run" "$d/log" "$d/state" "$d/spool"
    chmod 0755 "$d/munge" # key is 0400; non-root clients may reach the socket
    chmod 0700 "$d/state" "$d/spool"
    chmod 0755 "$d/run" "$d/log"

    local sock="$d/munge/munge.socket.2"
    # sun_path is 108 bytes; munged also makes "$sock.lock".
    [ ${#sock} -le 100 ] || die "DIR path too long for a unix socket: $sock (${#sock} > 100 chars)"

    # ---- munge
    local t0=$SECONDS
    if ! mungekey --create --keyfile="$d/munge/munge.key" >/dev/null 2>&1; then
        dd if=/dev/urandom of="$d/munge/munge.key" bs=1 count=1024 status=none
    fi
    chmod 0400 "$d/munge/munge.key"
    log "starting munged (socket $sock)"
    if ! munged --force \
        --socket="$sock" \
        --key-file="$d/munge/munge.key" \
        --pid-file="$d/run/munged.pid" \
        --log-file="$d/log/munged.log" \
        --seed-file="$d/munge/munged.seed" \
        </dev/null >>"$d/log/munged.out" 2>&1; then
        tail_logs "$d"
        die "munged failed to start"
    fi
    local i
    for i in $(seq 1 50); do [ -S "$sock" ] && break; sleep 0.1; done
    [ -S "$sock" ] || { tail_logs "$d"; die "munged socket $sock did not appear"; }
    if command -v munge >/dev/null 2>&1 && command -v unmunge >/dev/null 2>&1; then
        munge -n -S "$sock" | unmunge -S "$sock" >/dev/null 2>&1 ||
            { tail_logs "$d"; die "munge credential round trip failed on $sock"; }
    fi

    # ---- slurm.conf
    local ncpu memmb realmem ctl_port d_port cluster
    ncpu=$(nproc)
    memmb=$(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo)
    # Stay under what slurmd measures, or the node is drained for "Low RealMemory".
    realmem=$((memmb * 9 / 10))
    [ "$realmem" -ge 1 ] || realmem=1
    ctl_port=$(free_port)
    d_port=$(free_port "$ctl_port")
    cluster="local$(printf '%s' "$d" | cksum | cut -c1-6)"

    cat >"$d/slurm.conf" <<EOF
# Generated by scripts/slurm-local.sh up $d
ClusterName=$cluster
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$ctl_port
SlurmdPort=$d_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$sock
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
MessageTimeout=10
InactiveLimit=0
KillWait=5
MinJobAge=300
MailProg=/bin/true
StateSaveLocation=$d/state
SlurmdSpoolDir=$d/spool
SlurmctldPidFile=$d/run/slurmctld.pid
SlurmdPidFile=$d/run/slurmd.pid
SlurmctldLogFile=$d/log/slurmctld.log
SlurmdLogFile=$d/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
PlugStackConfig=$d/plugstack.conf
NodeName=localhost NodeAddr=127.0.0.1 NodeHostname=localhost CPUs=$ncpu RealMemory=$realmem State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
    # Empty plugstack: do not pick up /etc/slurm/plugstack.conf.d of the system.
    : >"$d/plugstack.conf"
    export SLURM_CONF="$d/slurm.conf"

    # ---- daemons (stdio to files, so `eval "$(up)"` does not wait on them)
    log "starting slurmctld (port $ctl_port)"
    if ! slurmctld -f "$d/slurm.conf" -i </dev/null >>"$d/log/slurmctld.out" 2>&1; then
        tail_logs "$d"; die "slurmctld failed to start"
    fi
    log "starting slurmd (port $d_port, node localhost)"
    if ! slurmd -f "$d/slurm.conf" -N localhost </dev/null >>"$d/log/slurmd.out" 2>&1; then
        tail_logs "$d"; die "slurmd failed to start"
    fi

    # ---- wait for the node to be idle
    local state="" deadline=$((SECONDS + UP_TIMEOUT))
    while [ $SECONDS -lt $deadline ]; do
        state=$(timeout 10 sinfo -h -N -n localhost -o '%T' 2>/dev/null | head -n1 || true)
        case "$state" in
        idle | mixed | allocated) break ;;
        esac
        pid_alive "$d/run/slurmctld.pid" || [ $((SECONDS - t0)) -lt 3 ] ||
            { tail_logs "$d"; die "slurmctld is not running"; }
        pid_alive "$d/run/slurmd.pid" || [ $((SECONDS - t0)) -lt 3 ] ||
            { tail_logs "$d"; die "slurmd is not running"; }
        sleep 0.5
    done
    case "$state" in
    idle | mixed | allocated) ;;
    *)
        tail_logs "$d"
        timeout 10 scontrol show node localhost >&2 || true
        die "node localhost not idle after ${UP_TIMEOUT}s (state: '${state:-no answer}')"
        ;;
    esac
    UP_DIR=""
    log "up in $((SECONDS - t0))s: node localhost $state, $ncpu CPUs, ports $ctl_port/$d_port"
    env_lines "$d"
}

# ---------------------------------------------------------------- down
cmd_down() {
    local d
    d=$(abs_dir "${1:?usage: down DIR}")
    [ -d "$d" ] || { log "$d does not exist; nothing to stop"; return 0; }
    if [ -f "$d/slurm.conf" ] && pid_alive "$d/run/slurmctld.pid"; then
        # Cancel this cluster's jobs (any user's) first so that no slurmstepd is orphaned.
        local ids
        ids=$(SLURM_CONF="$d/slurm.conf" timeout 10 squeue -h -o '%A' 2>/dev/null || true)
        # shellcheck disable=SC2086
        [ -z "$ids" ] || SLURM_CONF="$d/slurm.conf" timeout 10 scancel $ids 2>/dev/null || true
        local i
        for i in $(seq 1 50); do
            [ -z "$(SLURM_CONF="$d/slurm.conf" timeout 5 squeue -h -t R,CG,CF,S 2>/dev/null)" ] && break
            sleep 0.2
        done
    fi
    stop_pidfile slurmd "$d/run/slurmd.pid"
    stop_pidfile slurmctld "$d/run/slurmctld.pid"
    stop_pidfile munged "$d/run/munged.pid"
    log "down: $d"
}

# ---------------------------------------------------------------- check
ACTIVE_STATES='PENDING|RUNNING|CONFIGURING|COMPLETING|SUSPENDED|REQUEUED|REQUEUE_HOLD|REQUEUE_FED|RESIZING|SIGNALING|STAGE_OUT|RESV_DEL_HOLD'

job_states() { # jobid -> one state per (array) task, from squeue (accounting is off)
    timeout 10 squeue -h --jobs="$1" -t all -o '%T' 2>/dev/null || true
}

wait_job() { # jobid timeout -> 0 when no task is active
    local id=$1 limit=$2 end st
    end=$((SECONDS + limit))
    while [ $SECONDS -lt "$end" ]; do
        st=$(job_states "$id")
        if ! printf '%s\n' "$st" | grep -Eqx "$ACTIVE_STATES"; then
            return 0
        fi
        sleep 0.3
    done
    log "job $id still active after ${limit}s: $(echo $st)"
    return 1
}

cmd_check() {
    local d
    d=$(abs_dir "${1:?usage: check DIR}")
    [ -f "$d/slurm.conf" ] || die "$d/slurm.conf not found; run: $0 up $d"
    export SLURM_CONF="$d/slurm.conf"
    local w="$d/check"
    rm -rf "$w"
    mkdir -p "$w"
    local fail=0 t0=$SECONDS t
    ok() { log "ok: $*"; }
    bad() { log "FAIL: $*"; fail=1; }

    # 1. job array writing files
    t=$SECONDS
    local arr
    arr=$(sbatch --parsable --array=0-2 -J arr -o "$w/arr-%A_%a.out" -D "$w" \
        --wrap 'echo "task $SLURM_ARRAY_TASK_ID on $(hostname)"; echo $SLURM_ARRAY_TASK_ID > done-$SLURM_ARRAY_TASK_ID') ||
        die "sbatch failed"
    arr=${arr%%;*}
    if wait_job "$arr" "$CHECK_TIMEOUT"; then
        local k okn=0
        for k in 0 1 2; do
            [ "$(cat "$w/done-$k" 2>/dev/null)" = "$k" ] && okn=$((okn + 1))
        done
        local st
        st=$(job_states "$arr" | sort | uniq -c | tr -s ' ' | tr '\n' ';')
        if [ "$okn" -eq 3 ]; then ok "array $arr: 3/3 tasks wrote their files ($st) in $((SECONDS - t))s"
        else bad "array $arr: $okn/3 output files ($st)"; ls -l "$w" >&2; fi
    else
        bad "array $arr did not finish"
    fi

    # 2. dependency ordering: B (afterok:A) must start after A ended
    t=$SECONDS
    local ja jb
    ja=$(sbatch --parsable -J depA -o "$w/depA.out" -D "$w" \
        --wrap 'sleep 2; date +%s.%N > depA.end') || die "sbatch depA failed"
    ja=${ja%%;*}
    jb=$(sbatch --parsable -J depB -o "$w/depB.out" -D "$w" --dependency="afterok:$ja" \
        --wrap 'date +%s.%N > depB.start; test -s depA.end') || die "sbatch depB failed"
    jb=${jb%%;*}
    local stb_early
    stb_early=$(job_states "$jb")
    if wait_job "$ja" "$CHECK_TIMEOUT" && wait_job "$jb" "$CHECK_TIMEOUT"; then
        local ae bs stb
        ae=$(cat "$w/depA.end" 2>/dev/null || echo "")
        bs=$(cat "$w/depB.start" 2>/dev/null || echo "")
        stb=$(job_states "$jb")
        if [ -n "$ae" ] && [ -n "$bs" ] && awk -v a="$ae" -v b="$bs" 'BEGIN{exit !(b >= a)}' &&
            [ "$stb" = COMPLETED ] && [ "$stb_early" = PENDING ]; then
            ok "dependency: $jb (was $stb_early) ran after $ja ended, $stb, in $((SECONDS - t))s"
        else
            bad "dependency: A end '$ae', B start '$bs', B state '$stb_early' then '$stb'"
        fi
    else
        bad "dependency jobs did not finish"
    fi

    # 3. scancel of a running sleep
    t=$SECONDS
    local js st end
    js=$(sbatch --parsable -J sleeper -o "$w/sleep.out" -D "$w" \
        --wrap 'echo started; sleep 60; echo finished') || die "sbatch sleeper failed"
    js=${js%%;*}
    end=$((SECONDS + CHECK_TIMEOUT))
    while [ $SECONDS -lt $end ]; do
        st=$(job_states "$js")
        [ "$st" = RUNNING ] && grep -q started "$w/sleep.out" 2>/dev/null && break
        sleep 0.3
    done
    if [ "$st" != RUNNING ]; then
        bad "sleeper $js never ran (state '$st')"
    else
        scancel "$js" || bad "scancel $js returned non-zero"
        if wait_job "$js" 20; then
            st=$(job_states "$js")
            if [ "$st" = CANCELLED ] && ! grep -q finished "$w/sleep.out"; then
                ok "scancel: $js left the queue as $st in $((SECONDS - t))s"
            else
                bad "scancel: $js state '$st', output: $(tr '\n' ' ' <"$w/sleep.out")"
            fi
        else
            bad "scancel: $js still active"
        fi
    fi
    if [ "$fail" -ne 0 ]; then
        tail_logs "$d"
        die "check failed after $((SECONDS - t0))s"
    fi
    log "check passed in $((SECONDS - t0))s"
}

# ---------------------------------------------------------------- main
case "${1:-}" in
install) cmd_install ;;
up) shift; [ $# -eq 1 ] || usage; cmd_up "$1" ;;
down) shift; [ $# -eq 1 ] || usage; cmd_down "$1" ;;
check) shift; [ $# -eq 1 ] || usage; cmd_check "$1" ;;
env) shift; [ $# -eq 1 ] || usage; env_lines "$(abs_dir "$1")" ;;
*) usage ;;
esac
