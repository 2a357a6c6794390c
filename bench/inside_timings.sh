#!/bin/sh
# CPU timings of the Lesion, Landscape and Layers views on the shipped depth-56 pair (plain-56, ResNet-56 (A)).
# Usage: sh bench/inside_timings.sh PLAIN_RUN RESNET_RUN [OUT_DIR]   (run ids from `python -m core list`)
# Each command recomputes (--time drops its cached result) and prints one JSON object with its seconds.
set -e
PLAIN=$1; RESNET=$2; OUT=${3:-bench/results}
STAMP=$(date -u +%Y%m%d-%H%M%S)
mkdir -p "$OUT"
run() { name=$1; shift; echo "== $name: python -m core $*" >&2; python -m core "$@" --time --json > "$OUT/inside-$STAMP-$name.json"; }
run lesion-resnet lesion "$RESNET" --images 500 --k-images 200 --draws 3
run lesion-plain lesion "$PLAIN" --images 500 --k-images 200 --draws 3
run features-resnet features "$RESNET" --image 0 --block stage2.block0
run slice-resnet landscape "$RESNET" --kind 1d --grid 41 --batch 128
run slice-plain landscape "$PLAIN" --kind 1d --grid 41 --batch 128
run coarse-resnet landscape "$RESNET" --kind 2d --grid 11 --batch 128
run coarse-plain landscape "$PLAIN" --kind 2d --grid 11 --batch 128
run fine-resnet landscape "$RESNET" --kind 2d --grid 41 --batch 128
