#!/usr/bin/env bash
# Puts the s2i firmware, a model bundle and a board config on a board, as a new release beside
# the old ones, checks the new release there (its bundle, and its config with every device it
# names), and only then switches to it atomically, installs the systemd unit and checks that the
# service stays up; if it does not, it switches back to the release that ran before. The whole
# run holds a lock on the board, so two flashes never interleave.
#
#   deploy/flash.sh [options] user@board
#   deploy/flash.sh [options] --root DIR        (a local folder laid out like the board's /)
#
# Options:
#   --target aarch64|armv7|x86_64  board CPU (default aarch64: Pi 4/5 with 64-bit OS, Jetson;
#                            armv7: 32-bit Raspberry Pi OS; x86_64: a PC kiosk)
#   --bundle DIR             model bundle (default models/default), verified here before copying
#   --config FILE            board config (default deploy/kiosk.toml), installed as config.toml
#   --binary PATH            a prebuilt s2i for the target instead of building one
#   --microphone / --no-microphone   build with or without the cpal microphone feature
#                            (default: with it, when device/Cargo.toml has the feature)
#   --no-strip               copy the binary with its debug line tables (default: strip them)
#   --host-s2i PATH          this machine's own s2i, used to verify the bundle (default: cargo run)
#   --keep N                 releases to keep on the board (default 3; current and previous stay)
#   --port N                 ssh port
#   --rollback               switch back to the previous release (nothing is built or copied)
#   --dry-run                print every step and the exact commands; touch nothing
#   --root DIR               install into DIR/opt/s2i and DIR/etc/systemd/system (no ssh, no
#                            systemctl; the checks run the installed binary here, under qemu when
#                            it is for another CPU)
#
# On the board:
#   /opt/s2i/releases/<version>/{bin/s2i, bundle/, config.toml, RELEASE, SHA256SUMS, .complete}
#   /opt/s2i/current  -> releases/<version>     (what the service runs)
#   /opt/s2i/previous -> releases/<version>     (what --rollback goes back to)
#   /opt/s2i/.flash.lock                        (held by the flash that is running; its time is
#                                                when that flash began)
# A release gets .complete only after its files are copied and their SHA-256 match, and current
# only ever points at a complete release that passed `s2i check` and `s2i run --check` on the
# board: an interrupted copy never touches the running one, and the next flash removes the
# incomplete folder (only folders older than its own lock: never one another flash is filling).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

say() { printf '[flash] %s\n' "$*"; }
die() { printf '[flash] error: %s\n' "$*" >&2; exit 1; }
usage_error() {
  printf '[flash] error: %s\n' "$*" >&2
  printf '[flash] usage: deploy/flash.sh [--target aarch64|armv7|x86_64] [--bundle DIR] [--config FILE] [--binary PATH] [--dry-run] [--rollback] [--root DIR] user@board\n' >&2
  exit 2
}

TARGET=aarch64
BUNDLE=models/default
CONFIG=deploy/kiosk.toml
BINARY=""
HOST_S2I=""
MICROPHONE=auto
STRIP=1
KEEP=3
PORT=""
ROLLBACK=0
DRY=0
ROOT=""
BOARD=""

parse_args() {
  while [ $# -gt 0 ]; do
    case "$1" in
      --target) [ $# -ge 2 ] || usage_error "--target needs a value"; TARGET=$2; shift 2 ;;
      --bundle) [ $# -ge 2 ] || usage_error "--bundle needs a value"; BUNDLE=$2; shift 2 ;;
      --config) [ $# -ge 2 ] || usage_error "--config needs a value"; CONFIG=$2; shift 2 ;;
      --binary) [ $# -ge 2 ] || usage_error "--binary needs a value"; BINARY=$2; shift 2 ;;
      --host-s2i) [ $# -ge 2 ] || usage_error "--host-s2i needs a value"; HOST_S2I=$2; shift 2 ;;
      --keep) [ $# -ge 2 ] || usage_error "--keep needs a value"; KEEP=$2; shift 2 ;;
      --port) [ $# -ge 2 ] || usage_error "--port needs a value"; PORT=$2; shift 2 ;;
      --root) [ $# -ge 2 ] || usage_error "--root needs a value"; ROOT=$2; shift 2 ;;
      --microphone) MICROPHONE=on; shift ;;
      --no-microphone) MICROPHONE=off; shift ;;
      --no-strip) STRIP=0; shift ;;
      --rollback) ROLLBACK=1; shift ;;
      --dry-run) DRY=1; shift ;;
      -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
      -*) usage_error "unknown option $1" ;;
      *) [ -z "$BOARD" ] || usage_error "two boards given: $BOARD and $1"; BOARD=$1; shift ;;
    esac
  done
  case "$KEEP" in '' | *[!0-9]* | 0) usage_error "--keep wants a number of releases >= 1, not '$KEEP'" ;; esac
  if [ -n "$ROOT" ] && [ -n "$BOARD" ]; then usage_error "give either user@board or --root DIR, not both"; fi
  if [ -z "$ROOT" ] && [ -z "$BOARD" ]; then usage_error "which board? give user@board (or --root DIR)"; fi
}

