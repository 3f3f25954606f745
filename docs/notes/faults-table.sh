#!/usr/bin/env bash
# Runs each fault of issue 22 through an s2i binary and prints the rows of the table in
# docs/notes/faults.md: what was given, what s2i printed on stderr (lines joined by |), its exit
# status, its wall time and peak resident memory (GNU time), each run under a 1 GiB
# address-space limit and a 20 s guard.
#
#   bash docs/notes/faults-table.sh [S2I]        (default: target/debug/s2i)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
# As deploy/s2i.service once set it: an error must still be one line.
export RUST_BACKTRACE=1
S2I=$(realpath "${1:-target/debug/s2i}")
[ -x /usr/bin/time ] || { echo "needs GNU time (/usr/bin/time)" >&2; exit 1; }
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
B=models/default
SAMPLE=$B/samples/yellow_body_black_wings.wav

row() {
  local what=$1
  shift
  local rc=0
  # A 20 s guard: exit status 124 means it was still running.
  (ulimit -v 1048576; exec /usr/bin/time -f '%e %M' -o "$W/time" timeout 20 "$@") >"$W/out" 2>"$W/err" || rc=$?
  local line time rss
  line=$(sed "s#$W#W#g" "$W/err" | paste -sd '|' -)
  # GNU time puts "Command exited with non-zero status N" first; the figures are the last line.
  read -r time rss < <(tail -n 1 "$W/time")
  printf '| %s | `` %s `` | %s | %.2f s | %d MB |\n' "$what" "$line" "$rc" "$time" "$((rss / 1024))"
}

# A 44-byte PCM header: channels, rate, block align, bits, declared data bytes; then 70 KB.
wav() {
  python3 - "$@" <<'EOF'
import struct, sys
out, ch, rate, align, bits, data = sys.argv[1], *map(int, sys.argv[2:])
h = b"RIFF" + struct.pack("<I", (36 + data) & 0xffffffff) + b"WAVEfmt " + struct.pack(
    "<IHHIIHH", 16, 1, ch, rate, (rate * align) & 0xffffffff, align, bits) + b"data" + struct.pack("<I", data)
open(out, "wb").write(h + b"\x80" * 70000)
EOF
}

