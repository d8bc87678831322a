#!/usr/bin/env bash
# The Java clients against a ZooKeeper-protocol cluster (issue 13): Debian's zkCli.sh (ls,
# create -e -s, get -s, set, stat, delete, watches with -w, a reconnect to another node that keeps
# its watches) and Curator (CuratorCheck.java: InterProcessMutex, LeaderLatch, a transaction with
# check, PersistentWatcher), each check one PASS or FAIL line; exit 1 if any failed.
#
#   run.sh zookeeper     # a 3-node Apache ZooKeeper 3.8 (zookeeper3.sh) in a temp dir: the reference
#   run.sh zmqzab        # `zmqzab up` on a 3-node config from make_config, in a temp dir
#   run.sh H:P,H:P,H:P   # a cluster already running (the reconnect check needs to kill a node: skipped)
#
# Needs Debian's zookeeper and libcurator-recipes-java packages and a JDK (javac). A failure
# prints what zkCli printed (the KeeperException it names) or Curator's exception. Every wait polls
# a condition with a deadline. KEEP=1 keeps the temp dir (logs, zkCli transcripts).
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
ZKCLI=${ZKCLI:-/usr/share/zookeeper/bin/zkCli.sh}
PY=${PYTHON:-python3}
target=${1:?usage: run.sh zookeeper | zmqzab | host:port,host:port,host:port}

work=$(mktemp -d /tmp/java-clients.XXXXXX)
passed=0 failed=0 skipped=0
up_pid="" cli_pids=()

jvm_of() {  # zkCli.sh runs java as its child (not exec): the JVM's pid
  ps -o pid= --ppid "$1" 2>/dev/null | tr -d ' ' | head -1
}

cleanup() {
  for p in "${cli_pids[@]}"; do
    j=$(jvm_of "$p"); [ -n "$j" ] && kill "$j" 2>/dev/null
    kill "$p" 2>/dev/null
  done
  case "$target" in
    zookeeper) "$HERE/zookeeper3.sh" stop "$work/zk" ;;
    zmqzab)
      if [ -n "$up_pid" ]; then
        kill -INT "$up_pid" 2>/dev/null
        for _ in $(seq 1 80); do kill -0 "$up_pid" 2>/dev/null || break; sleep 0.25; done
        kill -9 "$up_pid" 2>/dev/null
      fi ;;
  esac
  exec 3>&- 4>&-
  if [ "${KEEP:-0}" = 1 ]; then echo "kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

pass() { echo "PASS $1"; passed=$((passed + 1)); }
fail() {  # the output shown without the JVM's logging noise
  echo "FAIL $1"
  [ -n "${2:-}" ] && grep -v '^SLF4J: ' <<<"$2" | sed 's/^/    | /'
  failed=$((failed + 1))
}
skip() { echo "SKIP $1"; skipped=$((skipped + 1)); }

wait_until() {  # wait_until SECONDS command...: poll every 0.2 s until the command succeeds
  local deadline=$((SECONDS + $1)); shift
  until "$@"; do
    [ "$SECONDS" -ge "$deadline" ] && return 1
    sleep 0.2
  done
}

# --- the cluster -----------------------------------------------------------------------------

case "$target" in
zookeeper)
  connect=$("$HERE/zookeeper3.sh" start "$work/zk") || { echo "ZooKeeper did not start" >&2; exit 1; }
  kill_node() { "$HERE/zookeeper3.sh" kill "$work/zk" "$(($1 + 1))"; }
  restart_node() { "$HERE/zookeeper3.sh" restart "$work/zk" "$(($1 + 1))"; }
  ;;