# Per target: Rust triple, ELF e_machine, Debian multiarch triple, qemu.
set_target() {
  case "$TARGET" in
    aarch64) TRIPLE=aarch64-unknown-linux-gnu ELF_MACHINE=183 GNU=aarch64-linux-gnu QEMU=qemu-aarch64 ;;
    armv7) TRIPLE=armv7-unknown-linux-gnueabihf ELF_MACHINE=40 GNU=arm-linux-gnueabihf QEMU=qemu-arm ;;
    x86_64) TRIPLE=x86_64-unknown-linux-gnu ELF_MACHINE=62 GNU=x86_64-linux-gnu QEMU=qemu-x86_64 ;;
    *) usage_error "unknown target '$TARGET': use aarch64 (Pi 4/5 64-bit OS, Jetson), armv7 (32-bit Pi OS) or x86_64" ;;
  esac
}

# A path as given, else relative to the repository (so the script works from any folder).
resolve() {
  if [ -e "$1" ]; then realpath "$1"; elif [ -e "$REPO/$1" ]; then realpath "$REPO/$1"; else printf '%s' "$1"; fi
}

# The CPU an ELF file is for, as an e_machine number (little-endian: every target here is).
elf_machine() {
  [ "$(od -An -tx1 -N4 "$1" | tr -d ' \n')" = 7f454c46 ] || { echo none; return; }
  od -An -tu2 -j18 -N2 "$1" | tr -d ' \n'
}

machine_name() {
  case "$1" in 183) echo aarch64 ;; 40) echo arm ;; 62) echo x86_64 ;; none) echo "not an ELF binary" ;; *) echo "e_machine $1" ;; esac
}

# How to run a binary for e_machine $1 on this machine: nothing when native, else qemu-user with
# the cross libc as its root.
local_runner() {
  local host
  case "$(uname -m)" in aarch64) host=183 ;; armv7l | armv6l) host=40 ;; x86_64) host=62 ;; *) host=0 ;; esac
  if [ "$1" = "$host" ]; then echo ""; return; fi
  local qemu=$QEMU gnu=$GNU
  case "$1" in 183) qemu=qemu-aarch64 gnu=aarch64-linux-gnu ;; 40) qemu=qemu-arm gnu=arm-linux-gnueabihf ;; 62) qemu=qemu-x86_64 gnu=x86_64-linux-gnu ;; esac
  command -v "$qemu" >/dev/null || die "the installed binary is for $(machine_name "$1") and $qemu is missing here, so it cannot be checked: run deploy/setup-cross.sh"
  [ -d "/usr/$gnu" ] || die "/usr/$gnu (the cross libc qemu needs) is missing: run deploy/setup-cross.sh"
  echo "$qemu -L /usr/$gnu"
}

# The newest glibc symbol version the binary asks for (the names sit in its .dynstr).
glibc_needed() {
  [ -f "$BINARY" ] || return 0
  { grep -ao 'GLIBC_2\.[0-9][0-9.]*' "$BINARY" || true; } | sed 's/^GLIBC_//' | sort -Vu | tail -n 1
}

# Runs (or, with --dry-run, prints) a local command.
local_cmd() {
  if [ "$DRY" = 1 ]; then printf '    %s\n' "$(printf '%q ' "$@")"; return 0; fi
  "$@"
}

# ---------------------------------------------------------------------------------------------
# What runs on the board. Each step is one bash script sent over ssh (or run here with --root):
# a prelude with its variables, these functions (shipped with `declare -f`), and a call.
# Globals the board functions read; the prelude sets them on the board.
S2I=/opt/s2i            # the install root on the board (DIR/opt/s2i with --root)
UNIT_DIR=/etc/systemd/system
ROOTMODE=0
SUDO=""
RUNNER=""               # qemu command for a foreign binary (--root only)
NAME="" OLD_CURRENT="" OLD_PREVIOUS="" NEED_KB=0 WANT_ARCH="" NEED_GLIBC="" KEEP_N=3 UNIT_TEXT="" BOARD_ROOT="" MARK_FAILED=1