# The shipped bundle beside an edited manifest (models hard-linked, else copied).
bundle() {
  local dir=$W/$1
  mkdir -p "$dir"
  for f in $B/*.onnx; do ln "$f" "$dir/" 2>/dev/null || cp "$f" "$dir/"; done
  python3 - "$B/manifest.json" "$dir/manifest.json" "$2" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))
exec(sys.argv[3])
json.dump(m, open(sys.argv[2], "w"), indent=1)
EOF
  echo "$dir"
}

# A kiosk config NAME with BODY (its [audio] and [display]); BUNDLE defaults to the shipped one.
config() {
  local name=$1 body=$2 bundle=${3:-$(realpath $B)}
  printf 'mode = "kiosk"\nbundle = "%s"\n%s' "$bundle" "$body" >"$W/$name.toml"
  echo "$W/$name.toml"
}
WAVAUDIO=$(printf '\n[audio]\nsource = "wav"\nwav_files = ["%s"]\n' "$(realpath $SAMPLE)")
PNG=$(printf '\n[display]\nkind = "png"\npath = "%s/screen.png"\n' "$W")

echo '| case | what s2i says (stderr) | exit | time | peak RSS |'
echo '|---|---|---|---|---|'
wav "$W/fast.wav" 1 4294967295 1 8 4294967294
wav "$W/wide.wav" 65535 48000 65535 8 4294836225
row "wav: 4 294 967 294 samples at 4 294 967 295 Hz (features)" "$S2I" features "$W/fast.wav"
row "wav: the same (generate)" "$S2I" generate --wav "$W/fast.wav" --out "$W/o.png"
row "wav: 65 535 channels at 48 kHz (features)" "$S2I" features "$W/wide.wav"
mkfifo "$W/fifo.wav"
row "--wav a FIFO" "$S2I" generate --wav "$W/fifo.wav" --out "$W/o.png"
row "--wav /dev/zero" "$S2I" features /dev/zero
row "--wav /dev/urandom" "$S2I" features /dev/urandom
row "--wav a directory" "$S2I" features "$W"

Z14=$(bundle z14 'm["hyper_parameters"]["generator"]["z_dim"] = 10**14')
row "manifest z_dim = 1e14 (check)" "$S2I" check --bundle "$Z14"
row "the same (generate)" "$S2I" generate --bundle "$Z14" --wav $SAMPLE --out "$W/o.png"
row "the same (run --check)" "$S2I" run --check --config "$(config z14 "$WAVAUDIO$PNG" "$Z14")"
row "manifest z_dim = 101" "$S2I" check --bundle "$(bundle z101 'm["hyper_parameters"]["generator"]["z_dim"] = 101')"
row "manifest min_frames = u64::MAX" "$S2I" check --bundle "$(bundle mf 'm["hyper_parameters"]["min_frames"] = 2**64 - 1')"
row "manifest noise shape [1, 99] (z_dim 99); the model's is [1, 100]" "$S2I" check --bundle "$(bundle n99 'm["hyper_parameters"]["generator"]["z_dim"] = 99; m["files"][1]["inputs"][1]["shape"][1] = 99')"
row "manifest stage-1 image [1, 3, 32, 32]; the model draws 64²" "$S2I" check --bundle "$(bundle i32 'm["files"][1]["outputs"][0]["shape"][2:4] = [32, 32]')"

L=$(bundle link 'pass')
mv "$L/generator_stage2.onnx" "$W/outside.onnx"
ln -s "$W/outside.onnx" "$L/generator_stage2.onnx"
row "bundle: an ONNX file linked outside (hash matches)" "$S2I" check --bundle "$L"
rm "$L/generator_stage2.onnx"
ln -s /dev/zero "$L/generator_stage2.onnx"
row "bundle: an ONNX file linked to /dev/zero" "$S2I" check --bundle "$L"
M=$(bundle mlink 'pass')
mv "$M/manifest.json" "$W/outside.json"
ln -s "$W/outside.json" "$M/manifest.json"
row "bundle: manifest.json linked outside" "$S2I" check --bundle "$M"
F=$(bundle folder 'm["files"][0]["path"] = "nets/speech_encoder.onnx"')
mkdir "$W/nets"
mv "$F/speech_encoder.onnx" "$W/nets/"
ln -s "$W/nets" "$F/nets"
row "bundle: a folder linked outside" "$S2I" check --bundle "$F"

row "generate --out x.bmp" "$S2I" generate --wav $SAMPLE --out "$W/x.bmp"
row "generate --out an existing folder" "$S2I" generate --wav $SAMPLE --out "$W"
"$S2I" generate --wav $SAMPLE --out "$W/good.png" >/dev/null
row "generate over a good PNG, the disk full after 4 KiB (ulimit -f 4)" bash -c "trap '' XFSZ; ulimit -f 4; exec $S2I generate --wav $SAMPLE --out $W/good.png"
row "grid --cell 100000 (3 wavs)" "$S2I" grid --cell 100000 --out "$W/sheet.png" $SAMPLE $SAMPLE $SAMPLE

SPI='
[display]
kind = "spi"
controller = "st7789"
width = 240
height = 240
spidev = "/dev/spidev9.9"
speed_hz = 40000000
gpio_chip = "pinctrl-bcm2711"
dc = 25
'
row "run --check: spidev /dev/spidev9.9 missing" "$S2I" run --check --config "$(config spi "$WAVAUDIO$SPI")"
sed 's/mode = "kiosk"/mode = "handheld"/' "$(config gpio "$WAVAUDIO$PNG")" >"$W/gpio2.toml"
printf '\n[button]\nkind = "gpio"\ngpio_chip = "pinctrl-bcm2711"\nline = 9999\n' >>"$W/gpio2.toml"
row "run --check: GPIO button line 9999" "$S2I" run --check --config "$W/gpio2.toml"
row "run --check: PNG screen 100000 × 100000" "$S2I" run --check --config "$(config png "$WAVAUDIO$PNG
width = 100000
height = 100000
")"
row "run --check: framebuffer /dev/fb7 missing" "$S2I" run --check --config "$(config fb "$WAVAUDIO
[display]
kind = \"framebuffer\"
device = \"/dev/fb7\"
")"
row "run --check: microphone, binary without the feature" "$S2I" run --check --config "$(config mic "
[audio]
source = \"microphone\"
$PNG")"

row "an error with RUST_BACKTRACE=1" env RUST_BACKTRACE=1 "$S2I" check --bundle /no/such/bundle
