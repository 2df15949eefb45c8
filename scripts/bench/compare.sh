#!/usr/bin/env bash
# Compares synod with ZooKeeper 3.8 and etcd 3.4 on this machine.
#
# For each system in turn it starts a 3-node cluster on loopback with fsync
# on, waits until it serves, runs the same workloads with `synod bench`,
# kills the leader under a writer (failover; five times in a full run, the
# killed node restarted between rounds), stops the cluster, then starts
# a fresh one to measure memory with many znodes and the restart time. It
# writes docs/BENCHMARKS.md and docs/bench/*.png from the JSON results.
#
#   scripts/bench/compare.sh --quick          # a few minutes
#   scripts/bench/compare.sh                  # the full run (~45 minutes)
#
# Options:
#   --quick             short runs, fewer points, 100k znodes for memory
#   --systems "L"       subset of "zookeeper etcd synod shards" (default: all;
#                       shards: synod's sharded tier with 1 and then 3
#                       groups, single-key writes and reads and the txn
#                       workload, against etcd's rows of the same run)
#   --znodes N          nodes for the memory/restart rows (full: 1000000)
#   --skip-memory       leave out the memory and restart rows
#   --skip-observers    leave out the observer rows (3 voters + 2 observers)
#   --work DIR          where clusters keep data, logs and results
#                       (default: /tmp/synod-bench; wiped per cluster)
#   --no-report         only measure; docs/ is left alone
#
# Environment: SYNOD_BIN=path measures that synod binary (no build) and
# SYNOD_DESC says what it was built from, for the report;
# CARGO_TARGET_DIR is honoured when building; ZK_HEAP sets ZooKeeper's -Xmx;
# FAILOVER_ROUNDS sets the leader kills per system (full run 5, quick 1);
# SYNOD_WORKER_THREADS sets each synod node's worker_threads (default 0:
# one per core); SYNOD_PEER_TLS=1 runs synod's peers on mutual TLS (as
# production would off loopback; certificates from `synod certs`).
#
# Observer rows: ZooKeeper and synod each run again as 3 voters + 2
# observers (synod: learners added with `synod reconfig add-learner`, which
# ZooKeeper clients see as observers), with the read, write and mixed
# workloads' connections spread over all 5 servers; the report sets them
# beside the 3-node rows (reads may scale, writes should not slow).
#
# Ports (chosen away from synod dev's and teammates' clusters):
#   ZooKeeper clients 2281-2285, quorum 24881-24885, election 25881-25885
#   etcd clients 23791-23793, peers 23801-23803
#   synod ZooKeeper 29181-29185, gRPC 28001-28005, peers 27001-27005
#
# Every process it starts is stopped on exit, also on Ctrl-C or failure.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
QUICK=0
SYSTEMS="zookeeper etcd synod shards"
ZNODES=""
SKIP_MEMORY=0
SKIP_OBSERVERS=0
WORK=/tmp/synod-bench
REPORT=1
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --systems) SYSTEMS=$2; shift ;;
    --znodes) ZNODES=$2; shift ;;
    --skip-memory) SKIP_MEMORY=1 ;;
    --skip-observers) SKIP_OBSERVERS=1 ;;
    --work) WORK=$2; shift ;;
    --no-report) REPORT=0 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "compare.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

if [ "$QUICK" = 1 ]; then
  DURATION=5; WARMUP=1; SWEEP="1 8 64"; FAILOVER_S=10; FAILOVER_ROUNDS=${FAILOVER_ROUNDS:-1}
  ZNODES=${ZNODES:-100000}
else
  DURATION=20; WARMUP=3; SWEEP="1 8 64 256"; FAILOVER_S=15; FAILOVER_ROUNDS=${FAILOVER_ROUNDS:-5}
  ZNODES=${ZNODES:-1000000}
