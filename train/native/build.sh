#!/usr/bin/env bash
# Builds train/native/build/steel_cuda.node (N-API addon, CUDA C++) for Hopper (sm_90a).
# Env: NODE_INC (dir holding node_api.h; default: staged headers or the running node's), CUBLAS_INC / CUBLAS_LIB
# (default: $CUDA_HOME or /usr/local/cuda include / lib64), ARCH (default: -gencode=arch=compute_90a,code=sm_90a),
# NVCC_EXTRA (more nvcc flags), COMPILE_ONLY=1 (compile to build/steel_cuda.o without linking: a syntax and register
# check on a machine without a GPU or libcublasLt, e.g. with CUBLAS_INC pointing at the nvidia-cublas wheel's include/).
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
flags=(-O3 -std=c++17 ${NVCC_EXTRA:-} -Xcompiler -fPIC,-Wall -Xptxas -v $ARCH -lineinfo -I"$NODE_INC" -I"$CUBLAS_INC")
set -x
if [[ ${COMPILE_ONLY:-} == 1 ]]; then
  nvcc "${flags[@]}" -c "$here/steel_cuda.cu" -o "$out/steel_cuda.o" 2> "$out/ptxas.log" || { cat "$out/ptxas.log" >&2; exit 1; }
else
  nvcc "${flags[@]}" -shared "$here/steel_cuda.cu" -o "$out/steel_cuda.node.tmp" -L"$CUBLAS_LIB" -lcublasLt -lcudart \
    2> "$out/ptxas.log" || { cat "$out/ptxas.log" >&2; exit 1; }
  mv "$out/steel_cuda.node.tmp" "$out/steel_cuda.node"
fi
set +x
grep -B1 -E "warning|[1-9][0-9]* bytes spill stores" "$out/ptxas.log" | head -20 || true
echo "built $out/$([[ ${COMPILE_ONLY:-} == 1 ]] && echo steel_cuda.o || echo steel_cuda.node)"
