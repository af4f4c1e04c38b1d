#!/usr/bin/env bash
# Builds what the test VM boots (run `make build` first; `make vm-test` does both):
#   vm/out/vmlinux     Debian's stock amd64 kernel, uncompressed (QEMU boots it through PVH)
#   vm/out/vmlinuz     the same kernel as shipped (bzImage), the fallback
#   vm/out/initrd.img  base layer + app layer, two newc cpio archives concatenated
#
# base layer (vm/out/base.cpio, cached): busybox and node with every shared library it links,
#   laid out as our images lay them out: /usr/lib/memlogd/bin/node, /usr/lib/memlogd/lib/*.
#   ~100 MB, rebuilt only when node or busybox changes.
# app layer (vm/out/app.cpio, every run): the built project under /usr/lib/memlogd, one launcher
#   per binary in /usr/bin, /etc/init.d/002-logging of pkg/memlogd, /init and the guest scripts.
#
# Nothing is installed on this machine and no package's maintainer scripts or initramfs hooks
# run: the .debs are fetched with `apt-get download` into vm/cache and unpacked with
# `dpkg-deb -x`.
#
# Knobs: KERNEL_PKG (default: what linux-image-amd64 depends on), NODE_BIN (default: `node` on PATH).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
CACHE=${VM_CACHE:-$HERE/cache}
OUT=${VM_OUT:-$HERE/out}
NODE_BIN=$(readlink -f "${NODE_BIN:-$(command -v node)}")
PREFIX=usr/lib/memlogd   # the private prefix of our images (pkg/README.md)

log() { printf '[vm build] %s\n' "$*" >&2; }
die() { printf '[vm build] error: %s\n' "$*" >&2; exit 1; }

[ -e "$ROOT/dist/cmd/memlogd.js" ] && [ -e "$ROOT/build/Release/memlogd_native.node" ] || die "run make build first"
mkdir -p "$CACHE/debs" "$OUT"

# --- Debian packages ---------------------------------------------------------------------------

# The metapackage only depends on the versioned image package; resolve that from the apt lists.
if [ -z "${KERNEL_PKG:-}" ]; then
  KERNEL_PKG=$(apt-cache depends linux-image-amd64 2>/dev/null \
    | awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9].*-amd64$/ { print $2; exit }')
  if [ -z "$KERNEL_PKG" ]; then
    # No apt lists (apt-get update never ran): a kernel already in the cache will do.
    cached=$(ls "$CACHE"/debs/linux-image-[0-9]*-amd64_*.deb 2>/dev/null | sort -V | tail -n1 || true)
    [ -n "$cached" ] || die "cannot resolve linux-image-amd64: run apt-get update"
    KERNEL_PKG=$(basename "$cached"); KERNEL_PKG=${KERNEL_PKG%%_*}
  fi
fi

# fetch_deb PKG: prints the path of the cached .deb, downloading it on first use.
fetch_deb() {
  local pkg=$1 deb
  deb=$(ls "$CACHE/debs/${pkg}_"*.deb 2>/dev/null | sort -V | tail -n1 || true)
  if [ -z "$deb" ]; then
    log "downloading $pkg"
    # Sandbox::User=root: as root, apt would otherwise warn that _apt cannot write here.
    (cd "$CACHE/debs" && apt-get download -q -o APT::Sandbox::User=root "$pkg" >&2)
    deb=$(ls "$CACHE/debs/${pkg}_"*.deb | sort -V | tail -n1)
  fi
  printf '%s\n' "$deb"
}

# unpack_deb DEB: prints the directory it is unpacked in (cached, keyed by the file name).
unpack_deb() {
  local deb=$1 dir
  dir="$CACHE/unpacked/$(basename "$deb" .deb)"
  if [ ! -e "$dir/.done" ]; then
    log "unpacking $(basename "$deb")"
    rm -rf "$dir" "$dir.tmp"; mkdir -p "$dir.tmp"
    dpkg-deb -x "$deb" "$dir.tmp"
    touch "$dir.tmp/.done"; mv "$dir.tmp" "$dir"
  fi
  printf '%s\n' "$dir"
}