on_board_common() {
  if [ "$ROOTMODE" = 1 ] || [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo -n"; fi
}

# Board messages go to stderr: a step's stdout carries key=value results back.
bsay() { printf '[flash] %s\n' "$*" >&2; }

# Points $S2I/$1 at $2 atomically: a new link beside it, renamed over the old one (rename(2) is
# atomic; `ln -sfn` alone unlinks first, leaving a moment with no link). GNU mv -T.
relink() {
  $SUDO ln -sfn "$2" "$S2I/.$1.new"
  $SUDO mv -T "$S2I/.$1.new" "$S2I/$1"
}

# Takes the board's flash lock and holds it until this step's stdin closes (flash.sh keeps it
# open for its whole run; when flash.sh ends or its ssh connection drops, the lock goes too).
# The lock file's time becomes this flash's start: preflight removes only what is older.
on_board_lock() {
  $SUDO mkdir -p "$S2I"
  local lock="$S2I/.flash.lock"
  [ -e "$lock" ] || $SUDO touch "$lock"
  exec 9<"$lock"
  if ! flock -n 9; then
    echo "busy $(cat "$lock" 2>/dev/null || true)"
    exit 1
  fi
  printf '%s by %s@%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(id -un)" "$(hostname)" | $SUDO tee "$lock" >/dev/null
  echo locked
  cat >/dev/null || true
}

# Board facts and free space; removes releases an earlier flash left incomplete.
on_board_preflight() {
  if [ "$ROOTMODE" = 0 ]; then
    if [ -n "$SUDO" ] && ! sudo -n true 2>/dev/null; then
      bsay "$(id -un) on $(hostname) cannot use sudo without a password; flash.sh needs root there (ssh as root, or allow passwordless sudo for this user)"
      exit 1
    fi
    local arch
    arch=$(dpkg --print-architecture 2>/dev/null || uname -m)
    # dpkg's architecture, not uname: a Pi 4 running 32-bit Pi OS has a 64-bit kernel.
    case "$arch" in
      arm64 | aarch64) arch=aarch64 ;; armhf | armv7l) arch=armv7 ;; amd64 | x86_64) arch=x86_64 ;;
    esac
    if [ "$arch" != "$WANT_ARCH" ]; then
      bsay "this board runs a $arch userland, not $WANT_ARCH: flash with --target $arch"
      exit 1
    fi
    # A binary linked against a newer glibc than the board's does not start at all.
    local have
    have=$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{ print $2 }')
    if [ -n "$NEED_GLIBC" ] && [ -n "$have" ] &&
      [ "$(printf '%s\n%s\n' "$NEED_GLIBC" "$have" | sort -V | tail -n 1)" != "$have" ]; then
      bsay "the binary needs glibc $NEED_GLIBC but the board has $have: build on a system with glibc <= $have (e.g. a Debian or Ubuntu as old as the board's OS)"
      exit 1
    fi
  fi
  local cur prev d
  cur=$(readlink "$S2I/current" 2>/dev/null || true)
  prev=$(readlink "$S2I/previous" 2>/dev/null || true)
  for d in "$S2I"/releases/*/; do
    [ -d "$d" ] || continue
    d=${d%/}
    if [ ! -e "$d/.complete" ] && [ "releases/${d##*/}" != "$cur" ] && [ "releases/${d##*/}" != "$prev" ]; then
      if [ "$d" -ot "$S2I/.flash.lock" ]; then
        bsay "removing incomplete or failed release ${d##*/} (an earlier flash did not finish it)"
        $SUDO rm -rf "$d"
      else
        bsay "keeping incomplete release ${d##*/}: it is newer than this flash's lock, so an earlier flash did not leave it"
      fi
    fi
  done
  # Free space where the release will go: the nearest folder that exists.
  d="$S2I/releases"
  while [ ! -d "$d" ]; do d=$(dirname "$d"); done
  local free_kb
  free_kb=$(df -Pk "$d" | awk 'NR == 2 { print $4 }')
  if [ "$free_kb" -lt "$NEED_KB" ]; then
    bsay "not enough space on the board: $d has $((free_kb / 1024)) MiB free, the release needs $((NEED_KB / 1024)) MiB; remove old releases ($S2I/releases) or free space, nothing was copied"
    exit 1
  fi
  bsay "board ok: $((free_kb / 1024)) MiB free for a $((NEED_KB / 1024)) MiB release"
  echo "current=$cur"
  if command -v rsync >/dev/null; then echo "rsync=yes"; else echo "rsync=no"; fi
}

# Creates the new release folder (a counter makes the name unique) and prints its name.
on_board_prepare() {
  $SUDO mkdir -p "$S2I/releases"
  local name=$NAME n=2
  while [ -e "$S2I/releases/$name" ]; do name="$NAME-$n"; n=$((n + 1)); done
  $SUDO mkdir "$S2I/releases/$name"
  # The copy runs as the ssh user; the folder becomes root's again once it is complete.
  [ -z "$SUDO" ] || $SUDO chown "$(id -u):$(id -g)" "$S2I/releases/$name"
  echo "name=$name"
}

# Checks every copied file against SHA256SUMS, then marks the release complete.
on_board_finalize() {
  local dir="$S2I/releases/$NAME"
  if ! (cd "$dir" && sha256sum --quiet -c SHA256SUMS); then
    bsay "the copy of release $NAME is damaged (SHA-256 differ, above); the running release was not touched"
    exit 1
  fi
  if [ "$ROOTMODE" = 0 ]; then $SUDO chown -R root:root "$dir"; fi
  $SUDO chmod -R u=rwX,go=rX "$dir"
  $SUDO chmod 755 "$dir/bin/s2i"
  sync
  $SUDO touch "$dir/.complete"
  sync
  bsay "release $NAME copied and verified"
}

# The service user and the groups the unit names (a Jetson has no spi group, a fresh Pi OS may
# lack gpio): systemd refuses to start a unit whose SupplementaryGroups do not exist.
on_board_user() {
  local g
  for g in audio video gpio spi; do
    getent group "$g" >/dev/null || { bsay "creating group $g"; $SUDO groupadd --system "$g"; }
  done
  if ! id s2i >/dev/null 2>&1; then
    bsay "creating the system user s2i"
    $SUDO useradd --system --user-group --home-dir /var/lib/s2i --no-create-home --shell /usr/sbin/nologin s2i
  fi
  $SUDO usermod -a -G audio,video,gpio,spi s2i
}

# current -> the new release, previous -> what current was. Prints the old links.
on_board_switch() {
  local cur prev
  cur=$(readlink "$S2I/current" 2>/dev/null || true)
  prev=$(readlink "$S2I/previous" 2>/dev/null || true)
  echo "old_current=$cur"
  echo "old_previous=$prev"
  relink current "releases/$NAME"
  if [ -n "$cur" ] && [ "$cur" != "releases/$NAME" ]; then relink previous "$cur"; fi
  bsay "current -> releases/$NAME${cur:+ (previous -> $cur)}"
}

