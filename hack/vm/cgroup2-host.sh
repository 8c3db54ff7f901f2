#!/bin/bash
# cgroup2-host.sh - (rktlet's copy of the workplace's script, changed to rebuild the image
# when EXTRA_PKGS changes and to take VM_NICE) a nested Debian 12 VM that is a REAL systemd host with a pure cgroup v2
# (unified) hierarchy (memory/cpu/io/pids delegatable), for tests this host cannot give
# (on these machines the memory controller is bound to cgroup v1 by the machine's own init,
# which must be left alone: never unmount or rebind a cgroup hierarchy of the host).
#
#   build          build once, cached in $VMDIR: Debian 12 rootfs (mmdebstrap minbase + systemd,
#                  dbus, systemd-container, iproute2, udev, linux-image-amd64), ext4 image,
#                  kernel + small initrd. Re-running is a no-op unless REBUILD=1.
#   run CMDFILE [FILE...]
#                  boot the VM, run CMDFILE with /bin/sh as root (cwd = the shared folder, which
#                  also holds FILE...), write its stdout/stderr/rc + journal back, power off.
#                  Output: $OUTDIR (default $VMDIR/runs/<timestamp>), printed at the end.
#                  Exit status = CMDFILE's status (124 = guest timeout, 125 = VM never reported).
#   shell          boot interactively on the serial console (root autologin; Ctrl-a x quits)
#   clean          rm -rf $VMDIR
#
# Env: VMDIR=/var/tmp/cgroup2-host  ACCEL=tcg|kvm (default tcg, see below)  SMP=2  MEM=2048 (MiB)
#      TIMEOUT=1200 (s, whole VM run, host side; the guest gives CMDFILE TIMEOUT-120 s)
#      EXTRA_PKGS="pkg1,pkg2" (Debian packages baked into the image at build time)
#      IMG_SIZE=6G   OUTDIR=...   EXTRA_APPEND="..." (added to the kernel command line)
#
# Isolation: qemu runs under `nice -n 19` (VM_NICE= overrides), with NO network at all (-nic none); files go in and out
# through a 9p share (virtio-9p, security_model=none). The base image is never written
# (-drive snapshot=on), so every run starts from the same clean state.
#
# ACCEL=kvm: on this host /dev/kvm is PVM-based (kvm_pvm, nested_pvm=1). A stock Debian kernel is
# not a PVM guest: ring-0 code is run by KVM's instruction emulator (~50-100x slow) and dies with
# "KVM internal error. Suberror: 1 / emulation failure" on cmpxchg16b, then xrstor. kvm mode boots
# the uncompressed vmlinux via PVH with those CPU features masked; it is kept only for
# experiments - use tcg.
set -euo pipefail
VMDIR=${VMDIR:-/var/tmp/cgroup2-host}
ACCEL=${ACCEL:-tcg}
SMP=${SMP:-2}
MEM=${MEM:-2048}
TIMEOUT=${TIMEOUT:-1200}
IMG_SIZE=${IMG_SIZE:-6G}
EXTRA_PKGS=${EXTRA_PKGS:-}
# Debian mirrors: the ones this machine's apt already uses (main suite, then security)
apt_uri() { awk -v want="$1" '/^URIs:/{u=$2} /^Suites:/{for(i=2;i<=NF;i++) if($i==want){print u; exit}}' \
  /etc/apt/sources.list.d/*.sources 2>/dev/null; }
MIRROR=${MIRROR:-$(apt_uri bookworm)}
SECMIRROR=${SECMIRROR:-$(apt_uri bookworm-security)}
[ -n "$MIRROR" ] && [ -n "$SECMIRROR" ] || { echo "set MIRROR and SECMIRROR (no Debian sources found)" >&2; exit 2; }
ROOTFS=$VMDIR/rootfs
IMG=$VMDIR/root.img
KERNEL=$VMDIR/vmlinuz
VMLINUX=$VMDIR/vmlinux
INITRD=$VMDIR/initrd.img
# VM_NICE="" runs it at normal priority: `make test-busy` does, since at
# nice 19 beside two busy loops at nice 0 qemu got ~2 % of a core.
NICE="${VM_NICE-nice -n 19}"
log() { echo "== $(date +%T) $*" >&2; }

build() {
  local want_pkgs="$EXTRA_PKGS"
  if [ -s "$IMG" ] && [ -s "$KERNEL" ] && [ -s "$INITRD" ] && [ "${REBUILD:-0}" != 1 ] &&
     [ "$(cat "$VMDIR/packages" 2>/dev/null)" = "$want_pkgs" ]; then
    log "image cached: $IMG"; return 0; fi
  command -v qemu-system-x86_64 >/dev/null && command -v mmdebstrap >/dev/null || {
    log "installing qemu + mmdebstrap"
    $NICE apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $NICE apt-get install -y -q --no-install-recommends \
      qemu-system-x86 qemu-utils mmdebstrap e2fsprogs xz-utils >/dev/null; }
  mkdir -p "$VMDIR"
  local pk="systemd,systemd-sysv,dbus,systemd-container,iproute2,udev,kmod,procps,util-linux"
  pk+=",linux-image-amd64,initramfs-tools,zstd${EXTRA_PKGS:+,$EXTRA_PKGS}"
  if [ ! -f "$ROOTFS/.bootstrapped" ] || [ "${REBUILD:-0}" = 1 ] ||
     [ "$(cat "$VMDIR/packages" 2>/dev/null)" != "$want_pkgs" ]; then
    rm -rf "$ROOTFS.tmp"
    log "mmdebstrap -> $ROOTFS (a few minutes)"
    # private mount namespace: whatever mmdebstrap mounts in the chroot never touches the host's tree
    $NICE unshare --mount --propagation private mmdebstrap --variant=minbase --mode=root \
      --include="$pk" --aptopt='Acquire::Languages "none"' \
      --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
      --dpkgopt='path-exclude=/usr/share/locale/*' \
      bookworm "$ROOTFS.tmp" "deb $MIRROR bookworm main" "deb $MIRROR bookworm-updates main" \
      "deb $SECMIRROR bookworm-security main" > "$VMDIR/mmdebstrap.log" 2>&1 \
      || { tail -20 "$VMDIR/mmdebstrap.log" >&2; exit 1; }
    touch "$ROOTFS.tmp/.bootstrapped"; rm -rf "$ROOTFS"; mv "$ROOTFS.tmp" "$ROOTFS"
  fi
  local R=$ROOTFS   # the customisation below is idempotent
  echo cg2vm > $R/etc/hostname
  printf '127.0.0.1 localhost\n127.0.1.1 cg2vm\n' > $R/etc/hosts
  cat > $R/etc/fstab <<'EOF'
/dev/vda  /           ext4  rw,errors=remount-ro  0 1
share     /mnt/share  9p    trans=virtio,version=9p2000.L,msize=262144,cache=none,x-systemd.device-timeout=60s  0 0
EOF
  mkdir -p $R/mnt/share
  printf '9pnet_virtio\n9p\n' > $R/etc/modules-load.d/9p.conf
  ln -sf /lib/systemd/system/multi-user.target $R/etc/systemd/system/default.target
  # no timers/background jobs that could perturb tests
  for u in apt-daily.timer apt-daily-upgrade.timer fstrim.timer e2scrub_all.timer \
           e2scrub_reap.service systemd-timesyncd.service; do ln -sf /dev/null $R/etc/systemd/system/$u; done
  chroot $R passwd -dq root >/dev/null 2>&1 || sed -i 's/^root:[^:]*:/root::/' $R/etc/shadow
  mkdir -p $R/etc/systemd/system/serial-getty@ttyS0.service.d
  cat > $R/etc/systemd/system/serial-getty@ttyS0.service.d/autologin.conf <<'EOF'
[Service]
ExecStart=
ExecStart=-/sbin/agetty -o '-p -f -- \\u' --autologin root --keep-baud 115200,57600,38400,9600 - $TERM
EOF
  # the test runner: runs /mnt/share/cmd once multi-user.target is up, then powers off
  cat > $R/usr/local/sbin/vmtest-run <<'EOF'
#!/bin/sh
S=/mnt/share; O=$S/out; mkdir -p $O; cd $S
[ -f $S/cmd ] || { echo "no $S/cmd: interactive boot" > $O/note; exit 0; }
cat /proc/uptime > $O/uptime-at-start
{ systemctl show -p KernelTimestampMonotonic -p InitRDTimestampMonotonic -p UserspaceTimestampMonotonic
  systemctl show multi-user.target -p ActiveEnterTimestampMonotonic; } > $O/boot-times
T=$(cat $S/timeout 2>/dev/null || echo 600)
timeout -k 10 $T /bin/sh $S/cmd > $O/stdout 2> $O/stderr
echo $? > $O/rc.tmp
journalctl -b --no-pager > $O/journal.txt 2>&1
dmesg > $O/dmesg.txt 2>&1
mv $O/rc.tmp $O/rc; sync
systemctl poweroff --no-block
EOF
  chmod +x $R/usr/local/sbin/vmtest-run
  cat > $R/etc/systemd/system/vmtest.service <<'EOF'
[Unit]
Description=Run /mnt/share/cmd (cgroup2-host.sh) and power off
After=multi-user.target
RequiresMountsFor=/mnt/share
ConditionPathExists=/mnt/share/cmd
[Service]
Type=oneshot
ExecStart=/usr/local/sbin/vmtest-run
StandardOutput=journal+console
TimeoutStartSec=infinity
[Install]
WantedBy=multi-user.target
EOF
  mkdir -p $R/etc/systemd/system/multi-user.target.wants
  ln -sf /etc/systemd/system/vmtest.service $R/etc/systemd/system/multi-user.target.wants/vmtest.service
  # small initrd: only what is needed to mount /dev/vda
  printf 'MODULES=list\n' > $R/etc/initramfs-tools/conf.d/zz-vm.conf
  printf 'virtio_pci\nvirtio_blk\next4\ncrc32c_generic\n' > $R/etc/initramfs-tools/modules
  local kv; kv=$(ls $R/lib/modules | head -1)
  $NICE unshare --mount --propagation private sh -c "mount -t proc proc $R/proc && chroot $R update-initramfs -u -k $kv >/dev/null 2>&1"
  cp $R/boot/vmlinuz-$kv "$KERNEL"; cp $R/boot/initrd.img-$kv "$INITRD"
  rm -f $R/boot/initrd.img-$kv.old-dkms
  # uncompressed vmlinux (PVH entry) for ACCEL=kvm experiments
  python3 - "$KERNEL" "$VMLINUX.xz" <<'EOF'
import struct,sys
d=open(sys.argv[1],'rb').read(); ss=d[0x1f1] or 4
off,ln=struct.unpack_from('<II',d,0x248); s=(ss+1)*512+off
open(sys.argv[2],'wb').write(d[s:s+ln])
EOF
  ($NICE xz -dc "$VMLINUX.xz" > "$VMLINUX" 2>/dev/null || true); rm -f "$VMLINUX.xz"
  log "mkfs.ext4 -d $ROOTFS -> $IMG ($IMG_SIZE, sparse)"
  rm -f "$IMG"; $NICE mkfs.ext4 -q -F -L vmroot -d "$ROOTFS" "$IMG" "$IMG_SIZE"
  printf '%s' "$want_pkgs" > "$VMDIR/packages"
  log "built: $IMG $KERNEL $INITRD"
}

qemu_cmd() { # $1 = share dir; prints nothing, sets QEMU array
  local share=$1
  QEMU=(qemu-system-x86_64 -m "$MEM" -smp "$SMP" -nographic -no-reboot -nic none
        -drive "file=$IMG,format=raw,if=virtio,snapshot=on,cache=unsafe"
        -virtfs "local,path=$share,mount_tag=share,security_model=none,id=share"
        -device virtio-rng-pci)
  local app="console=ttyS0 root=/dev/vda rw systemd.unified_cgroup_hierarchy=1 mitigations=off"
  app+=" panic=5 loglevel=4 systemd.show_status=auto"
  if [ "$ACCEL" = kvm ]; then
    QEMU+=(-enable-kvm -cpu host,-arch-capabilities,-cx16,-xsave -kernel "$VMLINUX")
  else
    QEMU+=(-accel tcg,thread=multi -cpu max -kernel "$KERNEL")
  fi
  QEMU+=(-initrd "$INITRD" -append "$app${EXTRA_APPEND:+ $EXTRA_APPEND}")
}

run() {
  local cmdfile=${1:?usage: run CMDFILE [FILE...]}; shift
  build
  local ts; ts=$(date +%Y%m%d-%H%M%S)
  OUTDIR=${OUTDIR:-$VMDIR/runs/$ts}
  mkdir -p "$OUTDIR/share/out"
  cp "$cmdfile" "$OUTDIR/share/cmd"
  for f in "$@"; do cp -r "$f" "$OUTDIR/share/"; done
  echo $((TIMEOUT > 240 ? TIMEOUT - 120 : TIMEOUT / 2)) > "$OUTDIR/share/timeout"
  qemu_cmd "$OUTDIR/share"
  log "booting ($ACCEL, smp $SMP, ${MEM}M, timeout ${TIMEOUT}s); console: $OUTDIR/console.log"
  local t0 t1 qrc=0; t0=$(date +%s.%N)
  timeout -k 10 "$TIMEOUT" $NICE "${QEMU[@]}" </dev/null > "$OUTDIR/console.log" 2>&1 || qrc=$?
  t1=$(date +%s.%N)
  local O=$OUTDIR/share/out
  { echo "accel=$ACCEL smp=$SMP mem=$MEM qemu_rc=$qrc"
    echo "host_wall_s=$(awk "BEGIN{printf \"%.1f\", $t1 - $t0}")"
    [ -f $O/uptime-at-start ] && echo "guest_uptime_at_cmd_start_s=$(cut -d' ' -f1 $O/uptime-at-start)"
    [ -f $O/boot-times ] && sed 's/^/guest_/' $O/boot-times; } > "$OUTDIR/summary.txt"
  cat "$OUTDIR/summary.txt" >&2
  if [ -f $O/rc ]; then
    log "stdout of $cmdfile:"; cat $O/stdout
    [ -s $O/stderr ] && { log "stderr:"; cat $O/stderr >&2; }
    log "rc=$(cat $O/rc); output in $O"; return "$(cat $O/rc)"
  fi
  log "VM did not report back (qemu rc=$qrc); tail of console:"; tail -30 "$OUTDIR/console.log" >&2
  return 125
}

shell() {
  build; local d=$VMDIR/shell-share; mkdir -p "$d"; rm -f "$d/cmd"
  qemu_cmd "$d"; exec $NICE "${QEMU[@]}"
}

case "${1:-}" in
  build) build ;;
  run) shift; run "$@" ;;
  shell) shell ;;
  clean) rm -rf "$VMDIR" ;;
  *) sed -n '2,30p' "$0"; exit 2 ;;
esac