fi
COMMAND="${SYNOD_BIN:+SYNOD_BIN=$SYNOD_BIN }scripts/bench/compare.sh $*"
[ "$QUICK" = 1 ] && COMMAND="scripts/bench/compare.sh --quick${SYSTEMS:+ --systems \"$SYSTEMS\"}"
RESULTS=$WORK/results
LOGS=$WORK/logs
mkdir -p "$RESULTS" "$LOGS"

log() { echo "== $(date +%H:%M:%S) $*" >&2; }

# ---------------------------------------------------------------- install
install_deps() {
  local need=()
  [ -f /usr/share/java/zookeeper.jar ] || need+=(zookeeper)
  command -v etcd >/dev/null || need+=(etcd-server)
  command -v etcdctl >/dev/null || need+=(etcd-client)
  command -v jcmd >/dev/null || need+=(openjdk-17-jdk-headless)
  if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]}"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y "${need[@]}"
  fi
  if [ "$REPORT" = 1 ] && ! python3 -c 'import matplotlib' 2>/dev/null; then
    log "installing matplotlib"
    pip install -q matplotlib
  fi
}

# ---------------------------------------------------------------- processes
PIDS_FILE=$WORK/pids
: > "$PIDS_FILE"

# Starts a process in the background, logging to $1, remembering its pid
# under the name $2.
start_proc() {
  local logfile=$1 name=$2; shift 2
  "$@" >>"$logfile" 2>&1 &
  local pid=$!
  echo "$name $pid" >> "$PIDS_FILE"
  eval "PID_$name=$pid"
}

pid_of() { eval "echo \${PID_$1:-}"; }

stop_proc() {
  local name=$1 signal=${2:-TERM} pid
  pid=$(pid_of "$name")
  [ -n "$pid" ] || return 0
  kill -"$signal" "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  eval "PID_$name="
}

stop_all() {
  local name pid
  while read -r name pid; do
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && kill -TERM "$pid" 2>/dev/null || true
  done < "$PIDS_FILE"
  sleep 1
  while read -r name pid; do
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  done < "$PIDS_FILE"
  : > "$PIDS_FILE"
}
trap stop_all EXIT

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# ---------------------------------------------------------------- synod
# SYNOD_BIN: measure this synod binary instead of building the work tree
# (e.g. one built from a clean checkout of a commit).
SYNOD=${SYNOD_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/synod}
BENCH() { "$SYNOD" bench "$@"; }

build_synod() {
  if [ -n "${SYNOD_BIN:-}" ]; then
    log "using SYNOD_BIN=$SYNOD_BIN"
    return
  fi
  log "building synod (release)"
  (cd "$ROOT" && cargo build --release -q -p synod)
}

# Async threads per synod node (0: one per core, the default).
SYNOD_WORKERS=${SYNOD_WORKER_THREADS:-0}

synod_write_configs() {
  local dir=$WORK/synod members="" i tls=""
  rm -rf "$dir"; mkdir -p "$dir"
  if [ "${SYNOD_PEER_TLS:-0}" = 1 ]; then
    "$SYNOD" certs create-ca --dir "$dir/tls" --name bench >/dev/null
    for i in 1 2 3 4 5; do "$SYNOD" certs create-node --dir "$dir/tls" --id "$i" >/dev/null; done
  fi
  local nodes="1 2 3" voters=""
  [ "${OBSERVERS:-0}" = 1 ] && nodes="1 2 3 4 5" voters="initial_voters = [1, 2, 3]"
  for i in $nodes; do
    members+="[members.$i]
peer = \"127.0.0.1:$((27000 + i))\"
client = \"127.0.0.1:$((28000 + i))\"
"
  done
  for i in $nodes; do
    # Nodes 4 and 5 start empty and join as learners.
    local join="" init_voters=$voters
    [ "$i" -gt 3 ] && join="join = true" init_voters=""
    tls=""
    if [ "${SYNOD_PEER_TLS:-0}" = 1 ]; then
      tls="[peer_tls]
ca = \"$dir/tls/ca.crt\"
cert = \"$dir/tls/node-$i.crt\"
key = \"$dir/tls/node-$i.key\""
    fi
    cat > "$dir/n$i.toml" <<EOF
node_id = $i
cluster_id = 1
data_dir = "$dir/n$i"
peer_listen = "127.0.0.1:$((27000 + i))"
client_listen = "127.0.0.1:$((28000 + i))"
zk_listen = "127.0.0.1:$((29180 + i))"
worker_threads = $SYNOD_WORKERS
$join
$init_voters

$members

[zk]
# As ZooKeeper's maxClientCnxns=0 below: the watch rows open 64 sockets from one address.
max_client_cnxns = 0

$tls
EOF
  done
}

