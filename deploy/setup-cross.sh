#!/usr/bin/env bash
# Sets up a Debian (or Ubuntu) workstation to build the firmware for boards and flash it:
#   - cross gcc and C libraries for aarch64 (Pi 4/5 64-bit, Jetson) and armv7 (32-bit Pi OS)
#   - the boards' ALSA (for `--features microphone`, cpal) through Debian multiarch
#   - qemu-user (runs board binaries here: tests and flash.sh --root), rsync and ssh (flashing)
#   - the Rust targets
# It does not need the trainer's PyTorch venv (deploy/setup-dev.sh makes that).
# Idempotent: a second run checks what is there and returns in about a second.
# Then: source deploy/cross-env.sh; deploy/flash.sh --help
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Debian architecture : Rust triple
BOARDS=(arm64:aarch64-unknown-linux-gnu armhf:armv7-unknown-linux-gnueabihf)
APT_PACKAGES=(build-essential pkg-config qemu-user rsync openssh-client
  gcc-aarch64-linux-gnu libc6-dev-arm64-cross gcc-arm-linux-gnueabihf libc6-dev-armhf-cross
  libasound2-dev:arm64 libasound2-dev:armhf)

say() { printf '[setup-cross] %s\n' "$*"; }

SUDO=""
need_root() {
  if [ "$(id -u)" -ne 0 ] && [ -z "$SUDO" ]; then
    command -v sudo >/dev/null || { echo "[setup-cross] need root or sudo to $1" >&2; exit 1; }
    SUDO=sudo
  fi
}

# Multiarch: the boards' -dev packages come from the same Debian mirrors once dpkg knows the
# architectures. Adding one needs an apt-get update before its packages can be found.
foreign=$(dpkg --print-foreign-architectures)
added=0
for board in "${BOARDS[@]}"; do
  arch=${board%%:*}
  if ! grep -qx "$arch" <<<"$foreign"; then
    need_root "add the $arch architecture"
    say "dpkg --add-architecture $arch"
    $SUDO dpkg --add-architecture "$arch"
    added=1
  fi
done

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ] || [ "$added" = 1 ]; then
  need_root "install: ${missing[*]}"
  say "installing Debian packages: ${missing[*]}"
  # A mirror mid-sync can fail one index (e.g. bookworm-security armhf) while the packages we
  # need are in the others: retry once, then let apt-get install say what is really missing.
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq ||
    { sleep 5; $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq; } ||
    say "warning: apt-get update reported errors (above); trying the install anyway"
  if [ ${#missing[@]} -gt 0 ]; then
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

installed_targets=$(rustup target list --installed 2>/dev/null || true)
for board in "${BOARDS[@]}"; do
  t=${board#*:}
  if ! grep -qx "$t" <<<"$installed_targets"; then
    say "adding Rust target $t"
    rustup target add "$t"
  fi
done
say "ready: source deploy/cross-env.sh before cargo build --target ...; deploy/flash.sh --help"
