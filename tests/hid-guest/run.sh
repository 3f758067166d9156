#!/usr/bin/env bash
# USB HID end-to-end test: boots a small Linux guest under qemu (TCG) with the Debian kernel,
# exports the simulated inverter over USB/IP inside the guest, attaches it to vhci-hcd and runs
# the gateway against the real /dev/hidraw* (see docs/architecture.md §8 and tests/hid-guest/README.md).
#
#   tests/hid-guest/run.sh            build what is missing, boot, check the result
#   SUNGATE_HID_GUEST_NO_BUILD=1 ...  use the built binaries as they are (no cargo build)
#   SUNGATE_HID_GUEST_PROFILE=debug   use target/debug instead of target/release (CI has built
#                                     most of it already; a cold release build takes ~3 min here)
#   SUNGATE_HID_GUEST_TIMEOUT=120     seconds the guest may run (default 150)
#   SUNGATE_HID_GUEST_KEEP=1          keep the initramfs staging tree (target/hid-guest/root)
#
# Cache: target/hid-guest/ (the unpacked kernel package is reused between runs).
# Exit status: 0 only when the guest printed "HID-GUEST-RESULT: N passed, 0 failed" with N > 0.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache="${CARGO_TARGET_DIR:-$repo/target}/hid-guest"
timeout_s=${SUNGATE_HID_GUEST_TIMEOUT:-150}
profile=${SUNGATE_HID_GUEST_PROFILE:-release}
case "$profile" in
    release) profile_flag=(--release) ;;
    debug) profile_flag=() ;;
    *) printf 'hid-guest: SUNGATE_HID_GUEST_PROFILE must be release or debug, not %s\n' "$profile" >&2; exit 2 ;;
esac

say() { printf 'hid-guest: %s\n' "$*"; }
die() { printf 'hid-guest: FAILED: %s\n' "$*" >&2; exit 1; }

mkdir -p "$cache"

# --- host tools ---------------------------------------------------------------------------------
need_pkgs=()
command -v qemu-system-x86_64 >/dev/null || need_pkgs+=(qemu-system-x86)
is_static() { local out; out=$(ldd "$1" 2>&1 || true); [[ $out == *"not a dynamic"* ]]; }
[ -x /bin/busybox ] && is_static /bin/busybox || need_pkgs+=(busybox-static)
command -v cpio >/dev/null || need_pkgs+=(cpio)
command -v xz >/dev/null || need_pkgs+=(xz-utils)
command -v zstd >/dev/null || need_pkgs+=(zstd)
command -v timeout >/dev/null || need_pkgs+=(coreutils)
if [ ${#need_pkgs[@]} -gt 0 ]; then
    say "installing ${need_pkgs[*]}"
    command -v apt-get >/dev/null || die "apt-get is missing; install ${need_pkgs[*]} by hand"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need_pkgs[@]}" >"$cache/apt.log" 2>&1; then
        DEBIAN_FRONTEND=noninteractive apt-get update -q >>"$cache/apt.log" 2>&1 || true
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need_pkgs[@]}" >>"$cache/apt.log" 2>&1 \
            || { tail -n 20 "$cache/apt.log" >&2; die "apt-get install ${need_pkgs[*]} failed"; }
    fi
fi
busybox=/bin/busybox
is_static "$busybox" || die "$busybox is not static (install busybox-static)"