synod_start_node() {
  # --init on the first start only: a restarted node has its IDENTITY.
  local init=()
  [ -e "$WORK/synod/n$1/IDENTITY" ] || [ "$1" -gt 3 ] || init=(--init)
  start_proc "$LOGS/synod-n$1.log" "synod$1" "$SYNOD" server --config "$WORK/synod/n$1.toml" "${init[@]}"
}
synod_start() { synod_write_configs; for i in 1 2 3; do synod_start_node "$i"; done; }
synod_stop() { for i in 1 2 3; do stop_proc "synod$i"; done; }
SYNOD_ZK=127.0.0.1:29181,127.0.0.1:29182,127.0.0.1:29183
SYNOD_GRPC=127.0.0.1:28001,127.0.0.1:28002,127.0.0.1:28003
synod_leader() {
  # `synod status` prints one row per node; the node id is column 2.
  "$SYNOD" status --endpoints "$SYNOD_GRPC" 2>/dev/null | awk '$3 == "leader" {print $2; exit}'
}

# ---------------------------------------------------------------- ZooKeeper
ZK_CP=/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar:/usr/share/java/netty-codec.jar:/usr/share/java/netty-resolver.jar:/usr/share/java/netty-transport-native-unix-common.jar:/usr/share/java/netty-handler.jar:/usr/share/java/netty-buffer.jar:/usr/share/java/netty-common.jar:/usr/share/java/netty-transport.jar:/usr/share/java/metrics-core.jar:/usr/share/java/jline.jar:/usr/share/java/commons-cli.jar:/usr/share/java/snappy-java.jar:/usr/share/java/servlet-api.jar
ZK_EP=127.0.0.1:2281,127.0.0.1:2282,127.0.0.1:2283
ZK_HEAP=${ZK_HEAP:-2g}

zk_write_configs() {
  local dir=$WORK/zookeeper i nodes="1 2 3" extra=""
  [ "${OBSERVERS:-0}" = 1 ] && nodes="1 2 3 4 5" extra="server.4=127.0.0.1:24884:25884:observer
server.5=127.0.0.1:24885:25885:observer"
  rm -rf "$dir"; mkdir -p "$dir"
  for i in $nodes; do
    mkdir -p "$dir/n$i/data"
    echo "$i" > "$dir/n$i/data/myid"
    cat > "$dir/n$i/zoo.cfg" <<EOF
tickTime=2000
initLimit=10
syncLimit=5
dataDir=$dir/n$i/data
clientPort=$((2280 + i))
clientPortAddress=127.0.0.1
maxClientCnxns=0
forceSync=yes
admin.enableServer=false
4lw.commands.whitelist=*
autopurge.purgeInterval=0
server.1=127.0.0.1:24881:25881
server.2=127.0.0.1:24882:25882
server.3=127.0.0.1:24883:25883
$extra
EOF
    [ "$i" -gt 3 ] && echo "peerType=observer" >> "$dir/n$i/zoo.cfg"
    cat > "$dir/n$i/log4j.properties" <<EOF
log4j.rootLogger=WARN, CONSOLE
log4j.appender.CONSOLE=org.apache.log4j.ConsoleAppender
log4j.appender.CONSOLE.layout=org.apache.log4j.PatternLayout
log4j.appender.CONSOLE.layout.ConversionPattern=%d{ISO8601} [myid:%X{myid}] - %-5p [%t:%C{1}@%L] - %m%n
EOF
  done
}

