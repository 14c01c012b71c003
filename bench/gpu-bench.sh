#!/usr/bin/env bash
# GPU benchmark (on the GPU host, repo root): the CUDA addon and the PyTorch baseline (eager + torch.compile), same
# command, same card. Presets: PRESETS=steel-1b,qwen2-dense-1b (default steel-1b). Logs and JSON in $OUT.
# Prepare .offline/ first on the dev machine: scripts/gpu/bundle.sh
exec env SECTIONS="bench torchbench" train/native/run-gpu-checks.sh "$@"