zmqzab)
  export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
  config=$("$PY" -c 'import sys; from pathlib import Path; from zmqzab.up.localcluster import make_config
print(make_config(Path(sys.argv[1]), 3))' "$work") || exit 1
  connect=$("$PY" -c 'import sys; from zmqzab.config import load_config
print(",".join(f"{n.host}:{n.zk_port}" for n in load_config(sys.argv[1]).nodes))' "$config")
  (cd "$work" && exec "$PY" -m zmqzab up --config "$config" >"$work/up.console" 2>&1) &
  up_pid=$!
  kill_node() { "$PY" -m zmqzab crash "$1" --config "$config" >/dev/null; }
  restart_node() { "$PY" -m zmqzab restart "$1" --config "$config" >/dev/null; }
  ;;
*)
  connect=$target
  kill_node() { return 1; }
  restart_node() { return 1; }
  ;;
esac
IFS=, read -r -a servers <<<"$connect"
echo "cluster: $target ($connect)"

# Ready when every server opens a session and lists / (60 s at most).
answers() { "$ZKCLI" -server "$1" ls / 2>&1 | grep -q '^\[.*zookeeper.*\]$'; }
for s in "${servers[@]}"; do
  wait_until 60 answers "$s" || { echo "no answer from $s; see $work" >&2; KEEP=1; exit 1; }
done

# --- zkCli, one command per JVM ----------------------------------------------------------------

root=/jc$$
A=${servers[0]} B=${servers[1]:-${servers[0]}} C=${servers[2]:-${servers[0]}}
zk() { local s=$1; shift; "$ZKCLI" -server "$s" "$@" 2>&1 | grep -v '^SLF4J: '; }
expect() {  # expect NAME REGEX OUTPUT
  if grep -qE -- "$2" <<<"$3"; then pass "$1"; else fail "$1 (wanted /$2/)" "$3"; fi
}

out=$(zk "$A" ls /); expect "zkCli ls /" '^\[.*zookeeper.*\]$' "$out"
out=$(zk "$A" create "$root" hello); expect "zkCli create $root" "^Created $root\$" "$out"
out=$(zk "$B" create -e -s "$root/e-" eph)
expect "zkCli create -e -s (sequential name from the parent's counter)" "^Created $root/e-[0-9]{10}\$" "$out"
out=$(zk "$C" get -s "$root")
expect "zkCli get -s (data)" '^hello$' "$out"
expect "zkCli get -s (Stat: cZxid, dataVersion, ephemeralOwner)" '^cZxid = 0x[0-9a-f]+$' "$out"
out=$(zk "$A" set "$root" v2; zk "$B" get "$root"); expect "zkCli set, then get on another node" '^v2$' "$out"
out=$(zk "$C" stat "$root"); expect "zkCli stat (dataVersion = 1 after one set)" '^dataVersion = 1$' "$out"
out=$(zk "$A" set -v 7 "$root" bad); expect "zkCli set -v with a wrong version is refused (BADVERSION)" 'version No is not valid|BadVersion' "$out"
out=$(zk "$A" create "$root" again); expect "zkCli create of an existing node is refused (NODEEXISTS)" 'Node already exists' "$out"
out=$(zk "$A" create "$root/d" x; zk "$B" delete "$root/d"; zk "$C" ls "$root")
listing=$(grep -E '^\[.*\]$' <<<"$out" | tail -1)
if grep -q "^Created $root/d\$" <<<"$out" && [ -n "$listing" ] && ! grep -qE '(\[|, )d(\]|,)' <<<"$listing"; then
  pass "zkCli delete"
else fail "zkCli delete" "$out"; fi
# Two Stat/data details every client can see (zkCli prints them):
# DataNode.copyStat reports cversion as creates * 2 - children, so a child's delete counts too;
out=$(zk "$A" create "$root/cv"; zk "$A" create "$root/cv/a"; zk "$A" delete "$root/cv/a"; zk "$A" stat "$root/cv")
expect "zkCli stat: cversion counts a child's create and its delete (cversion = 2)" '^cversion = 2$' "$out"
# zkCli's create without data sends null data, and getData gives null back ("null").
out=$(zk "$A" create "$root/nul"; zk "$A" get "$root/nul")
expect "zkCli create without data: get prints null (null data stays null)" '^null$' "$out"
# A container is no one's ephemeral: DataNode.copyStat shows its owner as 0 (the
# CONTAINER_EPHEMERAL_OWNER marker stays inside the server).
out=$(zk "$A" create -c "$root/box"; zk "$A" stat "$root/box")
expect "zkCli create -c: a container's Stat says ephemeralOwner = 0x0" '^ephemeralOwner = 0x0$' "$out"
# whoami lists the session's identities; every connection has its ip one (ServerCnxn's authInfo).
out=$(zk "$A" whoami); expect "zkCli whoami: the connection's ip identity" '^ip: 127\.0\.0\.1$' "$out"
out=$(zk "$A" delete "$root/nope"); expect "zkCli delete of a missing node is refused (NONODE)" "Node does not exist: $root/nope" "$out"
out=$(zk "$A" delete "$root"); expect "zkCli delete of a node with children is refused (NOTEMPTY)" 'Node not empty|NotEmpty' "$out"

# --- zkCli, interactive sessions fed on stdin --------------------------------------------------

# cli_start NAME SERVERS: a zkCli reading commands from a fifo, its output in $work/NAME.out.
cli_start() {
  local name=$1 fifo="$work/$1.in"
  mkfifo "$fifo"
  "$ZKCLI" -server "$2" <"$fifo" >"$work/$name.out" 2>&1 &
  cli_pids+=($!)
  eval "${name}_pid=$!"
  # Hold the fifo open for writing so that zkCli does not see end of input between commands.
  case "$name" in w) exec 3>"$fifo" ;; r) exec 4>"$fifo" ;; esac
}
cli_send() { case "$1" in w) echo "$2" >&3 ;; r) echo "$2" >&4 ;; esac; }
cli_saw() { grep -qE -- "$2" "$work/$1.out"; }
marker=0
# Every command before it has run once zkCli prints the marker's "Created" (one session runs its
# commands in order). Markers live under their own root, away from the watched nodes.
cli_sync() {
  marker=$((marker + 1))
  cli_send "$1" "create /jcm$$/m$marker"
  wait_until 60 cli_saw "$1" "^Created /jcm$$/m$marker\$"
}
zk "$A" create "/jcm$$" >/dev/null