zk_start_node() {
  local dir=$WORK/zookeeper/n$1
  start_proc "$LOGS/zookeeper-n$1.log" "zk$1" java -Xms512m -Xmx"$ZK_HEAP" \
    -cp "$ZK_CP" -Dzookeeper.log.dir="$dir" \
    -Dlog4j.configuration=file:"$dir/log4j.properties" \
    org.apache.zookeeper.server.quorum.QuorumPeerMain "$dir/zoo.cfg"
}
zk_start() { zk_write_configs; for i in 1 2 3; do zk_start_node "$i"; done; }
zk_stop() { for i in 1 2 3; do stop_proc "zk$i"; done; }
four_letter() {
  # Sends a four-letter word to 127.0.0.1:$1; prints the answer.
  timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1; printf '%s' $2 >&3; cat <&3" 2>/dev/null || true
}
zk_leader() {
  local i
  for i in 1 2 3; do
    if four_letter $((2280 + i)) srvr | grep -q 'Mode: leader'; then echo "$i"; return; fi
  done
}

# ---------------------------------------------------------------- etcd
ETCD_EP=127.0.0.1:23791,127.0.0.1:23792,127.0.0.1:23793
etcd_start_node() {
  local i=$1 state=${2:-new}
  start_proc "$LOGS/etcd-n$i.log" "etcd$i" etcd --name "e$i" \
    --data-dir "$WORK/etcd/n$i" \
    --listen-client-urls "http://127.0.0.1:$((23790 + i))" \
    --advertise-client-urls "http://127.0.0.1:$((23790 + i))" \
    --listen-peer-urls "http://127.0.0.1:$((23800 + i))" \
    --initial-advertise-peer-urls "http://127.0.0.1:$((23800 + i))" \
    --initial-cluster "e1=http://127.0.0.1:23801,e2=http://127.0.0.1:23802,e3=http://127.0.0.1:23803" \
    --initial-cluster-token synod-bench --initial-cluster-state "$state" \
    --quota-backend-bytes 8589934592 --log-level warn
}
etcd_start() { rm -rf "$WORK/etcd"; mkdir -p "$WORK/etcd"; for i in 1 2 3; do etcd_start_node "$i"; done; }
etcd_stop() { for i in 1 2 3; do stop_proc "etcd$i"; done; }
etcd_leader() {
  local i
  for i in 1 2 3; do
    if ETCDCTL_API=3 etcdctl --endpoints "127.0.0.1:$((23790 + i))" endpoint status -w fields 2>/dev/null \
        | awk -F': ' '/"MemberID"/ {m=$2} /"Leader"/ {l=$2} END {exit !(m == l && m != "")}'; then
      echo "$i"; return
    fi
  done
}

# ---------------------------------------------------------------- helpers
# Waits until a read through the given target succeeds.
wait_serving() {
  local target=$1 endpoints=$2 limit=${3:-60} out
  out=$(BENCH probe --target "$target" --endpoints "$endpoints" --duration "$limit" --quiet 2>&1) || {
    echo "$out" >&2; return 1; }
  echo "$out" | awk '/ready_ms/ {print $2}'
}

# run NAME SYSTEM-LABEL BENCH-ARGS...: one measured run into $RESULTS.
run() {
  local name=$1 label=$2; shift 2
  local json="$RESULTS/$label/$name.json"
  mkdir -p "$RESULTS/$label"
  log "$label $name: synod bench $*"
  if ! BENCH "$@" --duration "$DURATION" --warmup "$WARMUP" --json "$json" \
      > "$LOGS/$label-$name.out" 2> "$LOGS/$label-$name.err"; then
    log "$label $name FAILED (see $LOGS/$label-$name.{out,err})"
    tail -3 "$LOGS/$label-$name.err" >&2 || true
  fi
  cat "$LOGS/$label-$name.out" >&2 || true
}

