#!/usr/bin/env sh
# Rebuilds the labelled call corpus: the caller scripts in sim/corpus/*.yaml are played through the engine
# (seed 0, default offline config) and written as recordings with their labels to sim/calls/*.jsonl.
set -eu
cd "$(dirname "$0")/.."
rm -f sim/calls/*.jsonl
"${SIM:-sim}" run sim/corpus --record sim/calls --seed 0 --quiet