KDIR=$(unpack_deb "$(fetch_deb "$KERNEL_PKG")")
BBDIR=$(unpack_deb "$(fetch_deb busybox-static)")
BUSYBOX=$BBDIR/bin/busybox
KVER=${KERNEL_PKG#linux-image-}
cp "$KDIR/boot/vmlinuz-$KVER" "$OUT/vmlinuz"
cp "$KDIR/boot/config-$KVER" "$OUT/kernel.config"

# The initramfs carries no modules, so everything the test touches must be built in.
for opt in BLK_DEV_INITRD SERIAL_8250 SERIAL_8250_CONSOLE DEVTMPFS TMPFS UNIX PROC_FS SYSFS PRINTK; do
  grep -qx "CONFIG_$opt=y" "$OUT/kernel.config" || die "kernel lacks built-in CONFIG_$opt"
done

# The bzImage's payload as a plain ELF vmlinux. QEMU boots that through its PVH entry point
# (Debian sets CONFIG_PVH=y), skipping the real-mode path and the kernel decompressing itself
# under emulation: the first kernel line came ~0.9 s after QEMU started instead of ~4.5 s (TCG,
# measured for this project). The payload's place is in the x86 boot protocol header
# (Documentation/arch/x86/boot.rst, protocol >= 2.08):
#   0x1f1 setup_sects (u8): real-mode setup is (setup_sects + 1) * 512 bytes, then the
#         protected-mode part begins;
#   0x248 payload_offset (u32), 0x24c payload_length (u32): relative to that part.
# The payload is one compressed stream followed by 4 bytes of size, hence --single-stream.
extract_vmlinux() {
  local bz=$1 out=$2 setup off len
  u() { od -An -t"u$2" -j"$(( $1 ))" -N"$2" "$bz" | tr -d ' '; }
  setup=$(u 0x1f1 1); off=$(u 0x248 4); len=$(u 0x24c 4)
  tail -c +"$(( (setup + 1) * 512 + off + 1 ))" "$bz" | head -c "$len" > "$out.payload"
  case $(od -An -tx1 -N6 "$out.payload" | tr -d ' ') in
    fd377a585a00) xz -dc --single-stream < "$out.payload" > "$out" ;;
    1f8b*)        gzip -dc < "$out.payload" > "$out" 2>/dev/null || [ $? -eq 2 ] ;; # 2: trailing bytes
    28b52ffd*)    zstd -dcq < "$out.payload" > "$out" ;;
    *) rm -f "$out.payload"; return 1 ;;
  esac
  rm -f "$out.payload"
  [ "$(head -c4 "$out" | od -An -tx1 | tr -d ' ')" = 7f454c46 ]   # ELF magic
}
if [ ! -e "$OUT/vmlinux" ] || [ "$(cat "$OUT/vmlinux.stamp" 2>/dev/null)" != "$KDIR" ]; then
  log "extracting vmlinux (PVH boot)"
  rm -f "$OUT/vmlinux" "$OUT/vmlinux.stamp"
  if extract_vmlinux "$OUT/vmlinuz" "$OUT/vmlinux.tmp"; then
    mv "$OUT/vmlinux.tmp" "$OUT/vmlinux"; echo "$KDIR" > "$OUT/vmlinux.stamp"
  else
    rm -f "$OUT/vmlinux.tmp"; log "warning: could not unpack vmlinux; run.sh boots vmlinuz (slower)"
  fi
fi

# make_cpio DIR: a newc archive of DIR on stdout, entries owned by root, in a stable order.
make_cpio() {
  (cd "$1" && find . -mindepth 1 -printf '%P\0' | LC_ALL=C sort -z \
    | cpio --quiet --null -o -H newc --owner=0:0 --reproducible)
}

