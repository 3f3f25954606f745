# shellcheck shell=bash
# Source this from the repository root: the environment tch needs to build and run against the
# project-local PyTorch (made by deploy/setup-dev.sh).
S2I_ROOT="${S2I_ROOT:-$(pwd)}"
export VIRTUAL_ENV="$S2I_ROOT/.venv"
export PATH="$VIRTUAL_ENV/bin:$PATH"
export LIBTORCH_USE_PYTORCH=1
S2I_TORCH_LIB="$(ls -d "$VIRTUAL_ENV"/lib/python3*/site-packages/torch/lib 2>/dev/null | head -n 1)"
export LD_LIBRARY_PATH="$S2I_TORCH_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
# Linkers, qemu runners and multiarch pkg-config for the board targets (per target only).
source "$S2I_ROOT/deploy/cross-env.sh"