# Installs the unit (and, on a board, reloads systemd, enables and restarts the service).
on_board_unit() {
  local tmp
  tmp=$(mktemp)
  printf '%s\n' "$UNIT_TEXT" >"$tmp"
  $SUDO mkdir -p "$UNIT_DIR"
  $SUDO install -m 644 "$tmp" "$UNIT_DIR/s2i.service"
  rm -f "$tmp"
  if [ "$ROOTMODE" = 1 ]; then
    # What `systemctl enable` does for WantedBy=multi-user.target.
    mkdir -p "$UNIT_DIR/multi-user.target.wants"
    ln -sfn /etc/systemd/system/s2i.service "$UNIT_DIR/multi-user.target.wants/s2i.service"
    bsay "unit installed in $UNIT_DIR and enabled (no systemd under --root: not started)"
  else
    $SUDO systemctl daemon-reload
    $SUDO systemctl enable --quiet s2i.service
    $SUDO systemctl reset-failed s2i.service 2>/dev/null || true
    $SUDO systemctl restart s2i.service
    bsay "s2i.service installed, enabled and restarted"
  fi
}

# Runs a release's s2i ($1: its folder) as the service would: as user s2i on a board (same
# permissions and groups); under qemu here when the binary is for another CPU (--root).
run_s2i() {
  local release=$1
  shift
  local -a pre=() qemu=()
  if [ "$ROOTMODE" = 0 ]; then
    if [ "$(id -u)" -eq 0 ]; then pre=(runuser -u s2i --); else pre=(sudo -n -u s2i); fi
  fi
  if [ -n "$RUNNER" ]; then read -ra qemu <<<"$RUNNER"; fi
  "${pre[@]}" "${qemu[@]}" "$release/bin/s2i" "$@"
}

# Checks release $NAME where it lies, before anything points at it: its s2i verifies its bundle
# (with a dry run), and `run --check` reads its config and opens every device the config names
# without driving them. The config names /opt/s2i/current/..., which is still the old release:
# it is checked as a copy pointing at this release instead. On a board the service is stopped
# first (it holds the GPIO lines and the microphone) and started again if the check fails.
on_board_check_release() {
  local dir="$S2I/releases/$NAME" was_active=0
  if [ "$ROOTMODE" = 0 ] && systemctl is-active --quiet s2i.service; then
    was_active=1
    bsay "stopping s2i.service while the new release is checked (it holds the devices)"
    $SUDO systemctl stop s2i.service
  fi
  local ok=1 conf="$dir/.config-check.toml"
  bsay "checking: s2i check --bundle $dir/bundle"
  if ! run_s2i "$dir" check --bundle "$dir/bundle"; then
    bsay "the new s2i could not verify its bundle"
    ok=0
  elif run_s2i "$dir" run --help >/dev/null 2>&1; then
    # Board paths become this release's (and, with --root, paths under DIR).
    sed -e "s#\"/opt/s2i/current/#\"$dir/#g" -e "s#\"/opt/s2i/#\"$S2I/#g" \
      -e "s#\"/var/lib/s2i/#\"$BOARD_ROOT/var/lib/s2i/#g" "$dir/config.toml" | $SUDO tee "$conf" >/dev/null
    $SUDO chmod 644 "$conf"
    bsay "checking: s2i run --config $dir/config.toml --check"
    if ! run_s2i "$dir" run --config "$conf" --check; then
      bsay "s2i run --check refused the config or a device it names"
      ok=0
    fi
    $SUDO rm -f "$conf"
  else
    bsay "this s2i has no run command yet: config not checked"
  fi
  if [ "$ok" = 1 ]; then return 0; fi
  if [ "$MARK_FAILED" = 1 ]; then
    # No longer complete: never switched to, and the next flash removes it.
    $SUDO rm -f "$dir/.complete"
    $SUDO touch "$dir/.failed"
  fi
  if [ "$was_active" = 1 ]; then $SUDO systemctl start s2i.service || true; fi
  return 1
}

# Did it come up? On a board, the service stays active for 5 s after its restart (the release
# itself was checked before the switch).
on_board_came_up() {
  [ "$ROOTMODE" = 0 ] || return 0
  local i
  for i in 1 2 3 4 5; do
    sleep 1
    if ! systemctl is-active --quiet s2i.service; then
      bsay "s2i.service is not active after ${i} s:"
      systemctl status --no-pager --lines 20 s2i.service >&2 || true
      return 1
    fi
  done
  bsay "s2i.service is active"
}

# Puts current and previous back as they were before the switch; the release that failed loses
# .complete, so the next flash removes it.
on_board_switch_back() {
  if [ -n "$OLD_CURRENT" ]; then
    relink current "$OLD_CURRENT"
    if [ -n "$OLD_PREVIOUS" ]; then relink previous "$OLD_PREVIOUS"; else $SUDO rm -f "$S2I/previous"; fi
  else
    $SUDO rm -f "$S2I/current" "$S2I/previous"
  fi
  if [ -n "$NAME" ]; then
    $SUDO rm -f "$S2I/releases/$NAME/.complete"
    $SUDO touch "$S2I/releases/$NAME/.failed"
  fi
  if [ "$ROOTMODE" = 0 ]; then
    if [ -n "$OLD_CURRENT" ]; then
      $SUDO systemctl restart s2i.service || true
    else
      $SUDO systemctl stop s2i.service || true
    fi
  fi
}