# The workloads every system runs. $1 label, $2 target, $3 endpoints,
# $4 "zk" to add the ZooKeeper recipes, "chubby" to add Chubby's lock.
workloads() {
  local label=$1 target=$2 ep=$3 recipes=${4:-}
  local common=(--target "$target" --endpoints "$ep")
  run write "$label" write "${common[@]}"
  run read "$label" read "${common[@]}" --skip-setup
  run mixed "$label" mixed "${common[@]}" --read-ratio 0.9 --skip-setup
  run create-delete "$label" create-delete "${common[@]}" --skip-setup
  local n
  for n in $SWEEP; do
    local c=$(( n < 8 ? n : 8 ))
    run "write-if$n" "$label" write "${common[@]}" --connections "$c" --in-flight "$n" --skip-setup
    run "read-if$n" "$label" read "${common[@]}" --connections "$c" --in-flight "$n" --skip-setup
  done
  if [ "$recipes" = zk ]; then
    run watch "$label" watch "${common[@]}" --watchers 64 --connections 64
    run lock "$label" lock "${common[@]}" --connections 8
  fi
  if [ "$recipes" = chubby ]; then
    run lock "$label" lock "${common[@]}" --connections 8
    run cached-read "$label" cached-read "${common[@]}" --connections 8
  fi
}

# failover LABEL TARGET ENDPOINTS LEADER-FN PROC-PREFIX ROUND: kill -9 the
# leader 4 s into a writer's measured phase; the longest gap without a
# successful write is the failover time (failover-ROUND.json). Sets KILLED
# to the killed node's number.
KILLED=""
failover() {
  local label=$1 target=$2 ep=$3 leader_fn=$4 kill_prefix=$5 round=$6
  local leader json="$RESULTS/$label/failover-$round.json"
  mkdir -p "$RESULTS/$label"
  KILLED=""
  leader=$($leader_fn)
  if [ -z "$leader" ]; then log "$label failover $round: no leader found; skipped"; return; fi
  log "$label failover $round: writer running, killing leader node $leader in 4 s"
  BENCH write --target "$target" --endpoints "$ep" --connections 8 --in-flight 8 \
    --duration "$FAILOVER_S" --warmup 1 --request-timeout-ms 3000 --skip-setup \
    --json "$json" > "$LOGS/$label-failover.out" 2> "$LOGS/$label-failover.err" &
  local bench=$!
  sleep 5
  echo "{\"killed_node\": $leader, \"killed_at\": \"$(date +%T.%N)\"}" > "$RESULTS/$label/kill-$round.json"
  stop_proc "$kill_prefix$leader" KILL
  wait "$bench" || log "$label failover $round: bench exited non-zero"
  cat "$LOGS/$label-failover.out" >&2
  KILLED=$leader
}

# failovers LABEL TARGET ENDPOINTS LEADER-FN PROC-PREFIX RESTART-FN: the
# failover above FAILOVER_ROUNDS times (one election is one draw of a
# random timeout), bringing the killed node back with RESTART-FN NODE and
# giving it 5 s to rejoin before the next round and after the last.
failovers() {
  local restart_fn=$6 round
  for round in $(seq 1 "$FAILOVER_ROUNDS"); do
    failover "$1" "$2" "$3" "$4" "$5" "$round"
    [ -n "$KILLED" ] || return 0
    $restart_fn "$KILLED"
    sleep 5
  done
}
etcd_restart_node() { etcd_start_node "$1" existing; }

# memory_restart LABEL: populate, measure, restart, probe.
memory_row() {
  local label=$1; shift
  local out="$RESULTS/$label/memory.json" i pid rss heap="null" entries=""
  for i in 1 2 3; do
    pid=$(pid_of "$1$i")
    rss=$(rss_kb "$pid")
    [ -n "$rss" ] && [ "$rss" != 0 ] || log "$label memory: node $i is not running (see $LOGS)"
    if [ "$1" = zk ]; then
      jcmd "$pid" GC.run >/dev/null 2>&1 || true
      heap=$(jcmd "$pid" GC.heap_info 2>/dev/null | awk '/used/ {for (f=1; f<=NF; f++) if ($f == "used") {v=$(f+1); sub("K,?","",v); print v; exit}}')
      heap=${heap:-null}
    fi
    entries+="{\"node\": $i, \"rss_kb\": ${rss:-0}, \"heap_used_kb\": $heap},"
  done
  echo "{\"znodes\": $ZNODES, \"nodes\": [${entries%,}]}" > "$out"
  log "$label memory: $(cat "$out")"
}

