#!/usr/bin/env bash
# Installed size of a bot image's requirement set (the host + this plugin's runtime deps), resolved
# for Lambda's Python 3.11 on x86_64 with pip install --target, per host major.
#   bash benchmarks/host_requirement_size.sh [OUT_DIR]     (needs python3.11 and PyPI; ~6 min)
# 2026-11-29: 8.10.0 -> 1,028,981,398 bytes, 156 distributions (200 s);
#             9.0.0a20 -> 654,727,291 bytes, 67 distributions (150 s): no Azure SDKs, Jupyter/IPython, plotly.
set -u
out=${1:-$(mktemp -d)}
mkdir -p "$out"
for spec in "investing-algorithm-framework==8.10.0" "investing-algorithm-framework==9.0.0a20"; do
  dir=$out/$(echo "$spec" | tr '=' '_')
  rm -rf "$dir"
  start=$(date +%s)
  python3.11 -m pip install --quiet --no-compile --target "$dir" --implementation cp --python-version 3.11 \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --only-binary=:all: "$spec" "boto3>=1.34" "pluggy>=1.3" "click>=8.1" > "$dir.log" 2>&1
  rc=$?
  end=$(date +%s)
  echo "$spec rc=$rc seconds=$((end-start)) bytes=$(du -sb "$dir" | cut -f1) packages=$(ls "$dir" | grep -c dist-info)"
done