# --rollback, first half: the release previous points at, if it can be gone back to.
on_board_previous() {
  local prev
  prev=$(readlink "$S2I/previous" 2>/dev/null || true)
  if [ -z "$prev" ]; then
    bsay "no previous release recorded ($S2I/previous is missing): nothing to roll back to"
    exit 1
  fi
  if [ ! -e "$S2I/$prev/.complete" ]; then
    bsay "the previous release $prev is missing or incomplete: not switching to it"
    exit 1
  fi
  echo "previous=${prev#releases/}"
}

# --rollback: current <-> previous.
on_board_rollback() {
  local cur prev
  cur=$(readlink "$S2I/current" 2>/dev/null || true)
  prev=$(readlink "$S2I/previous" 2>/dev/null || true)
  if [ -z "$prev" ]; then
    bsay "no previous release recorded ($S2I/previous is missing): nothing to roll back to"
    exit 1
  fi
  if [ ! -e "$S2I/$prev/.complete" ]; then
    bsay "the previous release $prev is missing or incomplete: not switching to it"
    exit 1
  fi
  echo "old_current=$cur"
  echo "old_previous=$prev"
  relink current "$prev"
  if [ -n "$cur" ]; then relink previous "$cur"; fi
  bsay "current -> $prev${cur:+ (previous -> $cur)}"
  if [ "$ROOTMODE" = 0 ]; then
    $SUDO systemctl restart s2i.service
  fi
}

# Keeps the newest KEEP_N complete releases (names start with the UTC build time), and always
# the current and previous ones.
on_board_prune() {
  local cur prev r
  cur=$(readlink "$S2I/current" 2>/dev/null || true)
  prev=$(readlink "$S2I/previous" 2>/dev/null || true)
  local -a complete=()
  for r in "$S2I"/releases/*/.complete; do
    [ -e "$r" ] || continue
    r=${r%/.complete}
    complete+=("${r##*/}")
  done
  local n=${#complete[@]}
  [ "$n" -gt "$KEEP_N" ] || return 0
  local drop
  for drop in $(printf '%s\n' "${complete[@]}" | sort -V | head -n $((n - KEEP_N))); do
    if [ "releases/$drop" = "$cur" ] || [ "releases/$drop" = "$prev" ]; then continue; fi
    bsay "removing old release $drop (keeping $KEEP_N)"
    $SUDO rm -rf "${S2I:?}/releases/$drop"
  done
}

BOARD_FUNCS=(on_board_common bsay relink run_s2i)

