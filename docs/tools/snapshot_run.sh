#!/usr/bin/env bash
# Copies a run folder's kept files into docs/runs/NAME (see docs/runs/README.md):
#   config.json, metrics.jsonl, summary.json (always);
#   checkpoint/ while the run is unfinished (stop_reason "interrupted" or no summary yet), so
#     the next sitting can resume it even on a new machine; removed once the run has ended;
#   best/ when the run's best iteration is not the checkpoint's (resume rewrites best/ from the
#     checkpoint when they are the same), and always once the run has ended;
#   pretrained.safetensors when the run made one (the PT+HF runs start from it).
# Stop the run first (one SIGINT: it finishes its iteration and writes checkpoint and summary).
# --no-checkpoint leaves an unfinished run's checkpoint/ out (and removes an older one here):
# for runs that are cheaper to replay than to keep in the history (an MNIST NCG checkpoint is
# 34 MB, each commit of one stays in the repository for good).
#
# usage: docs/tools/snapshot_run.sh [--no-checkpoint] RUN_FOLDER [NAME]
set -euo pipefail
keep_checkpoint=1
if [ "${1:-}" = --no-checkpoint ]; then keep_checkpoint=0; shift; fi
run=${1:?usage: snapshot_run.sh [--no-checkpoint] RUN_FOLDER [NAME]}
name=${2:-$(basename "$run")}
dest="$(cd "$(dirname "$0")/.." && pwd)/runs/$name"
[ -f "$run/config.json" ] && [ -f "$run/metrics.jsonl" ] || { echo "error: $run is not a run folder" >&2; exit 1; }
if pgrep -f -- "(--out|--resume)[ =][^ ]*$(basename "$run")/?( |\$)" >/dev/null; then
  echo "error: a training process for $run still runs; stop it first (one SIGINT)" >&2; exit 1
fi
mkdir -p "$dest"
cp "$run/config.json" "$run/metrics.jsonl" "$dest/"
stop=unfinished; best=""; at=""
if [ -f "$run/summary.json" ]; then
  cp "$run/summary.json" "$dest/"
  read -r stop best < <(python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(s["stop_reason"], s.get("best_iteration"))' "$run/summary.json")
fi
if [ -f "$run/checkpoint/optimizer_state.json" ]; then
  at=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["iteration"])' "$run/checkpoint/optimizer_state.json")
fi
rm -rf "$dest/checkpoint" "$dest/best"
if [ "$stop" = interrupted ] || [ "$stop" = unfinished ]; then
  if [ "$keep_checkpoint" = 1 ]; then
    cp -r "$run/checkpoint" "$dest/checkpoint"
    if [ -d "$run/best" ] && [ "$best" != "$at" ]; then cp -r "$run/best" "$dest/best"; fi
  fi
elif [ -d "$run/best" ]; then
  cp -r "$run/best" "$dest/best"
fi
[ -f "$run/pretrained.safetensors" ] && cp "$run/pretrained.safetensors" "$dest/"
kept=""; [ -d "$dest/checkpoint" ] || kept=" (checkpoint not kept)"
echo "$name: stop_reason $stop, checkpoint iteration ${at:-none}${kept}, best iteration ${best:-none} -> $dest"
du -sh "$dest"
