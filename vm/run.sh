#!/usr/bin/env bash
# Boots vm/out/vmlinux (or vmlinuz) + vm/out/initrd.img (vm/build.sh) in QEMU, no network:
#   serial 0 (ttyS0): kernel console and /init's markers -> vm/out/console.log, host-ms stamped
#   serial 1 (ttyS1): the guest's report                 -> vm/out/results.txt
# Exit status: 0 when QEMU ended by itself, 124 when the host timeout killed it. Whether the test
# passed is for check.mjs to say.
#
# Knobs: VM_MEM (MiB, 512), VM_TIMEOUT (seconds, 600), VM_APPEND (extra kernel command line).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${VM_OUT:-$HERE/out}
KERNEL=$OUT/vmlinux
[ -e "$KERNEL" ] || KERNEL=$OUT/vmlinuz
MEM=${VM_MEM:-512}
# Generous: under software emulation on a loaded 2-core machine the whole run took ~30-60 s.
TIMEOUT=${VM_TIMEOUT:-600}

# KVM where this machine has it, else TCG (software emulation). -cpu max under TCG: with the
# default qemu64 model node took ~2 s instead of ~1 s to start (measured for this project).
if [ -w /dev/kvm ]; then ACCEL=kvm; CPU=host; else ACCEL=tcg; CPU=max; fi

# console=ttyS0: kernel messages on the first UART; quiet keeps them off it (they are still in
#   the kernel's ring, which is what kmsg reads): at 115200 baud printing them costs seconds.
# panic=-1: reboot at once on a panic, which -no-reboot turns into QEMU exiting (/init died).
# rdinit=/init: named, so that a missing /init fails loudly instead of a fallback being tried.
APPEND="console=ttyS0 panic=-1 rdinit=/init quiet ${VM_APPEND:-}"

rm -f "$OUT/console.log" "$OUT/results.txt" "$OUT/qemu.stderr"
export VM_T0_MS=$(date +%s%3N)

# -nodefaults: no VGA, no NIC, no default serial/monitor; exactly two UARTs are added.
# -no-reboot: a reboot (or a panic, with panic=-1) ends QEMU instead of booting again.
set +e
timeout --kill-after=10 "$TIMEOUT" \
  qemu-system-x86_64 \
    -accel "$ACCEL" -cpu "$CPU" -smp "${VM_SMP:-1}" -m "$MEM" \
    -nodefaults -no-user-config -display none -no-reboot \
    -kernel "$KERNEL" -initrd "$OUT/initrd.img" -append "$APPEND" \
    -serial stdio -serial "file:$OUT/results.txt" \
    </dev/null 2>"$OUT/qemu.stderr" \
  | node "$HERE/stamp.mjs" > "$OUT/console.log"
qrc=${PIPESTATUS[0]}
set -e
echo "accel=$ACCEL kernel=$(basename "$KERNEL") mem=$MEM qemu_exit=$qrc host_ms=$(( $(date +%s%3N) - VM_T0_MS ))" > "$OUT/run.env"
if [ "$qrc" -eq 124 ] || [ "$qrc" -eq 137 ]; then
  echo "vm: QEMU killed after ${TIMEOUT}s" >&2
  exit 124
fi
exit 0