# The script that runs one board step: a prelude with its variables, the shared functions and
# the step's own, and a call.
board_script() {
  local step=$1
  shift
  local script kv
  script="set -euo pipefail"$'\n'
  script+="S2I=$(printf %q "$B_S2I") UNIT_DIR=$(printf %q "$B_UNIT_DIR") ROOTMODE=$B_ROOTMODE RUNNER=$(printf %q "$B_RUNNER") BOARD_ROOT=$(printf %q "$ROOT")"$'\n'
  for kv in "$@"; do script+="${kv%%=*}=$(printf %q "${kv#*=}")"$'\n'; done
  script+="$(declare -f "${BOARD_FUNCS[@]}" "$step")"$'\n'
  script+="on_board_common; $step"$'\n'
  printf '%s' "$script"
}

# Sends one step to the board: board STEP-FUNCTION [VAR=VALUE ...]. Its stdout is the step's.
board() {
  local script
  script=$(board_script "$@")
  if [ "$DRY" = 1 ]; then
    if [ -n "$ROOT" ]; then say "  bash -s <<'EOF'"; else say "  ssh $(printf '%q ' "${SSH[@]}")$(printf '%q' "$BOARD") bash -s <<'EOF'"; fi
    printf '%s\n' "$script" | sed 's/^/    /'
    say "  EOF"
    return 0
  fi
  if [ -n "$ROOT" ]; then
    bash -s <<<"$script"
  else
    ssh "${SSH[@]}" "$BOARD" bash -s <<<"$script"
  fi
}

# Reads key=value lines of a step's output.
field() { sed -n "s/^$1=//p" <<<"$2" | tail -n 1; }

# ---------------------------------------------------------------------------------------------
# Steps on this machine.

check_reachable() {
  [ -z "$ROOT" ] || return 0
  say "step: reach $BOARD over ssh"
  if [ "$DRY" = 1 ]; then local_cmd ssh "${SSH[@]}" "$BOARD" true; return 0; fi
  local err
  if ! err=$(ssh "${SSH[@]}" "$BOARD" true 2>&1); then
    die "cannot reach $BOARD over ssh: ${err:-no answer}. Check the address, that the board is on and runs sshd, and that your key is installed (ssh-copy-id $BOARD); nothing was copied"
  fi
}

microphone_feature_exists() {
  grep -Eq '^[[:space:]]*microphone[[:space:]]*=' "$REPO/device/Cargo.toml"
}

build_binary() {
  if [ -n "$BINARY" ]; then
    BINARY=$(resolve "$BINARY")
    [ -f "$BINARY" ] || die "--binary $BINARY: no such file"
    [ "$MICROPHONE" = auto ] || say "note: --binary given, so --microphone/--no-microphone change nothing"
    return 0
  fi
  local features=()
  case "$MICROPHONE" in
    on) features=(--features microphone) ;;
    auto) if microphone_feature_exists; then features=(--features microphone); else say "device/Cargo.toml has no microphone feature yet: building without it"; fi ;;
  esac
  say "step: build s2i for $TRIPLE${features[*]:+ (${features[*]})}"
  local target_dir=${CARGO_TARGET_DIR:-$REPO/target}
  case "$target_dir" in /*) ;; *) target_dir="$REPO/$target_dir" ;; esac
  BINARY="$target_dir/$TRIPLE/release/s2i"
  if [ "$DRY" = 1 ]; then
    say "  (cd $REPO && source deploy/cross-env.sh && \\"
    local_cmd cargo build --release --locked --target "$TRIPLE" -p s2i-device --bin s2i "${features[@]}"
    say "  )"
    return 0
  fi
  # shellcheck source=deploy/cross-env.sh
  (cd "$REPO" && source deploy/cross-env.sh &&
    cargo build --release --locked --target "$TRIPLE" -p s2i-device --bin s2i "${features[@]}") ||
    die "the build for $TRIPLE failed (above); run deploy/setup-cross.sh if a linker or ALSA for the target is missing"
}

check_binary_arch() {
  [ "$DRY" = 0 ] || [ -f "$BINARY" ] || return 0
  local m
  m=$(elf_machine "$BINARY")
  [ "$m" = "$ELF_MACHINE" ] || die "$BINARY is built for $(machine_name "$m"), not for --target $TARGET"
}

verify_bundle() {
  say "step: verify the bundle $BUNDLE here before copying anything"
  local cmd
  if [ -n "$HOST_S2I" ]; then
    cmd=("$(resolve "$HOST_S2I")" check --bundle "$BUNDLE")
  else
    cmd=(cargo run --release --locked -q --manifest-path "$REPO/Cargo.toml" -p s2i-device --bin s2i -- check --bundle "$BUNDLE")
  fi
  if [ "$DRY" = 1 ]; then local_cmd "${cmd[@]}"; return 0; fi
  local out
  if ! out=$("${cmd[@]}" 2>&1); then
    printf '%s\n' "$out" | sed 's/^/    /' >&2
    die "the bundle $BUNDLE failed verification (s2i check, above); nothing was copied to the board"
  fi
  say "  $out"
}

# The release profile keeps line tables (~140 MB for aarch64); the board gets the binary without
# them (about a fifth of that) but with its symbols, so backtraces still name functions.
strip_binary() {
  [ "$STRIP" = 1 ] || return 0
  local tool="$GNU-strip"
  command -v "$tool" >/dev/null || tool="strip"
  if [ "$DRY" = 1 ]; then local_cmd "$tool" --strip-debug "$1"; return 0; fi
  command -v "$tool" >/dev/null || { say "note: no $GNU-strip here: copying the binary with its debug info"; return 0; }
  local err
  # A binary strip cannot read is copied as it is: the check on the board is what judges it.
  err=$("$tool" --strip-debug "$1" 2>&1) || say "note: $tool could not strip the binary (${err##*: }); copying it as it is"
}

# What a path that is not a regular file or folder is, for messages.
describe_file() {
  if [ -L "$1" ]; then echo "a symbolic link (to $(readlink "$1"))"
  elif [ -p "$1" ]; then echo "a FIFO (named pipe)"
  elif [ -S "$1" ]; then echo "a socket"
  elif [ -c "$1" ]; then echo "a character device"
  elif [ -b "$1" ]; then echo "a block device"
  else echo "not a regular file"; fi
}

# A bundle holds regular files and folders only: a link would be copied as a link (pointing
# anywhere on the board) and left out of SHA256SUMS. Refused before anything is copied.
check_bundle_files() {
  local odd
  odd=$(find "$BUNDLE" -mindepth 1 ! -type f ! -type d -print -quit)
  [ -z "$odd" ] || die "--bundle $BUNDLE: $odd is $(describe_file "$odd"); a bundle holds regular files only, so nothing was copied"
}

# The release as it will be on the board, in a local folder: bin/s2i, bundle/, config.toml,
# RELEASE (what it is) and SHA256SUMS (checked on the board before .complete is written).
stage_release() {
  STAGE=$(mktemp -d "${TMPDIR:-/tmp}/s2i-flash.XXXXXX")
  mkdir -p "$STAGE/bin"
  if [ -f "$BINARY" ]; then cp "$BINARY" "$STAGE/bin/s2i"; elif [ "$DRY" = 0 ]; then die "no binary at $BINARY"; fi
  strip_binary "$STAGE/bin/s2i"
  cp -R "$BUNDLE" "$STAGE/bundle"
  cp "$CONFIG" "$STAGE/config.toml"
  {
    echo "version $VERSION"
    echo "target $TRIPLE"
    echo "commit $(git -C "$REPO" rev-parse HEAD 2>/dev/null || echo unknown)"
    echo "bundle $(basename "$BUNDLE")"
    echo "config $(basename "$CONFIG")"
    echo "built_by $(id -un)@$(hostname)"
  } >"$STAGE/RELEASE"
  local sums
  sums=$(cd "$STAGE" && find . -type f -print0 | sort -z | xargs -0 sha256sum)
  printf '%s\n' "$sums" >"$STAGE/SHA256SUMS"
  # Room for the files plus 10 % and 8 MiB, so the board's disk is not filled to the last block.
  local kb
  kb=$(du -sk "$STAGE" | cut -f1)
  NEED_KB=$((kb + kb / 10 + 8192))
}

copy_release() {
  local name=$1 rsync_on_board=$2
  say "step: copy the release into $B_S2I/releases/$name"
  if [ -n "$ROOT" ]; then
    local_cmd cp -R "$STAGE/." "$B_S2I/releases/$name/"
  elif [ "$DRY" = 1 ]; then
    say "  with rsync on both sides:"
    local_cmd rsync -a --partial -e "ssh ${SSH[*]}" "$STAGE/" "$BOARD:$B_S2I/releases/$name/"
    say "  else:"
    say "  tar -C $STAGE -cf - . | ssh ${SSH[*]} $BOARD tar -C $B_S2I/releases/$name -xf -"
  elif [ "$rsync_on_board" = yes ] && command -v rsync >/dev/null; then
    local_cmd rsync -a --partial -e "ssh ${SSH[*]}" "$STAGE/" "$BOARD:$B_S2I/releases/$name/"
  else
    tar -C "$STAGE" -cf - . | ssh "${SSH[@]}" "$BOARD" tar -C "$B_S2I/releases/$name" -xf -
  fi
}

# ---------------------------------------------------------------------------------------------

# Takes the board's flash lock for the rest of this run: on_board_lock keeps running with its
# stdin on a pipe that closes only when flash.sh ends (or its ssh connection drops).
take_lock() {
  say "step: take the board's flash lock ($B_S2I/.flash.lock) for the whole run"
  local script
  script=$(board_script on_board_lock)
  if [ "$DRY" = 1 ]; then
    if [ -n "$ROOT" ]; then say "  bash -c <script>, its stdin a pipe kept open until flash.sh ends:"; else say "  ssh $(printf '%q ' "${SSH[@]}")$(printf '%q' "$BOARD") 'bash -c \"\$(echo <script in base64> | base64 -d)\"', its stdin a pipe kept open until flash.sh ends:"; fi
    printf '%s\n' "$script" | sed 's/^/    /'
    return 0
  fi
  if [ -n "$ROOT" ]; then
    coproc LOCK_HOLDER { bash -c "$script" 2>&1; }
  else
    # As an argument, not on stdin: stdin is the pipe that holds the lock. Base64 keeps the
    # script intact through the board's login shell.
    local encoded
    encoded=$(printf '%s' "$script" | base64 | tr -d '\n')
    coproc LOCK_HOLDER { ssh "${SSH[@]}" "$BOARD" "bash -c \"\$(echo $encoded | base64 -d)\"" 2>&1; }
  fi
  local answer=""
  read -r -t 60 answer <&"${LOCK_HOLDER[0]}" || true
  case "$answer" in
    locked) ;;
    busy*) die "another flash is running on $BOARD_LABEL (it holds $B_S2I/.flash.lock, taken ${answer#busy }); nothing was changed: wait for it to finish" ;;
    *) die "cannot take the flash lock $B_S2I/.flash.lock on $BOARD_LABEL: ${answer:-no answer}" ;;
  esac
}

flash() {
  VERSION="$(date -u +%Y%m%d-%H%M%S)-$(git -C "$REPO" describe --tags --always --dirty 2>/dev/null || echo nogit)"
  build_binary
  check_binary_arch
  verify_bundle
  if [ -n "$ROOT" ] && [ -f "$BINARY" ]; then B_RUNNER=$(local_runner "$(elf_machine "$BINARY")"); fi
  stage_release
  say "release $VERSION: $(basename "$BINARY") for $TRIPLE, bundle $BUNDLE, config $CONFIG ($((NEED_KB / 1024)) MiB with margin)"
  check_reachable
  take_lock

  say "step: check the board (architecture, free space) and remove incomplete releases"
  local out
  out=$(board on_board_preflight "WANT_ARCH=$TARGET" "NEED_KB=$NEED_KB" "NEED_GLIBC=$(glibc_needed)") || die "the board is not ready (above); nothing was copied"
  [ "$DRY" = 0 ] || printf '%s\n' "$out"
  local rsync_on_board running
  rsync_on_board=$(field rsync "$out")
  running=$(field current "$out")

  say "step: create the release folder"
  out=$(board on_board_prepare "NAME=$VERSION") || die "cannot create a release folder under $B_S2I/releases (above)"
  local name
  if [ "$DRY" = 1 ]; then printf '%s\n' "$out"; name=$VERSION; else name=$(field name "$out"); fi

  copy_release "$name" "${rsync_on_board:-no}" ||
    die "the copy to $name was interrupted or failed (above); the running release is untouched and the next flash removes the incomplete folder"

  say "step: verify the copy and mark it complete"
  board on_board_finalize "NAME=$name" || die "release $name is not complete; the running release is untouched"

  if [ -z "$ROOT" ]; then
    say "step: the s2i user and its groups"
    board on_board_user || die "cannot create the s2i user or its groups (above)"
  else
    say "step: (--root) the s2i user and groups are created on a real board only"
  fi

  say "step: check the new release on the board before switching (its bundle; its config and every device it names)"
  if ! board on_board_check_release "NAME=$name" "MARK_FAILED=1"; then
    if [ -n "$running" ]; then
      die "release $name did not pass its checks on the board (above); nothing was switched: $BOARD_LABEL still runs $running"
    fi
    die "release $name did not pass its checks on the board (above); nothing was switched, and there is no earlier release"
  fi

  say "step: switch current to $name"
  out=$(board on_board_switch "NAME=$name") || die "could not switch current (above)"
  [ "$DRY" = 0 ] || printf '%s\n' "$out"
  local old_current old_previous
  old_current=$(field old_current "$out")
  old_previous=$(field old_previous "$out")

  say "step: install the unit and (on a board) enable and restart s2i.service"
  local unit_ok=1
  board on_board_unit "UNIT_TEXT=$(cat "$REPO/deploy/s2i.service")" || unit_ok=0

  say "step: check that it came up"
  if [ "$unit_ok" = 1 ] && board on_board_came_up; then
    say "step: keep the newest $KEEP releases"
    board on_board_prune "KEEP_N=$KEEP"
    if [ "$DRY" = 1 ]; then
      say "step: only if it did not come up: switch back (the old links come from the switch step)"
      board on_board_switch_back "NAME=$name" "OLD_CURRENT=<old_current>" "OLD_PREVIOUS=<old_previous>"
      say "dry run: nothing was built, copied or changed"
    else say "done: $BOARD_LABEL runs release $name"; fi
    return 0
  fi
  board on_board_switch_back "NAME=$name" "OLD_CURRENT=$old_current" "OLD_PREVIOUS=$old_previous" ||
    die "release $name did not come up, and switching back failed too (above): look at $B_S2I on the board"
  if [ -n "$old_current" ]; then
    die "release $name did not come up (above); switched back to $old_current"
  fi
  die "release $name did not come up (above), and there was no earlier release to go back to: the service is stopped"
}

rollback() {
  check_reachable
  take_lock
  if [ -n "$ROOT" ] && [ -e "$B_S2I/previous/bin/s2i" ]; then
    B_RUNNER=$(local_runner "$(elf_machine "$B_S2I/previous/bin/s2i")")
  fi
  say "step: find the previous release"
  local out previous
  out=$(board on_board_previous) || die "rollback refused (above); nothing changed"
  [ "$DRY" = 0 ] || printf '%s\n' "$out"
  previous=$(field previous "$out")
  say "step: check the previous release on the board before switching back to it"
  board on_board_check_release "NAME=${previous:-<previous>}" "MARK_FAILED=0" ||
    die "the previous release $previous did not pass its checks on the board (above); nothing was switched"
  say "step: switch current back to the previous release"
  out=$(board on_board_rollback) || die "rollback refused (above); nothing changed"
  [ "$DRY" = 0 ] || printf '%s\n' "$out"
  say "step: check that it came up"
  if board on_board_came_up; then
    if [ "$DRY" = 1 ]; then
      say "step: only if it did not come up: switch back"
      board on_board_switch_back "NAME=" "OLD_CURRENT=<old_current>" "OLD_PREVIOUS=<old_previous>"
      say "dry run: nothing was changed"
    else say "done: $BOARD_LABEL runs $(readlink_board)"; fi
    return 0
  fi
  board on_board_switch_back "NAME=" "OLD_CURRENT=$(field old_current "$out")" "OLD_PREVIOUS=$(field old_previous "$out")" || true
  die "the previous release did not come up (above); switched back to $(field old_current "$out")"
}

readlink_board() {
  if [ -n "$ROOT" ]; then readlink "$B_S2I/current"; else echo "the previous release"; fi
}

main() {
  parse_args "$@"
  set_target
  SSH=(-o BatchMode=yes -o ConnectTimeout=10 -o ServerAliveInterval=15 -o ServerAliveCountMax=4)
  [ -z "$PORT" ] || SSH+=(-p "$PORT")
  if [ -n "$ROOT" ]; then
    case "$ROOT" in /*) ;; *) ROOT="$(pwd)/$ROOT" ;; esac
    ROOT=${ROOT%/}
    B_S2I="$ROOT/opt/s2i" B_UNIT_DIR="$ROOT/etc/systemd/system" B_ROOTMODE=1
    BOARD_LABEL=$ROOT
  else
    B_S2I=/opt/s2i B_UNIT_DIR=/etc/systemd/system B_ROOTMODE=0
    BOARD_LABEL=$BOARD
  fi
  B_RUNNER=""
  STAGE=""
  trap '[ -z "$STAGE" ] || rm -rf "$STAGE"' EXIT
  if [ "$DRY" = 1 ]; then say "dry run: printing every step; nothing is built, copied or changed"; fi
  if [ "$ROLLBACK" = 1 ]; then
    rollback
    return
  fi
  BUNDLE=$(resolve "$BUNDLE")
  CONFIG=$(resolve "$CONFIG")
  [ -f "$BUNDLE/manifest.json" ] || die "--bundle $BUNDLE is not a model bundle (no manifest.json)"
  check_bundle_files
  [ -f "$CONFIG" ] || die "--config $CONFIG: no such file"
  flash
}

main "$@"
