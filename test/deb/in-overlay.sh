#!/bin/bash
# Installs and removes a hactl .deb in a throwaway root, for test/deb/deb.test.ts. Run it as
#   unshare --mount --net --propagation private -- bash in-overlay.sh DEB DIR
# The root is this machine's / seen through an overlay whose writable layer is a tmpfs on DIR: dpkg
# writes only there, and the mount namespace (with the tmpfs, the overlay and everything mounted
# into it) and the network namespace end with this script, however it ends. /proc, /dev and /sys
# are the host's; /run and /tmp are fresh tmpfs, so postinst cannot touch the host's /run.
# keepalived -t needs the spec's interfaces: eth0/eth1 are veth pairs in this network namespace.
# Prints "@@ step NAME RC" after each step and "@@ fact NAME VALUE" for what the test asserts.
set -u
deb=$1
dir=$2
STEP_SECONDS=${STEP_SECONDS:-40}

step() {
  local name=$1 started rc
  shift
  started=$(date +%s%N)
  timeout -k 5 "$STEP_SECONDS" "$@"
  rc=$?
  echo "@@ step $name $rc $((($(date +%s%N) - started) / 1000000))ms"
  return $rc
}
fact() { echo "@@ fact $1 $2"; }
in_root() { chroot "$dir/root" "$@"; }

mount -t tmpfs -o size=512m,mode=0755 hactl-deb "$dir" || exit 90
mkdir "$dir/upper" "$dir/work" "$dir/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$dir/upper,workdir=$dir/work" "$dir/root" || {
  echo "overlay of / on $dir/root failed: this kernel or sandbox refuses overlayfs" >&2
  exit 91
}
mount -t proc proc "$dir/root/proc" || exit 92
mount --rbind /dev "$dir/root/dev" || exit 92
mount --rbind /sys "$dir/root/sys" || exit 92
mount -t tmpfs -o mode=0755 run "$dir/root/run" || exit 92
mount -t tmpfs -o mode=1777 tmp "$dir/root/tmp" || exit 92

ip link set lo up
ip link add eth0 type veth peer name peer0 && ip link add eth1 type veth peer name peer1 || exit 93
for link in eth0 eth1 peer0 peer1; do ip link set "$link" up; done
ip addr add 198.51.100.11/24 dev eth0 && ip addr add 192.0.2.11/24 dev eth1 || exit 93

# A clean root: no hactl installed, no /etc/hactl.
in_root dpkg-query -W -f='${Status}' hactl >/dev/null 2>&1 && fact installed-before yes || fact installed-before no
[ -e "$dir/root/etc/hactl" ] && fact etc-before yes || fact etc-before no

cp "$deb" "$dir/root/tmp/hactl.deb"
# man-db's trigger rebuilds the whole man index (~20 s on a loaded machine) and tests nothing here.
rm -f "$dir/root/var/lib/man-db/auto-update"
step install chroot "$dir/root" dpkg -i /tmp/hactl.deb || exit 1
fact status-installed "$(in_root dpkg-query -W -f='${Status}' hactl)"
fact hactl-resolves "$(in_root readlink -f /usr/bin/hactl)"
for file in /etc/hactl/hactl.yaml /etc/hactl/mysql.cnf /etc/hactl/replication.cnf /var/lib/hactl; do
  fact "mode:$file" "$(in_root stat -c '%a:%U:%G' "$file")"
done
fact conffiles "$(in_root cat /var/lib/dpkg/info/hactl.conffiles | tr '\n' ',')"
# The package must run on Node alone: hide every node_modules Node's resolution could reach from
# it (the host's global npm has /usr/lib/node_modules), in the overlay only.
unset NODE_PATH
for up in /usr/lib/hactl/dist /usr/lib/hactl /usr/lib /usr ''; do
  [ -e "$dir/root$up/node_modules" ] && mv "$dir/root$up/node_modules" "$dir/root$up/node_modules.hidden"
done
fact node-modules "$(in_root find /usr/lib/hactl -name node_modules | wc -l)"

step version chroot "$dir/root" /usr/bin/hactl --version
# The operator's one edit before anything renders: the example's VRRP password is public, and
# lint refuses it (the same on both nodes, so the package cannot choose one).
step lint-example chroot "$dir/root" /usr/bin/hactl lint --local --spec /etc/hactl/hactl.yaml
sed -i 's/^\(    password: \)s3cret /\1Zq7uv2Lp /' "$dir/root/etc/hactl/hactl.yaml"
step lint chroot "$dir/root" /usr/bin/hactl lint --local --spec /etc/hactl/hactl.yaml
validate=(/usr/bin/hactl render-config --validate --node ha1 --spec /etc/hactl/hactl.yaml --out-dir /tmp/rendered)
step validate chroot "$dir/root" "${validate[@]}"
fact rendered-script "$(grep -c 'script "/usr/bin/hactl check' "$dir/root/tmp/rendered/ha1/keepalived.conf")"
# The same with the packaged program writable by others: keepalived's script security must refuse
# it (keepalived -t: "Disabling track script ... due to insecure"), or the validation above proved
# nothing about it. keepalived stat()s /usr/bin/hactl, which follows the link to this file.
in_root chmod o+w /usr/lib/hactl/bin/hactl
step validate-insecure chroot "$dir/root" "${validate[@]}"
in_root chmod o-w /usr/lib/hactl/bin/hactl

# keepalived's notify path (notify.cjs): reading the spec loads yaml and zod from their vendor
# bundles, which only a run on the installed package can show are there.
step notify-dry-run chroot "$dir/root" /usr/bin/hactl notify --dry-run --spec /etc/hactl/hactl.yaml --node ha1 master

# The operator edits the spec; removal must keep it (and the credential files).
echo '# edited by the operator' >>"$dir/root/etc/hactl/hactl.yaml"
step remove chroot "$dir/root" dpkg -r hactl
fact status-removed "$(in_root dpkg-query -W -f='${Status}' hactl 2>&1)"
[ -e "$dir/root/usr/bin/hactl" ] || [ -L "$dir/root/usr/bin/hactl" ] && fact bin-after-remove present || fact bin-after-remove gone
[ -e "$dir/root/usr/lib/hactl" ] && fact lib-after-remove present || fact lib-after-remove gone
for file in /etc/hactl/hactl.yaml /etc/hactl/mysql.cnf /etc/hactl/replication.cnf; do
  [ -f "$dir/root$file" ] && fact "kept:$file" yes || fact "kept:$file" no
done
fact spec-edit-kept "$(tail -n 1 "$dir/root/etc/hactl/hactl.yaml")"

step purge chroot "$dir/root" dpkg --purge hactl
[ -e "$dir/root/etc/hactl" ] && fact etc-after-purge present || fact etc-after-purge gone
echo "@@ done"
