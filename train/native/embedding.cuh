// Token embedding: gather (fp32 table, fp32 residual stream) and a deterministic backward: the positions of each
// token id are grouped on the host (EmbedGroups, while the GPU runs the forward pass) and one block per distinct id sums
// its rows in position order; no atomics.
// Checks: gpu-check `cpu` (the embedding gradient against the CPU backend).
#pragma once
#include <algorithm>
#include <vector>
#include "common.cuh"

__global__ void embed_fwd_k(const int* __restrict__ tok, const float* __restrict__ E, float* __restrict__ x, long N, int d) {
  long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= N * d) return;
  long r = i / d;
  int j = i % d;
  x[i] = E[(long)tok[r] * d + j];
}
// one block per unique token; positions sorted: pos[off[u] .. off[u+1])
__global__ void embed_bwd_k(const int* __restrict__ ids, const int* __restrict__ off, const int* __restrict__ pos,
                            const float* __restrict__ dx, float* __restrict__ dE, int d) {
  int u = blockIdx.x;
  int id = ids[u], a = off[u], b = off[u + 1];
  for (int j = threadIdx.x; j < d; j += blockDim.x) {
    float s = 0.f;
    for (int k = a; k < b; k++) s += dx[(long)pos[k] * d + j];
    dE[(long)id * d + j] += s;
  }
}

static void embedForward(const int* tok, const float* E, float* x, long N, int d) {
  embed_fwd_k<<<nblk(N * d), 256, 0, g_stream>>>(tok, E, x, N, d);
  KCHECK("embed_fwd");
}
// positions grouped per token id on the host, copied to the device from pinned memory (asynchronously: the caller
// synchronises the stream before the next prepare())
struct EmbedGroups {
  int* host = nullptr;  // pinned [ids | off | pos]
  long hostCap = 0, unique = 0;
  int *ids = nullptr, *off = nullptr, *pos = nullptr;  // device, N, N + 1, N ints (set by the owner)
  void prepare(const std::vector<int>& in, long N, int V) {
    std::vector<int> cnt(V + 1, 0);
    for (long i = 0; i < N; i++) cnt[in[i] + 1]++;
    std::vector<int> uid, uoff(1, 0), p(N), start(V + 1, 0);
    for (int v = 0; v < V; v++) start[v + 1] = start[v] + cnt[v + 1];
    std::vector<int> fillp(start.begin(), start.end() - 1);
    for (long i = 0; i < N; i++) p[fillp[in[i]]++] = (int)i;
    for (int v = 0; v < V; v++)
      if (cnt[v + 1]) { uid.push_back(v); uoff.push_back(start[v + 1]); }
    unique = (long)uid.size();
    if (3 * N + 1 > hostCap) {
      if (host) CK(cudaFreeHost(host));
      host = nullptr;
      CK(cudaMallocHost(&host, (size_t)(3 * N + 1) * sizeof(int)));
      hostCap = 3 * N + 1;
    }
    int* hi = host;
    int* ho = hi + unique;
    int* hp = ho + unique + 1;
    std::copy(uid.begin(), uid.end(), hi);
    std::copy(uoff.begin(), uoff.end(), ho);
    std::copy(p.begin(), p.end(), hp);
    CK(cudaMemcpyAsync(ids, hi, unique * 4, cudaMemcpyHostToDevice, 0));
    CK(cudaMemcpyAsync(off, ho, (unique + 1) * 4, cudaMemcpyHostToDevice, 0));
    CK(cudaMemcpyAsync(pos, hp, N * 4, cudaMemcpyHostToDevice, 0));
  }
  // dE[id] += sum of dx over the id's positions
  void backward(const float* dx, float* dE, int d) {
    if (unique == 0) return;
    embed_bwd_k<<<(unsigned)unique, 256, 0, g_stream>>>(ids, off, pos, dx, dE, d);
    KCHECK("embed_bwd");
  }
  ~EmbedGroups() {
    if (host) cudaFreeHost(host);
  }
};