# --- base layer: busybox, node, its libraries ---------------------------------------------------
# Uncompressed: the kernel unpacks ~106 MB of plain cpio faster under TCG than it decompresses
# any of gzip, zstd, lz4 or xz (measured for this project).

BASE=$OUT/base.cpio
STAMP="node=$NODE_BIN $(stat -c '%s %Y' "$NODE_BIN") busybox=$BBDIR layout=2"
if [ ! -e "$BASE" ] || [ "$(cat "$BASE.stamp" 2>/dev/null)" != "$STAMP" ]; then
  log "building the base layer"
  R=$OUT/base-root
  rm -rf "$R"
  mkdir -p "$R"/{bin,usr/bin,dev,proc,sys,run,tmp,var/log,etc,root} "$R/$PREFIX/bin" "$R/$PREFIX/lib"
  ln -s ../run "$R/var/run"   # as in LinuxKit: /var/run is /run

  cp "$BUSYBOX" "$R/bin/busybox"
  for applet in $("$BUSYBOX" --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$R/bin/$applet"
  done

  # node and every shared object ldd reports (the loader included) go into the private prefix,
  # as in our images; the paths ldd shows become symlinks to them, so node also runs directly.
  cp "$NODE_BIN" "$R/$PREFIX/bin/node"
  ldd "$NODE_BIN" | awk '
    $2 == "=>" && $3 ~ /^\// { print $3; next }   # libfoo.so.N => /path/libfoo.so.N (0x...)
    $1 ~ /^\// { print $1 }                       # /lib64/ld-linux-x86-64.so.2 (0x...)
  ' | while read -r lib; do
    cp -L "$lib" "$R/$PREFIX/lib/"
    mkdir -p "$R$(dirname "$lib")"
    ln -sf "/$PREFIX/lib/$(basename "$lib")" "$R$lib"
  done

  echo 'root:x:0:0:root:/root:/bin/sh' > "$R/etc/passwd"
  echo 'root:x:0:' > "$R/etc/group"

  make_cpio "$R" > "$BASE.tmp"
  mv "$BASE.tmp" "$BASE"
  echo "$STAMP" > "$BASE.stamp"
  rm -rf "$R"
fi

# --- app layer: the project, launchers, init ----------------------------------------------------

A=$OUT/app-root
rm -rf "$A"
mkdir -p "$A/$PREFIX/dist" "$A/$PREFIX/build/Release" "$A/usr/bin" "$A/etc/init.d" "$A/vm"
cp "$ROOT/package.json" "$A/$PREFIX/"               # "type": "module" for dist/*.js
cp -R "$ROOT/dist/cmd" "$ROOT/dist/lib" "$A/$PREFIX/dist/"
cp "$ROOT/build/Release/memlogd_native.node" "$A/$PREFIX/build/Release/"
# The production dependencies only, as `npm prune --omit=dev` leaves them in the images.
for d in $(node "$ROOT/scripts/prod-deps.mjs"); do
  mkdir -p "$A/$PREFIX/$(dirname "$d")"
  cp -R "$ROOT/$d" "$A/$PREFIX/$d"
done
# One launcher per binary that package.json declares (logbundle too, once it is there).
for tool in $(node -p "Object.keys(require('$ROOT/package.json').bin).join(' ')"); do
  install -m 0755 "$ROOT/pkg/launcher.sh" "$A/usr/bin/$tool"
done
install -m 0755 "$ROOT/pkg/memlogd/etc/init.d/002-logging" "$A/etc/init.d/"
install -m 0755 "$HERE/init" "$A/init"
cp "$HERE/guest.mjs" "$HERE/scenario.mjs" "$A/vm/"
make_cpio "$A" > "$OUT/app.cpio"
rm -rf "$A"

cat "$BASE" "$OUT/app.cpio" > "$OUT/initrd.img.tmp"
mv "$OUT/initrd.img.tmp" "$OUT/initrd.img"
log "kernel $KVER, initrd $(du -h --apparent-size "$OUT/initrd.img" | cut -f1)"
