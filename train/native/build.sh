#!/usr/bin/env bash
# Builds train/native/build/steel_cuda.node (N-API addon, CUDA C++) for Hopper (sm_90a).
# Env: NODE_INC (dir holding node_api.h; default: staged headers or the running node's), CUBLAS_INC / CUBLAS_LIB
# (default: /usr/local/cuda), ARCH (default: -gencode=arch=compute_90a,code=sm_90a), NVCC_EXTRA (more nvcc flags,
# e.g. -DSTEEL_NO_ATTN3 to build without train/native/attn3.cuh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$here/build
mkdir -p "$out"
NODE_INC=${NODE_INC:-}
if [[ -z $NODE_INC ]]; then
  for c in /tmp/node-inc/include/node "$(dirname "$(dirname "$(command -v node 2>/dev/null || echo /x/x)")")/include/node"; do
    [[ -f $c/node_api.h ]] && NODE_INC=$c && break
  done
fi
[[ -f $NODE_INC/node_api.h ]] || { echo "build.sh: node_api.h not found (set NODE_INC)" >&2; exit 1; }
CUDA=${CUDA_HOME:-/usr/local/cuda}
CUBLAS_INC=${CUBLAS_INC:-$CUDA/include}
CUBLAS_LIB=${CUBLAS_LIB:-$CUDA/lib64}
ARCH=${ARCH:--gencode=arch=compute_90a,code=sm_90a}
set -x
nvcc -O3 -std=c++17 ${NVCC_EXTRA:-} -shared -Xcompiler -fPIC,-Wall -Xptxas -v $ARCH -lineinfo \
  -I"$NODE_INC" -I"$CUBLAS_INC" "$here/steel_cuda.cu" -o "$out/steel_cuda.node.tmp" \
  -L"$CUBLAS_LIB" -lcublasLt -lcudart 2> "$out/ptxas.log" || { cat "$out/ptxas.log" >&2; exit 1; }
mv "$out/steel_cuda.node.tmp" "$out/steel_cuda.node"
grep -E "spill|Used [0-9]+ registers|Compiling entry" "$out/ptxas.log" | grep -B1 -E "attn|spill" | head -40 || true
echo "built $out/steel_cuda.node"
