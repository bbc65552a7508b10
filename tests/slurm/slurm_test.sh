#!/usr/bin/env bash
# A real one-node SLURM cluster on this machine (munge, slurmctld, slurmd on localhost, in a
# temporary folder), the quick MI suite submitted as 3 shards with scripts/slurm/submit.sh, the
# shards merged by the dependent job, and the merged metrics compared with a single-process run:
# identical. Exit 77 (skipped) with the reason when SLURM is not installed or cannot start.
set -euo pipefail
build_dir=$1
source_dir=$2
harness="$build_dir/bin/harness"
for tool in munged mungekey slurmctld slurmd sbatch squeue scontrol sqlite3; do
  command -v "$tool" > /dev/null || { echo "SKIP: $tool is not installed (scripts/setup.sh installs slurm-wlm and munge)"; exit 77; }
done
work=$(mktemp -d)
cleanup() {
  SLURM_CONF="$work/slurm.conf" scontrol shutdown > /dev/null 2>&1 || true
  for pid in slurmd.pid slurmctld.pid munged.pid; do [[ -f "$work/$pid" ]] && kill "$(cat "$work/$pid")" 2> /dev/null || true; done
  sleep 1
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/state" "$work/spool"
# Free ports for this cluster, so it never meets another one.
read -r port1 port2 < <(python3 -c 'import socket
s = [socket.socket() for _ in range(2)]
[x.bind(("127.0.0.1", 0)) for x in s]
print(*[x.getsockname()[1] for x in s])' 2> /dev/null || echo "$((20000 + RANDOM % 20000)) $((40000 + RANDOM % 20000))")
host=$(hostname)
mungekey -c -k "$work/munge.key" > /dev/null 2>&1
chmod 600 "$work/munge.key"
munged --force --key-file="$work/munge.key" --socket="$work/munge.socket" --pid-file="$work/munged.pid" \
  --log-file="$work/munged.log" --seed-file="$work/munged.seed" || { echo "SKIP: munged does not start"; exit 77; }
cat > "$work/slurm.conf" <<CONF
ClusterName=rpcbench-test
SlurmctldHost=$host(127.0.0.1)
AuthType=auth/munge
AuthInfo=socket=$work/munge.socket
CredType=cred/munge
SlurmUser=$(id -un)
SlurmdUser=$(id -un)
SlurmctldPort=$port1
SlurmdPort=$port2
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
MpiDefault=none
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
NodeName=$host NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$work/slurm.conf"
slurmctld -f "$SLURM_CONF" || { echo "SKIP: slurmctld does not start: $(tail -3 "$work/slurmctld.log")"; exit 77; }
slurmd -f "$SLURM_CONF" -N "$host" || { echo "SKIP: slurmd does not start: $(tail -3 "$work/slurmd.log")"; exit 77; }
for _ in $(seq 60); do sinfo -h -o %t 2> /dev/null | grep -q idle && break; sleep 0.5; done
sinfo -h -o %t | grep -q idle || { echo "SKIP: the node never became idle: $(tail -3 "$work/slurmd.log")"; exit 77; }

# The suite on the cluster: 3 shards and the merge.
HARNESS="$harness" WORK="$work/jobs" "$source_dir/scripts/slurm/submit.sh" "$source_dir/suites/mi.toml" 3 "$work/merged.db" \
  --profile quick --threads 1
for _ in $(seq 600); do
  [[ -z "$(squeue -h 2> /dev/null)" ]] && break
  sleep 1
done
[[ -z "$(squeue -h)" ]] || { echo "jobs still queued after 10 minutes:"; squeue; exit 1; }
[[ -f "$work/merged.db" ]] || { echo "no merged database; logs:"; tail -n 20 "$work"/jobs/*.log; exit 1; }
# And in one process.
"$harness" run "$source_dir/suites/mi.toml" --profile quick --threads 1 --quiet --db "$work/single.db" > /dev/null

q() { sqlite3 "$work/merged.db" "ATTACH '$work/single.db' AS single; $1"; }
runs=$(q "SELECT count(*) FROM runs")
shards=$(q "SELECT count(*) FROM run_shards")
cases=$(q "SELECT count(*) FROM cases")
samples=$(q "SELECT count(*) FROM samples")
same=$(q "SELECT count(*) FROM samples m JOIN cases cm ON cm.case_id = m.case_id JOIN single.cases cs ON cs.case_key = cm.case_key
          JOIN single.samples s ON s.case_id = cs.case_id AND s.name = m.name AND s.step = m.step WHERE m.value IS s.value")
single=$(q "SELECT count(*) FROM single.samples")
echo "merged: $runs run ($shards shards), $cases cases, $samples samples; $same equal to the single-process run's $single"
[[ "$runs" == 1 && "$shards" == 3 && "$cases" == 16 && "$samples" == "$single" && "$same" == "$single" ]] || exit 1
echo "slurm: 3 shards on a one-node cluster, merged, identical to one process"