cli_start w "$A"
cli_send w "get -w $root"
cli_send w "ls -w $root"
cli_send w "stat -w $root/later"
cli_send w "create -e -s $root/mine- x"
if cli_sync w; then
  zk "$B" set "$root" v3 >/dev/null
  if wait_until 30 cli_saw w "type:NodeDataChanged path:$root\$"; then pass "zkCli get -w: NodeDataChanged after a set on another node"
  else fail "zkCli get -w: NodeDataChanged after a set on another node" "$(cat "$work/w.out")"; fi
  zk "$C" create "$root/c1" >/dev/null
  if wait_until 30 cli_saw w "type:NodeChildrenChanged path:$root\$"; then pass "zkCli ls -w: NodeChildrenChanged after a create on another node"
  else fail "zkCli ls -w: NodeChildrenChanged after a create on another node" "$(cat "$work/w.out")"; fi
  zk "$B" create "$root/later" >/dev/null
  if wait_until 30 cli_saw w "type:NodeCreated path:$root/later\$"; then pass "zkCli stat -w of a missing node: NodeCreated"
  else fail "zkCli stat -w of a missing node: NodeCreated" "$(cat "$work/w.out")"; fi
  mine=$(grep -oE "^Created $root/mine-[0-9]{10}\$" "$work/w.out" | cut -d' ' -f2)
  cli_send w quit
  exec 3>&-
  # quit closes the session: its ephemeral node goes at once, not at expiry.
  gone() { local o; o=$(zk "$C" stat "$mine"); grep -q "^Node does not exist: $mine\$" <<<"$o"; }
  if [ -n "$mine" ] && wait_until 20 gone; then pass "zkCli quit: the session's ephemeral node is deleted (closeSession)"
  else fail "zkCli quit: the session's ephemeral node is deleted (closeSession)" "ephemeral '$mine'; $(cat "$work/w.out")"; fi
