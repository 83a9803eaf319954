#!/usr/bin/env bash
# A single-node SLURM cluster on this machine, with one fake GPU and job accounting (slurmdbd on
# MariaDB), to try the cluster path on a laptop and to test it in CI.
#
#   sudo tools/local-slurm.sh start    # install if needed (Debian/Ubuntu: apt), configure, start
#   sudo tools/local-slurm.sh status   # daemons, node, partition, account
#   sudo tools/local-slurm.sh stop     # stop the daemons this script started
#
# Needs root and apt (packages slurmctld slurmd slurm-client munge slurmdbd mariadb-server); no
# systemd: the daemons are started directly. Writes /etc/slurm/{slurm,gres,slurmdbd}.conf and
# refuses to overwrite files it did not write; state goes to /var/lib/slurm-local, logs to
# /var/log/slurm-local. The cluster: partition `local`, account `local`, node `hostname -s`
# with this machine's cores and memory and one GPU of type `fake` (jobs that ask for it get
# CUDA_VISIBLE_DEVICES=0, nothing more). Jobs are recorded in the accounting database (sacct).
set -euo pipefail

MARK="# written by emotiontrack tools/local-slurm.sh"
CONF_DIR=/etc/slurm
STATE=/var/lib/slurm-local
LOGS=/var/log/slurm-local
RUN=/run/slurm-local
PARTITION=local
ACCOUNT=local
NODE=$(hostname -s)
DB_PASS=emotiontrack-local # a throwaway database on 127.0.0.1 only
PACKAGES=(slurmctld slurmd slurm-client munge slurmdbd mariadb-server)

die() {
    echo "local-slurm: $*" >&2
    exit 1
}

need_root() {
    [[ $(id -u) -eq 0 ]] || die "needs root (installs packages, starts daemons): sudo $0 $1"
}