# --- kernel: the Debian kernel package, unpacked (not installed) ---------------------------------
kernel_dir=$(find "$cache/kernel" -maxdepth 1 -mindepth 1 -type d -name 'linux-image-*' 2>/dev/null | sort | tail -n 1 || true)
if [ -z "$kernel_dir" ] || [ ! -f "$kernel_dir/.unpacked" ]; then
    say "fetching the Debian kernel package (apt-get download)"
    dl="$cache/download"
    rm -rf "$dl"; mkdir -p "$dl" "$cache/kernel"
    (
        cd "$dl"
        if ! apt-get download linux-image-amd64 >"$dl/log" 2>&1; then
            apt-get update -q >>"$dl/log" 2>&1 || true
            apt-get download linux-image-amd64 >>"$dl/log" 2>&1 || { cat "$dl/log" >&2; exit 1; }
        fi
    ) || die "apt-get download linux-image-amd64 failed"
    meta=$(ls "$dl"/linux-image-amd64_*.deb)
    # Depends: linux-image-6.1.0-NN-amd64 (= ...) [| linux-image-6.1.0-NN-amd64-unsigned ...]
    versioned=$(dpkg-deb -f "$meta" Depends | tr ',|' '\n\n' | sed 's/(.*//; s/ //g' | grep '^linux-image-[0-9]' | head -n 1)
    [ -n "$versioned" ] || die "cannot find the versioned kernel package in $(dpkg-deb -f "$meta" Depends)"
    (cd "$dl" && apt-get download "$versioned" >>"$dl/log" 2>&1) || { cat "$dl/log" >&2; die "apt-get download $versioned failed"; }
    deb=$(ls "$dl/${versioned}"_*.deb)
    kernel_dir="$cache/kernel/$versioned"
    rm -rf "$kernel_dir"
    dpkg-deb -x "$deb" "$kernel_dir"
    touch "$kernel_dir/.unpacked"
    rm -rf "$dl"