record_env() {
  {
    echo "{"
    echo "\"cpu\": \"$(lscpu | awk -F': +' '/Model name/ {print $2; exit}')\","
    echo "\"cores\": $(nproc),"
    echo "\"synod_worker_threads\": $SYNOD_WORKERS,"
    echo "\"memory\": \"$(free -h | awk '/Mem:/ {print $2}')\","
    echo "\"disk\": \"$(df -h "$WORK" | awk 'NR==2 {print $1", "$2" total, fs "}')$(findmnt -n -o FSTYPE -T "$WORK" 2>/dev/null)\","
    echo "\"kernel\": \"$(uname -r)\","
    echo "\"zookeeper\": \"$(dpkg-query -W -f '${Version}' zookeeper 2>/dev/null)\","
    echo "\"etcd\": \"$(etcd --version 2>/dev/null | awk '/etcd Version/ {print $3}')\","
    echo "\"java\": \"$(java -version 2>&1 | head -1 | tr -d '"')\","
    echo "\"synod\": \"$("$SYNOD" --version) (${SYNOD_DESC:-$(cd "$ROOT" && git rev-parse --short HEAD)$(cd "$ROOT" && git diff --quiet HEAD || echo ', work tree with uncommitted changes')})\","
    echo "\"quick\": $QUICK,"
    echo "\"duration_s\": $DURATION, \"warmup_s\": $WARMUP,"
    echo "\"command\": \"$(echo "$COMMAND" | sed 's/"/\\"/g')\","
    echo "\"date\": \"$(date -u +%Y-%m-%dT%H:%MZ)\""
    echo "}"
  } > "$RESULTS/env.json"
}

note_load() { echo "$1: $(uptime | sed 's/.*load average: //')" >> "$RESULTS/load.txt"; }

# ---------------------------------------------------------------- observers
OBS_ZK_EP=127.0.0.1:2281,127.0.0.1:2282,127.0.0.1:2283,127.0.0.1:2284,127.0.0.1:2285
OBS_SYNOD_ZK=$SYNOD_ZK,127.0.0.1:29184,127.0.0.1:29185

# observer_workloads LABEL ENDPOINTS: the read, write and mixed runs with
# two connections per server (10), so every observer carries load.
observer_workloads() {
  local label=$1 ep=$2
  local common=(--target zk --endpoints "$ep" --connections 10)
  run write "$label" write "${common[@]}"
  run read "$label" read "${common[@]}" --skip-setup
  run mixed "$label" mixed "${common[@]}" --read-ratio 0.9 --skip-setup
}