running() { # pidfile -> true if its process is alive and is the daemon the file is named after
    local pid
    [[ -s $1 ]] && pid=$(cat "$1") && kill -0 "$pid" 2>/dev/null \
        && [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$(basename "$1" .pid)"* ]]
}

wait_for() { # seconds description command... -> poll the command until it succeeds
    local n=$1 what=$2 i
    shift 2
    for ((i = 0; i < n * 5; i++)); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    die "$what not ready after $n s; see $LOGS/"
}

install() {
    local missing=() p
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
    done
    ((${#missing[@]})) || return 0
    command -v apt-get >/dev/null \
        || die "no apt-get: install ${PACKAGES[*]} with your package manager"
    echo "local-slurm: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # The packages would start their services, unconfigured (or fail to, without systemd): ask
    # them not to, as Docker images do; this script starts the daemons itself, configured.
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    apt-get install -y -q --no-install-recommends "${missing[@]}" >"$LOGS/apt.log" 2>&1 || {
        apt-get update -q >>"$LOGS/apt.log" 2>&1
        apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$LOGS/apt.log" 2>&1 \
            || die "apt-get install failed; see $LOGS/apt.log"
    }
}

write_config() {
    local f hw
    for f in slurm.conf gres.conf slurmdbd.conf; do
        if [[ -e $CONF_DIR/$f ]] && ! grep -qF "$MARK" "$CONF_DIR/$f"; then
            die "$CONF_DIR/$f exists and was not written by this script: not touching it"
        fi
    done
    mkdir -p "$CONF_DIR" "$STATE/ctld" "$STATE/d"
    # The node as slurmd sees it: CPUs, sockets, cores, threads, RealMemory
    hw=$(slurmd -C | head -1 | sed -E 's/^NodeName=[^ ]+ //; s/ UpTime=.*//')
    cat >"$CONF_DIR/slurm.conf" <<EOF
$MARK
ClusterName=emotiontrack-local
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
# no systemd and no cgroups needed; tasks are pinned to the CPUs they were given
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
# cores and memory are consumable; without DefMemPerCPU a job takes all memory
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
# job records in slurmdbd (sacct), GPUs among the tracked resources, with the job's comment
# (snakemake puts the rule or group there); and one line per finished job in jobcomp.log
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStorageTRES=gres/gpu,gres/gpu:fake
AccountingStoreFlags=job_comment
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$LOGS/jobcomp.log
# finished jobs stay visible to squeue for 5 min (the plugin's squeue status needs >= 120 s)
MinJobAge=300
ReturnToService=2
GresTypes=gpu
NodeName=$NODE NodeAddr=127.0.0.1 $hw Gres=gpu:fake:1 State=UNKNOWN
PartitionName=$PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
    cat >"$CONF_DIR/gres.conf" <<EOF
$MARK
AutoDetect=off
NodeName=$NODE Name=gpu Type=fake Count=1 File=/dev/null
EOF
    cat >"$CONF_DIR/slurmdbd.conf" <<EOF
$MARK
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
SlurmUser=root
PidFile=$RUN/slurmdbd.pid
LogFile=$LOGS/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StorageUser=slurm
StoragePass=$DB_PASS
StorageLoc=slurm_acct_db
EOF
    chmod 600 "$CONF_DIR/slurmdbd.conf"
}

start_db() {
    mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
    if ! mariadb-admin ping >/dev/null 2>&1; then
        # setsid, no inherited descriptors: callers that read our output are not kept waiting
        setsid mariadbd --user=mysql --bind-address=127.0.0.1 \
            </dev/null >>"$LOGS/mariadb.log" 2>&1 &
        wait_for 30 MariaDB mariadb-admin ping
        echo $! >"$RUN/mariadb.pid" # ours to stop; one running already is not
    fi
    mariadb -e "CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
        CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
        GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
        GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';"
}

start() {
    need_root start
    mkdir -p "$LOGS" "$RUN"
    install
    write_config
    # munge: the key comes with the package; the daemon runs as user munge
    mkdir -p /run/munge && chown munge:munge /run/munge
    if ! running /run/munge/munged.pid; then
        runuser -u munge -- /usr/sbin/munged </dev/null >/dev/null 2>&1
        cp /run/munge/munged.pid "$RUN/munged.pid" # ours to stop; one running already is not
    fi
    start_db
    running "$RUN/slurmdbd.pid" || slurmdbd </dev/null >/dev/null 2>&1
    wait_for 30 slurmdbd sacctmgr -n list cluster
    sacctmgr -i -Q add cluster emotiontrack-local >/dev/null 2>&1 || true
    running "$RUN/slurmctld.pid" || slurmctld </dev/null >/dev/null 2>&1
    running "$RUN/slurmd.pid" || slurmd </dev/null >/dev/null 2>&1
    # the account jobs are charged to: root and the user who called sudo
    sacctmgr -i -Q add account "$ACCOUNT" Description="local test cluster" \
        Organization=emotiontrack >/dev/null 2>&1 || true
    local u state=""
    for u in root ${SUDO_USER:-}; do
        sacctmgr -i -Q add user "$u" Account="$ACCOUNT" DefaultAccount="$ACCOUNT" >/dev/null 2>&1 \
            || true
    done
    for ((i = 0; i < 60; i++)); do
        state=$(sinfo -h -n "$NODE" -o %T 2>/dev/null || true)
        case $state in
            idle* | mixed* | allocated*) break ;;
            down* | drain*) scontrol update NodeName="$NODE" State=RESUME >/dev/null 2>&1 || true ;;
        esac
        sleep 1
    done
    [[ $state == idle* || $state == mixed* || $state == allocated* ]] \
        || die "node $NODE not up after 60 s (state '$state'); see $LOGS/"
    echo "local-slurm: up: node $NODE ($state), partition $PARTITION, account $ACCOUNT," \
        "gres $(sinfo -h -n "$NODE" -o %G)"
}

stop() {
    need_root stop
    local pidfile pid i
    for pidfile in "$RUN/slurmd.pid" "$RUN/slurmctld.pid" "$RUN/slurmdbd.pid" \
        "$RUN/mariadb.pid" "$RUN/munged.pid"; do
        running "$pidfile" || continue
        pid=$(cat "$pidfile")
        kill "$pid"
        for ((i = 0; i < 100; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.2
        done
        if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid"; fi
    done
    echo "local-slurm: stopped"
}

status() {
    local pidfile
    for pidfile in "$RUN/munged.pid" "$RUN/mariadb.pid" "$RUN/slurmdbd.pid" \
        "$RUN/slurmctld.pid" "$RUN/slurmd.pid"; do
        if running "$pidfile"; then
            echo "$(basename "$pidfile" .pid): running (pid $(cat "$pidfile"))"
        else
            echo "$(basename "$pidfile" .pid): not running"
        fi
    done
    if running "$RUN/slurmctld.pid"; then
        sinfo -o "%P %N %T %c %m %G"
        sacctmgr -n -P list assoc format=account,user
    fi
}

case ${1:-} in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) die "usage: $0 start|stop|status" ;;
esac
