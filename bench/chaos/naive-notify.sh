#!/bin/sh
# Seed 004's notify logic, the comparison row of `npm run chaos -- --naive`: no hactl on the
# promotion path. keepalived runs it as: naive-notify.sh LAB_DIR GROUP NAME STATE PRIORITY.
#   MASTER: STOP SLAVE; RESET SLAVE ALL; SET GLOBAL read_only=0
#   BACKUP/FAULT: SET GLOBAL read_only=1, re-point at the peer, START SLAVE
# It also records the state it applied where the lab looks for notify's record, so `hactl lab`
# can tell when the pair has settled. SQL goes on stdin: no password on a command line.
dir=$1
state=$4
if ip -4 -o addr show dev eth1 | grep -q ' 192\.0\.2\.11/'; then
  node=ha1 peer=192.0.2.12
else
  node=ha2 peer=192.0.2.11
fi
sql() {
  timeout 20 mariadb --defaults-extra-file="$dir/db/admin.cnf" -h 127.0.0.1 -P 3306 --connect-timeout=5 -N -B
}
case $state in
MASTER)
  printf 'STOP SLAVE; RESET SLAVE ALL; SET GLOBAL read_only=0;\n' | sql
  ok=$?
  ;;
BACKUP | FAULT)
  user=$(my_print_defaults --defaults-extra-file="$dir/db/replication.cnf" client | sed -n 's/^--user=//p' | tail -n 1)
  pass=$(my_print_defaults --defaults-extra-file="$dir/db/replication.cnf" client | sed -n 's/^--password=//p' | tail -n 1)
  printf "SET GLOBAL read_only=1; STOP SLAVE; CHANGE MASTER TO MASTER_HOST='%s', MASTER_PORT=3306, MASTER_USER='%s', MASTER_PASSWORD='%s', MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1; START SLAVE;\n" \
    "$peer" "$user" "$pass" | sql
  ok=$?
  ;;
*)
  exit 0
  ;;
esac
[ "$ok" -eq 0 ] && okword=true || okword=false
printf '{"state":"%s","ok":%s,"at":"%s","event":"naive-notify"}\n' "$state" "$okword" "$(date -u +%Y-%m-%dT%H:%M:%S.000Z)" \
  >"$dir/run/notify-$node.state.json.tmp" && mv "$dir/run/notify-$node.state.json.tmp" "$dir/run/notify-$node.state.json"
exit 0
