#!/usr/bin/env bash
# Sets up a Debian workstation (or CI runner) that has only Rust to build and test s2igan-edge.
# Idempotent: a second run checks what is there and returns in about a second.
#   - Debian packages: compilers, ALSA headers, espeak-ng, qemu-user, the aarch64 and armv7 cross
#     gcc (the cross tests), venv
#   - the aarch64-unknown-linux-gnu and armv7-unknown-linux-gnueabihf Rust targets
#   - .venv/ with torch==2.13.0 (libtorch for tch), onnx and onnxruntime (export checks),
#     safetensors (bench/torch_reference.py reads our checkpoints)
# (The boards' own ALSA for cross builds with the microphone: deploy/setup-cross.sh.)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

APT_PACKAGES=(build-essential pkg-config libasound2-dev espeak-ng qemu-user gcc-aarch64-linux-gnu
  libc6-dev-arm64-cross gcc-arm-linux-gnueabihf libc6-dev-armhf-cross python3-venv python3-pip)
PY_REQUIREMENTS=(torch==2.13.0 onnx onnxruntime numpy safetensors)
RUST_TARGETS=(aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf)

say() { printf '[setup] %s\n' "$*"; }
# Free space, in whole GiB, on the disk that holds the checkout (.venv/ and target/ live there).
free_gib() { df -Pk . | awk 'NR == 2 { print int($4 / 1048576) }'; }

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    SUDO=sudo
  fi
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

installed_targets=$(rustup target list --installed 2>/dev/null || true)
for t in "${RUST_TARGETS[@]}"; do
  if ! grep -qx "$t" <<<"$installed_targets"; then
    say "adding Rust target $t"
    rustup target add "$t"
  fi
done

stamp=".venv/.s2i-requirements"
want="${PY_REQUIREMENTS[*]}"
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  # torch's wheels and their CUDA libraries unpack to about 5 GiB; pip's own error on a full
  # disk ("Errno 28") names neither the disk nor how much was needed.
  if [ "$(free_gib)" -lt 6 ]; then
    echo "[setup] $(pwd): only $(free_gib) GiB free on this disk; .venv (torch) needs about 6 GiB" \
      "and the test build about 6 GiB more. Free some space (old clones, target/ folders) and rerun." >&2
    exit 1
  fi
  say "creating .venv with ${want} (about 5 GiB, a minute or two)"
  python3 -m venv .venv
  # No pip cache: it would keep a second copy of the wheels (GBs) on disks that CI keeps small.
  .venv/bin/python -m pip install -q --no-cache-dir --upgrade pip
  .venv/bin/python -m pip install -q --no-cache-dir "${PY_REQUIREMENTS[@]}"
  echo "$want" >"$stamp"
fi
if [ "$(free_gib)" -lt 6 ]; then
  say "warning: $(free_gib) GiB free in $(pwd); the workspace's test build takes about 6 GiB"
fi
say "ready (source deploy/dev-env.sh for cargo commands that build the trainer)"