else
  fail "zkCli interactive session (watches)" "$(cat "$work/w.out")"
fi

# The reconnect: a session on A or B with a data watch; the node it is connected to is killed; the
# client moves to the other one (SetWatches) and the watch still fires for a change made on C.
connected_port() {  # the server port zkCli's JVM has an established connection to, if any
  local jvm; jvm=$(jvm_of "$r_pid"); [ -n "$jvm" ] || return 0
  ss -tnpH state established 2>/dev/null | grep "pid=$jvm," |
    awk '{print $4}' | grep -oE '[0-9]+$' | grep -xE "${A##*:}|${B##*:}" | head -1
}
if [ "${#servers[@]}" -lt 3 ] || { [ "$target" != zookeeper ] && [ "$target" != zmqzab ]; }; then
  skip "zkCli reconnect to another node keeps its watches (needs a cluster this script started)"
else
  zk "$A" create "$root/r" r0 >/dev/null
  cli_start r "$A,$B"
  cli_send r "get -w $root/r"
  if cli_sync r && wait_until 10 test -n "$(connected_port)"; then
    first=$(connected_port)
    victim=0; [ "$first" = "${B##*:}" ] && victim=1
    kill_node "$victim"
    moved() { local p; p=$(connected_port); [ -n "$p" ] && [ "$p" != "$first" ]; }
    if wait_until 60 moved; then
      zk "$C" set "$root/r" r1 >/dev/null
      if wait_until 30 cli_saw r "type:NodeDataChanged path:$root/r\$"; then
        pass "zkCli reconnect to another node keeps its watches (port $first killed, now $(connected_port))"
      else fail "zkCli reconnect to another node keeps its watches (no NodeDataChanged after the move)" "$(cat "$work/r.out")"; fi
    else
      fail "zkCli reconnect to another node keeps its watches (never reconnected after port $first died)" "$(cat "$work/r.out")"
    fi
    restart_node "$victim"
    wait_until 60 answers "${servers[$victim]}" || echo "note: the killed node did not come back within 60 s"
  else
    fail "zkCli reconnect to another node keeps its watches (no session)" "$(cat "$work/r.out")"
  fi
  cli_send r quit
  exec 4>&-
fi

# --- Curator ---------------------------------------------------------------------------------

jars=""
for j in curator-recipes curator-framework curator-client zookeeper zookeeper-jute guava slf4j-api slf4j-nop; do
  jars+="/usr/share/java/$j.jar:"
done
if ! command -v javac >/dev/null || [ ! -f /usr/share/java/curator-recipes.jar ]; then
  skip "curator (needs javac and libcurator-recipes-java)"
elif ! javac -d "$work/classes" -cp "$jars" "$HERE/CuratorCheck.java" 2>"$work/javac.err"; then
  fail "curator: CuratorCheck.java does not compile" "$(cat "$work/javac.err")"
else
  out=$(timeout 300 java -cp "$work/classes:$jars" CuratorCheck "$connect" "/curator$$" 2>&1)
  while IFS= read -r line; do
    case "$line" in
      PASS*) pass "${line#PASS }" ;;
      FAIL*) fail "${line#FAIL }" ;;
    esac
  done <<<"$out"
  grep -qE '^(PASS|FAIL) ' <<<"$out" || fail "curator: no result" "$out"
  grep -q '^FAIL ' <<<"$out" && sed 's/^/    | /' <<<"$out" | grep -v '^    | PASS'
fi

echo "summary: $passed passed, $failed failed, $skipped skipped ($target)"
[ "$failed" = 0 ]