fi
vmlinuz=$(ls "$kernel_dir"/boot/vmlinuz-* | head -n 1)
kver=${vmlinuz##*/vmlinuz-}
moddir="$kernel_dir/lib/modules/$kver"
[ -f "$moddir/modules.order" ] || die "$moddir/modules.order is missing"
say "kernel $kver ($(basename "$kernel_dir"))"

# --- binaries -------------------------------------------------------------------------------------
if [ -z "${SUNGATE_HID_GUEST_NO_BUILD:-}" ]; then
    say "cargo build ${profile_flag[*]:-} (sungate, sungate-sim, sungate-usbip-attach)"
    (cd "$repo" && cargo build ${profile_flag[@]+"${profile_flag[@]}"} --locked -p sungate -p sungate-sim --bins 2>&1 | tail -n 3) \
        || die "cargo build failed"
fi
# CARGO_TARGET_DIR when set (CI builds its fresh clone into the repository's target directory).
out_dir="${CARGO_TARGET_DIR:-$repo/target}/$profile"
bins=("$out_dir/sungate" "$out_dir/sungate-sim" "$out_dir/sungate-usbip-attach")
for b in "${bins[@]}"; do [ -x "$b" ] || die "$b is missing (cargo build ${profile_flag[*]:-})"; done
say "binaries: $profile profile"

# --- initramfs ------------------------------------------------------------------------------------
root="$cache/root"
rm -rf "$root"
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,run,lib/modules,root,guest}
cp "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list); do
    [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
done

# Kernel modules with their dependencies (the package has no modules.dep: depmod runs at install
# time; the .ko's own "depends=" modinfo field says the same), dependencies first, uncompressed.
wanted=(usb-common usbcore usbip-core vhci-hcd hid usbhid hid-generic)
declare -A seen=()
: >"$root/guest/modules"
module_path() { # module name -> path relative to $moddir (names spell - and _ either way)
    local n=${1//[-_]/[-_]}
    grep -E "(^|/)${n}\.ko(\.xz|\.zst|\.gz)?\$" "$moddir/modules.order" | head -n 1 || true
}
unpack_module() { # relative path -> stdout, uncompressed
    case "$1" in
        *.ko.xz) xz -dc "$moddir/$1" ;;
        *.ko.zst) zstd -qdc "$moddir/$1" ;;
        *.ko.gz) gzip -dc "$moddir/$1" ;;
        *) cat "$moddir/$1" ;;
    esac
}
add_module() { # module name; its dependencies first
    local name=$1 rel base dep
    [ -n "${seen[${name//-/_}]:-}" ] && return 0
    seen[${name//-/_}]=1
    rel=$(module_path "$name")
    if [ -z "$rel" ]; then
        if grep -qE "(^|/)${name//[-_]/[-_]}\.ko" "$moddir/modules.builtin"; then
            say "module $name is built into $kver"
            return 0
        fi
        die "module $name is neither in modules.order nor built into $kver"
    fi
    base=$(basename "$rel"); base=${base%.xz}; base=${base%.zst}; base=${base%.gz}
    unpack_module "$rel" >"$root/lib/modules/$base"
    for dep in $(tr '\0' '\n' <"$root/lib/modules/$base" | sed -n 's/^depends=//p' | head -n 1 | tr ',' ' '); do
        add_module "$dep"
    done
    echo "$base" >>"$root/guest/modules"
}
for m in "${wanted[@]}"; do add_module "$m"; done
say "modules: $(tr '\n' ' ' <"$root/guest/modules")"

# The release binaries and the shared libraries they use (same paths as on the host).
for b in "${bins[@]}"; do
    cp "$b" "$root/usr/bin/"
    # debug builds carry ~50 MB of debuginfo the guest does not need
    if command -v strip >/dev/null; then strip --strip-debug "$root/usr/bin/$(basename "$b")"; fi
    for lib in $(ldd "$b" | grep -o '/[^ ]*' | sort -u); do
        [ -e "$root$lib" ] && continue
        mkdir -p "$root$(dirname "$lib")"
        cp -L "$lib" "$root$lib"
    done
done
# glibc's loader may be asked for under /lib64 as well as its real directory.
if [ -e /lib64/ld-linux-x86-64.so.2 ] && [ ! -e "$root/lib64/ld-linux-x86-64.so.2" ]; then
    mkdir -p "$root/lib64"; cp -L /lib64/ld-linux-x86-64.so.2 "$root/lib64/"
fi

cp "$here/init" "$root/init"
cp "$here/checks.sh" "$here/sim.toml" "$here/gateway-serial1.toml" "$here/gateway-serial2.toml" "$root/guest/"
chmod +x "$root/init" "$root/guest/checks.sh"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
printf '127.0.0.1 localhost\n' >"$root/etc/hosts"

initrd="$cache/initrd.gz"
(cd "$root" && find . -print0 | cpio --null -o -H newc --quiet | gzip -1) >"$initrd"
[ -n "${SUNGATE_HID_GUEST_KEEP:-}" ] || rm -rf "$root"
say "initramfs $(du -h "$initrd" | cut -f1)"

# --- boot -----------------------------------------------------------------------------------------
log="$cache/console.log"
say "booting qemu (tcg, timeout ${timeout_s}s); console: $log"
started=$(date +%s)
set +e
timeout --foreground -k 5 "$timeout_s" qemu-system-x86_64 -accel tcg -cpu max -smp 1 -m 512 \
    -nographic -no-reboot -nic none -serial mon:stdio -monitor none \
    -kernel "$vmlinuz" -initrd "$initrd" \
    -append "console=ttyS0 panic=-1 quiet loglevel=3" </dev/null 2>&1 | tr -d '\r' | tee "$log"
qemu_rc=${PIPESTATUS[0]}
set -e
say "guest ran $(( $(date +%s) - started ))s (qemu exit $qemu_rc)"
[ "$qemu_rc" = 124 ] && die "the guest did not finish within ${timeout_s}s (see $log)"

result=$(grep -a '^HID-GUEST-RESULT:' "$log" | tail -n 1 || true)
[ -n "$result" ] || die "no HID-GUEST-RESULT line in the guest's output (see $log)"
passed=$(sed -n 's/^HID-GUEST-RESULT: \([0-9]*\) passed, \([0-9]*\) failed.*/\1/p' <<<"$result")
failed=$(sed -n 's/^HID-GUEST-RESULT: \([0-9]*\) passed, \([0-9]*\) failed.*/\2/p' <<<"$result")
[ -n "$passed" ] && [ -n "$failed" ] || die "malformed result line: $result"
say "checks that ran:"
grep -aE '^(ok|not ok) - ' "$log" | sed 's/^/  /'
[ "$failed" = 0 ] || die "$result"
[ "$passed" -gt 0 ] || die "no check passed: $result"
say "$result"
