# shellcheck shell=bash
# Source this (from anywhere) before cross-compiling the firmware for a board:
#   source deploy/cross-env.sh
#   cargo build --release --target aarch64-unknown-linux-gnu -p s2i-device --bin s2i --features microphone
# It sets, for each board target, the gcc that links it, the C compiler for build scripts that
# compile C, the target's ALSA through Debian multiarch (libasound2-dev:arm64 / :armhf, installed
# by deploy/setup-cross.sh), and a qemu runner so `cargo run/test --target ...` runs here.
# Every variable is suffixed with its target triple, so native builds in the same shell are not
# affected (the pkg-config crate reads PKG_CONFIG_*_<triple> before the plain names).

s2i_cross_target() {
  # $1 Rust triple, $2 Debian multiarch triple (the gcc prefix and /usr/lib/<it>), $3 qemu binary
  local rust_triple=$1 gnu=$2 qemu=$3
  local upper under
  upper=$(printf '%s' "$rust_triple" | tr 'a-z-' 'A-Z_')
  under=$(printf '%s' "$rust_triple" | tr '-' '_')
  export "CARGO_TARGET_${upper}_LINKER=${gnu}-gcc"
  export "CARGO_TARGET_${upper}_RUNNER=${qemu} -L /usr/${gnu}"
  export "CC_${under}=${gnu}-gcc"
  export "AR_${under}=${gnu}-ar"
  export "PKG_CONFIG_ALLOW_CROSS_${under}=1"
  # LIBDIR (not PATH) so the host's own .pc files are never found for the target.
  export "PKG_CONFIG_LIBDIR_${under}=/usr/lib/${gnu}/pkgconfig:/usr/share/pkgconfig"
}

s2i_cross_target aarch64-unknown-linux-gnu aarch64-linux-gnu qemu-aarch64
s2i_cross_target armv7-unknown-linux-gnueabihf arm-linux-gnueabihf qemu-arm
unset -f s2i_cross_target
