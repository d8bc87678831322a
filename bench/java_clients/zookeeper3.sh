#!/usr/bin/env bash
# A 3-node Apache ZooKeeper 3.8 ensemble from Debian's jars (package `zookeeper`), on loopback
# ports from the OS, in a directory of its own: the reference the Java clients are checked
# against before zmqzab. No systemd, no /etc/zookeeper: each node has its own zoo.cfg, data dir
# and log (as /work/shared/peers/adapters/zookeeper.py runs it).
#   zookeeper3.sh start DIR   # prints the connect string host:port,host:port,host:port
#   zookeeper3.sh stop DIR    # stops the JVMs it started (by their pid files)
#   zookeeper3.sh kill DIR I  # kill -9 node I (1..3);  zookeeper3.sh restart DIR I: start it again
set -euo pipefail
cmd=${1:?usage: zookeeper3.sh start|stop|kill|restart DIR [I]}
dir=${2:?usage: zookeeper3.sh start|stop|kill|restart DIR [I]}
JARS=/usr/share/java/zookeeper.jar:/usr/share/java/zookeeper-jute.jar:/usr/share/java/slf4j-api.jar:/usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar

free_ports() {  # N ports the OS hands out now (bound, then released)
  python3 - "$1" <<'PY'
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

start_node() {  # node $2 of the ensemble in $1, on its existing zoo.cfg and data dir
  local d="$1/node$2"
  java -Xms128m -Xmx256m "-Dzookeeper.log.dir=$d/logs" "-Dlog4j.configuration=file:$d/log4j.properties" \
    -cp "$JARS" org.apache.zookeeper.server.quorum.QuorumPeerMain "$d/zoo.cfg" \
    >>"$d/logs/stdout.log" 2>&1 &
  echo $! >"$d/pid"
}

stop_node() {  # SIGTERM (or $3) to node $2's JVM, SIGKILL after 10 s
  local f="$1/node$2/pid" pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  kill "-${3:-TERM}" "$pid" 2>/dev/null || true
  for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$f"
}

four_letter() {  # the answer of one node to a four-letter word (empty if none)
  python3 - "$1" "$2" <<'PY' 2>/dev/null || true
import socket, sys
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1) as s:
    s.sendall(sys.argv[2].encode())
    out = b""
    while chunk := s.recv(65536):
        out += chunk
print(out.decode(errors="replace"))
PY
}

case "$cmd" in
start)
  mkdir -p "$dir"
  read -r -a p <<<"$(free_ports 9)"
  servers=""
  for i in 1 2 3; do
    servers+="server.$i=127.0.0.1:${p[$((3 + i - 1))]}:${p[$((6 + i - 1))]}"$'\n'
  done
  connect=""
  for i in 1 2 3; do
    d="$dir/node$i"
    mkdir -p "$d/data" "$d/logs"
    echo "$i" >"$d/data/myid"
    cat >"$d/zoo.cfg" <<CFG
tickTime=2000
initLimit=10
syncLimit=5
dataDir=$d/data
clientPort=${p[$((i - 1))]}
clientPortAddress=127.0.0.1
4lw.commands.whitelist=*
admin.enableServer=false
$servers
CFG
    cat >"$d/log4j.properties" <<'L4J'
log4j.rootLogger=INFO, FILE
log4j.appender.FILE=org.apache.log4j.FileAppender
log4j.appender.FILE.File=${zookeeper.log.dir}/zookeeper.log
log4j.appender.FILE.layout=org.apache.log4j.PatternLayout
log4j.appender.FILE.layout.ConversionPattern=%d{ISO8601} - %-5p [%t:%C{1}@%L] - %m%n
L4J
    start_node "$dir" "$i"
    connect+="${connect:+,}127.0.0.1:${p[$((i - 1))]}"
  done
  echo "$connect" >"$dir/connect"
  # Ready when every node says it is leader or follower (polled, 90 s at most).
  for _ in $(seq 1 180); do
    ready=0
    for i in 1 2 3; do
      four_letter "${p[$((i - 1))]}" srvr | grep -qE "Mode: (leader|follower)" && ready=$((ready + 1))
    done
    if [ "$ready" = 3 ]; then echo "$connect"; exit 0; fi
    sleep 0.5
  done
  echo "zookeeper3.sh: the ensemble in $dir never formed; see $dir/node*/logs" >&2
  exit 1
  ;;
stop)
  for i in 1 2 3; do stop_node "$dir" "$i"; done
  ;;
kill) stop_node "$dir" "${3:?node 1..3}" KILL ;;
restart) start_node "$dir" "${3:?node 1..3}" ;;
*) echo "usage: zookeeper3.sh start|stop|kill|restart DIR [I]" >&2; exit 2 ;;
esac