# wait_each_serving ENDPOINTS LIMIT: every one of the endpoints answers a
# read (a probe through a list succeeds as soon as one does).
wait_each_serving() {
  local e
  for e in ${1//,/ }; do wait_serving zk "$e" "$2" >/dev/null || return 1; done
}

zk_observers() {
  local i
  log "ZooKeeper: 3 voters + 2 observers"
  OBSERVERS=1 zk_write_configs
  for i in 1 2 3 4 5; do zk_start_node "$i"; done
  if wait_each_serving "$OBS_ZK_EP" 90; then
    observer_workloads zookeeper-obs "$OBS_ZK_EP"
  else
    log "ZooKeeper observers: not every server came up; rows skipped"
  fi
  for i in 1 2 3 4 5; do stop_proc "zk$i"; done
}

synod_observers() {
  local i
  log "synod: 3 voters + 2 learners (observers to ZooKeeper clients)"
  OBSERVERS=1 synod_write_configs
  for i in 1 2 3 4 5; do synod_start_node "$i"; done
  wait_serving zk "$SYNOD_ZK" 60 >/dev/null
  for i in 4 5; do
    "$SYNOD" reconfig --endpoints "$SYNOD_GRPC" add-learner "$i" >&2 \
      || log "synod observers: add-learner $i failed"
  done
  if wait_each_serving "$OBS_SYNOD_ZK" 60; then
    observer_workloads synod-obs "$OBS_SYNOD_ZK"
  else
    log "synod observers: not every server came up; rows skipped"
  fi
  for i in 1 2 3 4 5; do stop_proc "synod$i"; done
}

# ---------------------------------------------------------------- systems
bench_zookeeper() {
  log "ZooKeeper: starting 3 nodes"
  zk_start
  wait_serving zk "$ZK_EP" 90 >/dev/null
  note_load "zookeeper start"
  workloads zookeeper zk "$ZK_EP" zk
  failovers zookeeper zk "$ZK_EP" zk_leader zk zk_start_node
  zk_stop
  [ "$SKIP_OBSERVERS" = 1 ] || zk_observers
  [ "$SKIP_MEMORY" = 1 ] && return
  log "ZooKeeper: memory with $ZNODES znodes"
  zk_start
  wait_serving zk "$ZK_EP" 90 >/dev/null
  populate zookeeper zk "$ZK_EP"
  memory_row zookeeper zk
  zk_stop
  for i in 1 2 3; do zk_start_node "$i"; done
  restart_row zookeeper zk "$ZK_EP" zk
  zk_stop
}

bench_etcd() {
  log "etcd: starting 3 members"
  etcd_start
  wait_serving etcd "$ETCD_EP" 60 >/dev/null
  note_load "etcd start"
  workloads etcd etcd "$ETCD_EP"
  run txn etcd txn --target etcd --endpoints "$ETCD_EP" --skip-setup
  failovers etcd etcd "$ETCD_EP" etcd_leader etcd etcd_restart_node
  etcd_stop
  [ "$SKIP_MEMORY" = 1 ] && return
  log "etcd: memory with $ZNODES keys"
  etcd_start
  wait_serving etcd "$ETCD_EP" 60 >/dev/null
  populate etcd etcd "$ETCD_EP"
  memory_row etcd etcd
  etcd_stop
  for i in 1 2 3; do etcd_start_node "$i" existing; done
  restart_row etcd etcd "$ETCD_EP" etcd
  etcd_stop
}

bench_synod() {
  log "synod: starting 3 nodes"
  synod_start
  wait_serving zk "$SYNOD_ZK" 60 >/dev/null
  note_load "synod start"
  workloads synod-zk zk "$SYNOD_ZK" zk
  workloads synod-native synod-native "$SYNOD_GRPC" chubby
  failovers synod-native synod-native "$SYNOD_GRPC" synod_leader synod synod_start_node
  failovers synod-zk zk "$SYNOD_ZK" synod_leader synod synod_start_node
  synod_stop
  [ "$SKIP_OBSERVERS" = 1 ] || synod_observers
  [ "$SKIP_MEMORY" = 1 ] && return
  log "synod: memory with $ZNODES znodes"
  synod_start
  wait_serving zk "$SYNOD_ZK" 60 >/dev/null
  populate synod zk "$SYNOD_ZK"
  memory_row synod synod
  synod_stop
  for i in 1 2 3; do synod_start_node "$i"; done
  restart_row synod zk "$SYNOD_ZK" synod
  synod_stop
}

# ---------------------------------------------------------------- sharded tier
# Three servers with [shards] groups = $1 (each a replica of the controller
# and of every group), on synod's ports.
shards_write_configs() {
  local dir=$WORK/shards members="" i
  rm -rf "$dir"; mkdir -p "$dir"
  for i in 1 2 3; do
    members+="[members.$i]
peer = \"127.0.0.1:$((27000 + i))\"
client = \"127.0.0.1:$((28000 + i))\"
"
  done
  for i in 1 2 3; do
    cat > "$dir/n$i.toml" <<EOF
node_id = $i
cluster_id = 1
data_dir = "$dir/n$i"
peer_listen = "127.0.0.1:$((27000 + i))"
client_listen = "127.0.0.1:$((28000 + i))"
worker_threads = $SYNOD_WORKERS

$members
[shards]
groups = $1
shard_count = 16
EOF
  done
}

# Waits until the controller's configuration names the groups.
shards_wait() {
  local i
  for i in $(seq 1 120); do
    if "$SYNOD" shards --endpoints "$SYNOD_GRPC" 2>/dev/null | head -1 | grep -q '^configuration [1-9]'; then
      return 0
    fi
    sleep 0.5
  done
  log "the sharded tier did not come up (see $LOGS/shards-*.log)"
  return 1
}

bench_shards() {
  local g i
  for g in 1 3; do
    log "synod sharded tier: 3 servers, $g groups"
    shards_write_configs "$g"
    for i in 1 2 3; do
      start_proc "$LOGS/shards-g$g-n$i.log" "synod$i" "$SYNOD" server --config "$WORK/shards/n$i.toml" --init
    done
    shards_wait
    note_load "shards $g groups start"
    local common=(--target synod-shards --endpoints "$SYNOD_GRPC")
    run write "shards-g$g" write "${common[@]}"
    run read "shards-g$g" read "${common[@]}" --skip-setup
    run txn "shards-g$g" txn "${common[@]}" --skip-setup
    synod_stop
  done
}

populate() {
  local label=$1 target=$2 ep=$3
  mkdir -p "$RESULTS/$label"
  log "$label: populating $ZNODES nodes"
  BENCH populate --target "$target" --endpoints "$ep" --keys "$ZNODES" \
    --connections 8 --in-flight 256 --json "$RESULTS/$label/populate.json" \
    > "$LOGS/$label-populate.out" 2> "$LOGS/$label-populate.err" \
    || log "$label populate FAILED (see $LOGS/$label-populate.err)"
  cat "$LOGS/$label-populate.out" >&2
  sleep 5
}

restart_row() {
  local label=$1 target=$2 ep=$3 ms prefix=$4 i note=""
  ms=$(wait_serving "$target" "$ep" 300) || ms=null
  # A node that serves and then stops (e.g. failing while recovering) has
  # not restarted: check they all still run a few seconds later.
  sleep 5
  for i in 1 2 3; do
    kill -0 "$(pid_of "$prefix$i")" 2>/dev/null || note+="node $i stopped within 5 s of serving; "
  done
  [ -n "$note" ] && ms=null
  echo "{\"znodes\": $ZNODES, \"ready_ms\": ${ms:-null}, \"note\": \"${note% }\"}" > "$RESULTS/$label/restart.json"
  log "$label restart with $ZNODES nodes: serving after ${ms} ms ${note}"
}

# ---------------------------------------------------------------- main
install_deps
build_synod
[ -x "$SYNOD" ] || { echo "compare.sh: $SYNOD not built" >&2; exit 1; }
rm -rf "$RESULTS"; mkdir -p "$RESULTS"
record_env
note_load "before"
for s in $SYSTEMS; do
  case "$s" in
    zookeeper) bench_zookeeper ;;
    etcd) bench_etcd ;;
    synod) bench_synod ;;
    shards) bench_shards ;;
    *) echo "compare.sh: unknown system $s" >&2; exit 2 ;;
  esac
  stop_all
  note_load "after $s"
done
if [ "$REPORT" = 1 ]; then
  # Notes written by hand about a run go in $RESULTS/notes.md; report.py
  # includes them.
  python3 "$ROOT/scripts/bench/report.py" --results "$RESULTS" --logs "$LOGS" \
    --out "$ROOT/docs/BENCHMARKS.md" --plots "$ROOT/docs/bench"
  log "wrote docs/BENCHMARKS.md and docs/bench/*.png"
fi
