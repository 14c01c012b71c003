// Steel CUDA backend: N-API addon (plain C API) driving a bf16 Qwen2 / Steel-LLM (Soft-MoE) trainer on one GPU.
// fp32 master weights + bf16 shadow copies, fp32 AdamW moments and gradients, cuBLASLt GEMMs (fp32 accumulate).
// This file holds the model (parameter layout, activation buffers, the order of the forward and backward passes) and
// the N-API glue; each concern's kernels and launchers live in its own header (the llm.c way):
//   common.cuh (types, checks, reductions, profiler)   tile.cuh (mma / ldmatrix / cp.async tile helpers)
//   attention.cuh  rmsnorm.cuh  rope.cuh  swiglu.cuh  softmoe.cuh  embedding.cuh  crossentropy.cuh  adamw.cuh
//   decode.cuh (KV cache, decode attention, greedy argmax; the pass order is the Decoder below the Model)
//   cublaslt.cuh (GEMM wrapper)  nccl.cuh (data-parallel gradient all-reduce)
#include <node_api.h>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>
#include "common.cuh"
#include "cublaslt.cuh"
#include "nccl.cuh"
#include "attention.cuh"
#include "rmsnorm.cuh"
#include "rope.cuh"
#include "swiglu.cuh"
#include "softmoe.cuh"
#include "embedding.cuh"
#include "crossentropy.cuh"
#include "adamw.cuh"
#include "decode.cuh"

// ============================================================================ model
struct Cfg {
  int V, d, L, H, Hk, hd, I, ne, np;
  bool steel;
  double theta, eps, initStd;
  int pad;
};
struct Param {
  std::string name;
  std::vector<long> shape;
  long off, size;
  int init;  // 0 normal, 1 ones, 2 zeros, 3 phi
};
struct LayerP {
  long ln1, qkvw, qkvb, ow, ln2;
  MoeW moe;      // steel: expert gate_up|up stacked [ne][2I, d]; gate_down|down stacked [ne][2d, I]
  long guw, dw;  // dense: gate|up [2I, d]; down [d, I]
};
struct LayerA {  // saved activations
  float *xin, *xmid, *r1, *r2, *lse;
  bf16 *xn1, *qkv, *att, *xn2;
  MoeAct moe;    // steel
  bf16 *gu, *hm;  // dense
};

class Arena {
 public:
  char* base = nullptr;
  size_t cap = 0, used = 0;
  void reset(size_t bytes) {
    if (base) devFree(base, cap);
    base = nullptr;
    base = (char*)devAlloc(bytes);
    cap = bytes;
    used = 0;
  }
  template <typename T>
  T* get(size_t n) {
    size_t bytes = (n * sizeof(T) + 255) & ~(size_t)255;
    if (used + bytes > cap) throw std::runtime_error("internal: activation arena overflow");
    T* p = (T*)(base + used);
    used += bytes;
    return p;
  }
  ~Arena() {
    if (base) devFree(base, cap);
  }
};

class Model {
 public:
  Cfg c;
  int S = 0, qd = 0, kd = 0, ldq = 0, ldl = 0;  // ldl: row stride of the logits (V rounded up to 8)
  std::vector<Param> params;
  std::map<std::string, int> byName;
  std::vector<LayerP> lp;
  long embOff = 0, normOff = 0, lmOff = 0, total = 0;
  float *P = nullptr, *G = nullptr, *M1 = nullptr, *M2 = nullptr;
  bf16* PB = nullptr;  // bf16 shadow, valid for offsets >= pbOff
  bf16* PBbase = nullptr;
  long pbOff = 0;
  long step = 0;
  Gemm gemm;
  SoftMoe moe;
  GradReducer dp;
  EmbedGroups emb;
  Prof prof;
  // activations
  Arena arena;
  int capB = 0, capT = 0;
  std::vector<LayerA> la;
  float* resid = nullptr;
  bf16* xnS = nullptr;  // the shared xn1 buffer (recomputed in the backward pass)
  float *rf = nullptr, *ropeC = nullptr, *ropeS = nullptr;
  bf16 *xf = nullptr, *logits = nullptr, *dRb = nullptr, *datt = nullptr, *dqkv = nullptr;
  float *dR = nullptr, *dxn = nullptr, *delta = nullptr, *lossrow = nullptr, *logp = nullptr, *wts = nullptr, *part = nullptr;
  MoeScratch ms{};
  bf16* dgu = nullptr;  // dense
  float* dh = nullptr;  // dense
  int *tokIn = nullptr, *tokTgt = nullptr;
  double *dsum = nullptr, *seqD = nullptr;
  float* normOut = nullptr;
  int chunkRows = 0;
  std::string devName;
  int ropeT = 0;
  long lastCount = 0;
  float* tmpF = nullptr;
  size_t tmpFcap = 0;
  // zeroGrad is lazy: the next backward pass writes the matrix gradients with beta = 0 (the GEMM epilogues neither read
  // zeros nor need a memset of 3/4 of G) and zeroes only the rest of G first; any other reader or writer of G between
  // zeroGrad and that backward pass zeroes all of it (gradsMaterialize)
  bool gradZeroPending = false;
  std::vector<std::pair<long, long>> gemmSeg;  // [off, off + n) in layout order: written whole by one GEMM per backward
  void gradsMaterialize() {
    if (!gradZeroPending) return;
    CK(cudaMemsetAsync(G, 0, (size_t)total * 4, g_stream));
    gradZeroPending = false;
  }
  // at the start of a backward pass: the beta of each matrix gradient's first GEMM (0 after zeroGrad)
  float gradBeta() {
    if (!gradZeroPending) return 1.f;
    long at = 0;
    for (const auto& sg : gemmSeg) {
      if (sg.first > at) CK(cudaMemsetAsync(G + at, 0, (size_t)(sg.first - at) * 4, g_stream));
      at = sg.first + sg.second;
    }
    if (total > at) CK(cudaMemsetAsync(G + at, 0, (size_t)(total - at) * 4, g_stream));
    gradZeroPending = false;
    return 0.f;
  }

  explicit Model(const Cfg& cfg) : c(cfg) {
    if (c.hd % 8 != 0 || c.hd > 64) throw std::runtime_error(strf("cuda backend: headDim must be a multiple of 8 and <= 64 (got %d)", c.hd));
    if (c.H % c.Hk) throw std::runtime_error("cuda backend: numHeads must be a multiple of numKvHeads");
    if (c.d % 4 || c.d > RMS_MAX_D)
      throw std::runtime_error(strf("cuda backend: hiddenSize must be a multiple of 4 and <= %d (got %d)", RMS_MAX_D, c.d));
    S = c.steel ? c.ne * c.np : 0;
    qd = c.H * c.hd;
    kd = c.Hk * c.hd;
    ldq = qd + 2 * kd;
    ldl = (c.V + 7) / 8 * 8;
    int dev;
    CK(cudaGetDevice(&dev));
    cudaDeviceProp pr;
    CK(cudaGetDeviceProperties(&pr, dev));
    devName = pr.name;
    ceSetup(ldl);
    if (c.steel) moe.setup(c.d, c.I, c.ne, c.np);
    layout();
    size_t bytes = (size_t)total * 4;
    P = (float*)devAlloc(bytes);
    G = (float*)devAlloc(bytes);
    M1 = (float*)devAlloc(bytes);
    M2 = (float*)devAlloc(bytes);
    // bf16 shadow copies only from the first parameter after the embedding (the embedding is gathered in fp32)
    pbOff = params.size() > 1 ? params[1].off : 0;
    PBbase = (bf16*)devAlloc((size_t)(total - pbOff) * 2);
    PB = PBbase - pbOff;
    CK(cudaMemset(P, 0, bytes));
    CK(cudaMemset(G, 0, bytes));
    CK(cudaMemset(M1, 0, bytes));
    CK(cudaMemset(M2, 0, bytes));
    CK(cudaMemset(PBbase, 0, (size_t)(total - pbOff) * 2));
    dsum = (double*)devAlloc(4096 * sizeof(double));
    normOut = (float*)devAlloc(16);
    gemm.init();
  }
  ~Model() {
    dp.shutdown();
    size_t bytes = (size_t)total * 4;
    devFree(P, bytes); devFree(G, bytes); devFree(M1, bytes); devFree(M2, bytes);
    devFree(PBbase, (size_t)(total - pbOff) * 2);
    devFree(dsum, 4096 * sizeof(double)); devFree(normOut, 16);
    devFree(tmpF, tmpFcap * 4);
  }

  long cursor = 0;
  void alignCursor() { cursor = (cursor + 127) & ~127L; }
  long add(const std::string& name, std::vector<long> shape, int init, bool newGroup = true) {
    if (newGroup) alignCursor();
    long n = 1;
    for (long s : shape) n *= s;
    Param p{name, shape, cursor, n, init};
    byName[name] = (int)params.size();
    params.push_back(p);
    long o = cursor;
    cursor += n;
    return o;
  }
  void layout() {
    const long d = c.d, I = c.I;
    embOff = add("model.embed_tokens.weight", {c.V, d}, 0);
    lp.resize(c.L);
    for (int l = 0; l < c.L; l++) {
      std::string p = "model.layers." + std::to_string(l) + ".";
      LayerP& L = lp[l];
      L.ln1 = add(p + "input_layernorm.weight", {d}, 1);
      L.qkvw = add(p + "self_attn.q_proj.weight", {qd, d}, 0);
      gemmSeg.push_back({L.qkvw, (qd + 2 * kd) * d});
      add(p + "self_attn.k_proj.weight", {kd, d}, 0, false);
      add(p + "self_attn.v_proj.weight", {kd, d}, 0, false);
      L.qkvb = add(p + "self_attn.q_proj.bias", {qd}, 2);
      add(p + "self_attn.k_proj.bias", {kd}, 2, false);
      add(p + "self_attn.v_proj.bias", {kd}, 2, false);
      L.ow = add(p + "self_attn.o_proj.weight", {d, qd}, 0);
      gemmSeg.push_back({L.ow, d * qd});
      L.ln2 = add(p + "post_attention_layernorm.weight", {d}, 1);
      if (!c.steel) {
        L.guw = add(p + "mlp.gate_proj.weight", {I, d}, 0);
        add(p + "mlp.up_proj.weight", {I, d}, 0, false);
        gemmSeg.push_back({L.guw, 2 * I * d});
        L.dw = add(p + "mlp.down_proj.weight", {d, I}, 0);
        gemmSeg.push_back({L.dw, d * I});
      } else {
        L.moe.phi = add(p + "mlp.phi", {d, c.ne, c.np}, 3);
        L.moe.scale = add(p + "mlp.scale", {1}, 1);
        for (int e = 0; e < c.ne; e++) {
          std::string x = p + "mlp.experts." + std::to_string(e) + ".";
          long o = add(x + "gate_up_proj.weight", {I, d}, 0, e == 0);
          if (e == 0) L.moe.eguw = o;
          add(x + "up_proj.weight", {I, d}, 0, false);
        }
        gemmSeg.push_back({L.moe.eguw, c.ne * 2 * I * d});
        for (int e = 0; e < c.ne; e++) {
          std::string x = p + "mlp.experts." + std::to_string(e) + ".";
          long o = add(x + "gate_down_proj.weight", {d, I}, 0, e == 0);
          if (e == 0) L.moe.egdw = o;
          add(x + "down_proj.weight", {d, I}, 0, false);
        }
        gemmSeg.push_back({L.moe.egdw, c.ne * 2 * d * I});
      }
    }
    normOff = add("model.norm.weight", {d}, 1);
    lmOff = add("lm_head.weight", {c.V, d}, 0);
    gemmSeg.push_back({lmOff, (long)c.V * d});
    alignCursor();
    total = cursor;
  }
  const Param& param(const std::string& name) {
    auto it = byName.find(name);
    if (it == byName.end()) throw std::runtime_error("cuda backend: no parameter named \"" + name + "\"");
    return params[it->second];
  }
  void refreshBf16(long off, long n) {
    if (off < pbOff) { n -= pbOff - off; off = pbOff; }
    if (n <= 0) return;
    cast_f2b_k<<<nblk(n), 256, 0, g_stream>>>(P + off, PB + off, n);
    KCHECK("cast_f2b");
  }
  void initParams(uint64_t seed) {
    for (size_t i = 0; i < params.size(); i++) {
      const Param& p = params[i];
      if (p.init == 1) fill_k<<<std::min(nblk(p.size), 4096u), 256, 0, g_stream>>>(P + p.off, p.size, 1.f);
      else if (p.init == 2) fill_k<<<std::min(nblk(p.size), 4096u), 256, 0, g_stream>>>(P + p.off, p.size, 0.f);
      else {
        float std = p.init == 3 ? (float)(1.0 / std::sqrt((double)c.d)) : (float)c.initStd;
        init_normal_k<<<std::min(nblk(p.size), 8192u), 256, 0, g_stream>>>(P + p.off, p.size, seed * 0x100000001B3ULL + i * 0x9E3779B97F4A7C15ULL, std);
      }
      KCHECK("init");
    }
    refreshBf16(0, total);
    CK(cudaMemset(M1, 0, (size_t)total * 4));
    CK(cudaMemset(M2, 0, (size_t)total * 4));
    step = 0;
    CK(cudaDeviceSynchronize());
  }

  // ---------------------------------------------------------------- activation buffers
  void ensure(int B, int T) {
    if (B <= capB && T <= capT && (long)B * T <= (long)capB * capT) return;
    B = std::max(B, capB);
    T = std::max(T, capT);
    la.assign(c.L, LayerA{});
    for (int pass = 0; pass < 2; pass++) {
      if (pass == 1) arena.reset(arena.used + (1 << 20));
      arena.used = 0;
      if (pass == 0) arena.cap = SIZE_MAX;  // sizing pass (pointers unused)
      const long N = (long)B * T, d = c.d;
      const long R = (long)B * c.np;
      for (int l = 0; l < c.L; l++) {
        LayerA& a = la[l];
        a.xin = arena.get<float>(N * d);
        a.xmid = arena.get<float>(N * d);
        a.r1 = arena.get<float>(N);
        a.r2 = arena.get<float>(N);
        a.lse = arena.get<float>((long)B * c.H * T);
        a.xn1 = nullptr;  // shared scratch (xnS), recomputed in the backward pass
        a.qkv = arena.get<bf16>(N * ldq);
        a.att = arena.get<bf16>(N * qd);
        a.xn2 = arena.get<bf16>(N * d);
        if (c.steel) {
          MoeAct& m = a.moe;
          m.xn2 = a.xn2;
          m.rinv = arena.get<float>(N);
          m.Lg = arena.get<float>(N * S);
          m.D = arena.get<float>(N * S);
          m.C = arena.get<float>(N * S);
          m.slots = arena.get<float>((long)B * S * d);
          m.slotsb = arena.get<bf16>((long)B * S * d);
          m.Ys = arena.get<float>((long)B * S * d);
          m.phihat = arena.get<float>(d * S);
          m.phinorm = arena.get<float>(S);
          m.gu1 = arena.get<bf16>((long)c.ne * R * 2 * c.I);
          m.h1 = arena.get<bf16>((long)c.ne * R * c.I);
          m.gd2 = arena.get<bf16>((long)c.ne * R * 2 * d);
        } else {
          a.gu = arena.get<bf16>(N * 2 * c.I);
          a.hm = arena.get<bf16>(N * c.I);
        }
      }
      xnS = arena.get<bf16>(N * d);
      for (auto& a : la) a.xn1 = xnS;
      resid = arena.get<float>(N * d);
      rf = arena.get<float>(N);
      xf = arena.get<bf16>(N * d);
      ropeC = arena.get<float>((long)T * c.hd / 2);
      ropeS = arena.get<float>((long)T * c.hd / 2);
      {
        long cr = (1200L << 20) / 2 / ldl;  // ~1.2 GB of bf16 logits: 4,096 rows for the Qwen vocabulary
        if (cr >= 256) cr = cr / 256 * 256;
        chunkRows = (int)std::max(1L, std::min(N, cr));
      }
      logits = arena.get<bf16>((long)chunkRows * ldl);
      lossrow = arena.get<float>(N);
      logp = arena.get<float>(N);
      seqD = arena.get<double>(B);
      wts = arena.get<float>(N);
      dR = arena.get<float>(N * d);
      dRb = arena.get<bf16>(N * d);
      dxn = arena.get<float>(N * d);
      datt = arena.get<bf16>(N * qd);
      dqkv = arena.get<bf16>(N * ldq);
      delta = arena.get<float>((long)B * c.H * T);
      part = arena.get<float>((size_t)B * ((T + 63) / 64) * std::max<long>(d, ldq));  // per-64-row-block column partials
      if (c.steel) {
        ms.dYs = arena.get<float>((long)B * S * d);
        ms.dXs = arena.get<float>((long)B * S * d);
        ms.dh = arena.get<float>((long)c.ne * R * c.I);
        ms.dgu = arena.get<bf16>((long)c.ne * R * 2 * std::max<long>(c.I, d));
        ms.dC = arena.get<float>(N * S);
        ms.dD = arena.get<float>(N * S);
        ms.dL = arena.get<float>(N * S);
        ms.dph = arena.get<float>(d * S);
        ms.mpart = arena.get<float>(moe.mpartFloats(B, T));
      } else {
        dh = arena.get<float>(N * c.I);
        dgu = arena.get<bf16>(N * 2 * c.I);
      }
      tokIn = arena.get<int>(N);
      tokTgt = arena.get<int>(N);
      emb.ids = arena.get<int>(N);
      emb.off = arena.get<int>(N + 1);
      emb.pos = arena.get<int>(N);
    }
    CK(cudaMemset(arena.base, 0, arena.cap));
    capB = B;
    capT = T;
    ropeT = 0;
  }

  // ---------------------------------------------------------------- forward / backward
  // tokens: B x (T+1) when withTargets, else B x T. weights (B x T, optional): per-target loss weights (see backend.ts:
  // the loss is then the weighted SUM and padId is not special); without them the loss is the mean over non-pad targets.
  // Returns the summed (weighted) loss; lastCount = number of counted targets. seqOut (B doubles, optional): per row
  // sum_t w_bt * log p(target_bt). logitsOut (optional): fp32 logits B x T x V.
  double run(const int* tokens, int B, int T, bool withTargets, bool backward, float gradScale, float* logitsOut,
             const float* weights = nullptr, double* seqOut = nullptr) {
    const long N = (long)B * T, d = c.d;
    if (backward) dp.checkNoReduceInFlight("forwardBackward");
    ensure(B, T);
    if (ropeT != T) { ropeTables(ropeC, ropeS, T, c.hd, c.theta); ropeT = T; }
    std::vector<int> in(N), tg(N, c.pad);
    std::vector<float> wv(N, 0.f);
    long count = 0;
    bool anyW = false;
    for (int b = 0; b < B; b++)
      for (int t = 0; t < T; t++) {
        const long i = (long)b * T + t;
        int x = withTargets ? tokens[(long)b * (T + 1) + t] : tokens[i];
        if (x < 0 || x >= c.V) throw std::runtime_error(strf("input token %d at [%d,%d] outside the vocabulary (size %d)", x, b, t, c.V));
        in[i] = x;
        if (!withTargets) continue;
        int y = tokens[(long)b * (T + 1) + t + 1];
        float w = weights ? weights[i] : (y == c.pad ? 0.f : 1.f);
        if (!std::isfinite(w)) throw std::runtime_error(strf("loss weight %g at [%d,%d] is not finite", w, b, t));
        if (w != 0.f && (y < 0 || y >= c.V))
          throw std::runtime_error(strf("target token %d at [%d,%d] outside the vocabulary (size %d)", y, b, t + 1, c.V));
        tg[i] = w != 0.f ? y : (y >= 0 && y < c.V ? y : 0);
        wv[i] = w;
        if (w != 0.f) { count++; anyW = true; }
      }
    CK(cudaMemcpy(tokIn, in.data(), N * 4, cudaMemcpyHostToDevice));
    if (withTargets) {
      CK(cudaMemcpy(tokTgt, tg.data(), N * 4, cudaMemcpyHostToDevice));
      CK(cudaMemcpy(wts, wv.data(), N * 4, cudaMemcpyHostToDevice));
    }
    prof.start();
    const float scale = 1.f / std::sqrt((float)c.hd), sl2 = scale * 1.4426950408889634f;
    // ---- forward
    if (c.steel) {  // every layer's Soft-MoE router weights, one launch
      std::vector<const MoeW*> mw(c.L);
      std::vector<MoeAct*> ma(c.L);
      for (int l = 0; l < c.L; l++) mw[l] = &lp[l].moe, ma[l] = &la[l].moe;
      moe.phi(P, mw.data(), ma.data(), c.L);
      prof.mark("moe_f_router");
    }
    embedForward(tokIn, P + embOff, la[0].xin, N, c.d);
    prof.mark("embed_fwd");
    const float* pend = nullptr;  // dense: this layer's input is pend + dRb (the FFN output), added by its RMSNorm
    bool normed = false;          // steel: the previous layer's Soft-MoE combine wrote this layer's xn1 and r1 (or xf, rf)
    for (int l = 0; l < c.L; l++) {
      LayerA& a = la[l];
      LayerP& w = lp[l];
      if (!normed) {
        rmsnormForward(pend ? pend : a.xin, pend ? dRb : nullptr, pend ? a.xin : nullptr, P + w.ln1, a.xn1, a.r1, N, c.d, (float)c.eps);
        prof.mark("rmsnorm_fwd");
      }
      pend = nullptr;
      normed = false;
      linear(a.xn1, N, c.d, w.qkvw, ldq, a.qkv, PB + w.qkvb);
      prof.mark("gemm_qkv_fwd");
      ropeForward(a.qkv, ropeC, ropeS, N, T, c.H, c.Hk, c.hd, ldq, qd);
      prof.mark("rope");
      attnForward(a.qkv, a.att, a.lse, B, T, c.H, c.Hk, c.hd, ldq, qd, qd + kd, sl2);
      prof.mark("attn_fwd");
      linear(a.att, N, qd, w.ow, c.d, dRb /*tmp o_proj out*/);
      prof.mark("gemm_o_fwd");
      // steel: the Soft-MoE router runs inside this norm where rmsnormForward would run a warp per row (bit-identical)
      const bool routed = c.steel && rmsnormWarpPerRow(N, c.d);
      if (routed) {
        moe.normRouter(a.xin, dRb, a.xmid, P + w.ln2, a.xn2, a.r2, (float)c.eps, a.moe, N);
        prof.mark("moe_f_norm_router");
      } else {
        rmsnormForward(a.xin, dRb, a.xmid, P + w.ln2, a.xn2, a.r2, N, c.d, (float)c.eps);
        prof.mark("rmsnorm_fwd");
      }
      float* xout = l + 1 < c.L ? la[l + 1].xin : resid;
      if (!c.steel) {
        linear(a.xn2, N, c.d, w.guw, 2 * c.I, a.gu);
        swigluForward(a.gu, a.hm, N, c.I);
        linear(a.hm, N, c.I, w.dw, c.d, dRb);
        pend = a.xmid;  // xout = xmid + dRb is formed by the next RMSNorm (next layer's ln1 or the final norm)
      } else {
        // the combine also applies the next RMSNorm where rmsnormForward would run a warp per row (bit-identical to it
        // on xout, which the backward pass's recompute of xn1 relies on)
        const bool last = l + 1 == c.L;
        normed = rmsnormWarpPerRow(N, c.d);
        moe.forward(gemm, P, PB, w.moe, a.moe, a.xmid, xout, B, T, ms.mpart, prof, routed,
                    normed ? P + (last ? normOff : lp[l + 1].ln1) : nullptr, last ? xf : la[l + 1].xn1, last ? rf : la[l + 1].r1,
                    (float)c.eps);
      }
      prof.mark("ffn_fwd");
    }
    if (!normed) {
      rmsnormForward(pend ? pend : resid, pend ? dRb : nullptr, pend ? resid : nullptr, P + normOff, xf, rf, N, c.d, (float)c.eps);
      prof.mark("rmsnorm_fwd");
    }
    backward = backward && withTargets && anyW;
    const float gb = backward ? gradBeta() : 1.f;  // beta of each matrix gradient's first GEMM
    // group the embedding-backward positions on the host while the GPU runs the forward pass (profile(): its own
    // phase, not overlapped there)
    if (backward) {
      emb.prepare(in, N, c.V);
      prof.mark("embed_prep");
    }
    // ---- lm_head + cross-entropy (chunked), with its backward
    const float gs = weights ? gradScale : count > 0 ? gradScale / (float)count : 0.f;
    for (long r0 = 0; r0 < N; r0 += chunkRows) {
      long rows = std::min<long>(chunkRows, N - r0);
      gemm.run(false, true, (int)rows, c.V, c.d, xf + r0 * d, c.d, PB + lmOff, c.d, logits, ldl, false, 1.f, 0.f);
      prof.mark("gemm_lm_fwd");
      if (logitsOut) {
        float* f = tmpBuf(rows * ldl);
        cast_b2f_k<<<nblk(rows * ldl), 256, 0, g_stream>>>(logits, f, rows * ldl);
        KCHECK("cast");
        CK(cudaMemcpy2D(logitsOut + r0 * c.V, (size_t)c.V * 4, f, (size_t)ldl * 4, (size_t)c.V * 4, rows, cudaMemcpyDeviceToHost));
      }
      if (!withTargets) continue;
      crossEntropy(logits, ldl, tokTgt + r0, wts + r0, lossrow + r0, seqOut ? logp + r0 : nullptr, rows, c.V, gs, backward);
      prof.mark("cross_entropy");
      if (backward) {
        // dxf rows (fp32) = dlogits . W ; dW += dlogits^T . xf
        gemm.run(false, false, (int)rows, c.d, c.V, logits, ldl, PB + lmOff, c.d, dxn + r0 * d, c.d, true, 1.f, 0.f);
        gemm.run(true, false, c.V, c.d, (int)rows, logits, ldl, xf + r0 * d, c.d, G + lmOff, c.d, true, 1.f, r0 == 0 ? gb : 1.f);
        prof.mark("gemm_lm_bwd");
      }
    }
    double lossSum = 0;
    if (withTargets) {
      sum_k<<<1, 1024, 0, g_stream>>>(lossrow, N, dsum);
      KCHECK("sum");
      if (seqOut) {
        seq_logp_k<<<B, 256, 0, g_stream>>>(logp, wts, T, seqD);
        KCHECK("seq_logp");
        CK(cudaMemcpy(seqOut, seqD, (size_t)B * sizeof(double), cudaMemcpyDeviceToHost));
      }
      CK(cudaMemcpy(&lossSum, dsum, sizeof(double), cudaMemcpyDeviceToHost));
    }
    lastCount = count;
    if (!backward) {
      dp.overlapNext = false;  // allReduceGrads launches the buckets
      CK(cudaStreamSynchronize(0));
      return lossSum;
    }
    // ---- backward
    // steel: the norm above a Soft-MoE layer also takes that layer's token backward 1 dC from the gradient it writes
    if (c.steel) moe.normBackward(dxn, resid, P + normOff, rf, dR, false, part, G + normOff, la[c.L - 1].moe, ms, B, T);
    else rmsnormBackward(dxn, resid, P + normOff, rf, dR, false, N, c.d, dRb, part, G + normOff);
    prof.mark("rmsnorm_bwd");
    dp.overlapBucket(G);  // final norm + lm_head
    for (int l = c.L - 1; l >= 0; l--) {
      LayerA& a = la[l];
      LayerP& w = lp[l];
      // FFN branch: dR is the gradient of xout (= xmid + ffn(xn2))
      // then the second norm's backward (dR += its dx; dRb = bf16(dR): the o_proj backward's input); steel: fused into
      // the Soft-MoE's token backward 2
      if (!c.steel) {
        denseBackward(a, w, N, gb);
        prof.mark("ffn_bwd");
        rmsnormBackward(dxn, a.xmid, P + w.ln2, a.r2, dR, true, N, c.d, dRb, part, G + w.ln2);
        prof.mark("rmsnorm_bwd");
      } else {
        moe.backward(gemm, P, PB, G, w.moe, a.moe, dR, MoeNormBwd{a.xmid, P + w.ln2, a.r2, dR, dRb, part, G + w.ln2}, B, T, ms, prof, gb);
        prof.mark("ffn_bwd");
      }
      // attention branch
      gemm.run(false, false, (int)N, qd, c.d, dRb, c.d, PB + w.ow, qd, datt, qd, false, 1.f, 0.f);
      gemm.run(true, false, c.d, qd, (int)N, dRb, c.d, a.att, qd, G + w.ow, qd, true, 1.f, gb);
      prof.mark("gemm_o_bwd");
      // RoPE's backward in the attention kernels' epilogues, which also write the q/k/v bias gradient's partials
      attnBackward(a.qkv, a.att, datt, a.lse, delta, dqkv, B, T, c.H, c.Hk, c.hd, ldq, qd, qd + kd, sl2, scale, ropeC, ropeS, part);
      prof.mark("attn_bwd");
      colreduce_k<<<nblk(ldq, 32), 256, 0, g_stream>>>(part, B * ((T + 63) / 64), ldq, G + w.qkvb);
      KCHECK("qkv_bias_grad");
      prof.mark("qkv_bias_grad");
      gemm.run(false, false, (int)N, c.d, ldq, dqkv, ldq, PB + w.qkvw, c.d, dxn, c.d, true, 1.f, 0.f);
      // recompute xn1 (the forward's kernel on the same input: identical)
      rmsnormForward(a.xin, nullptr, nullptr, P + w.ln1, a.xn1, a.r1, N, c.d, (float)c.eps);
      gemm.run(true, false, ldq, c.d, (int)N, dqkv, ldq, a.xn1, c.d, G + w.qkvw, c.d, true, 1.f, gb);
      prof.mark("gemm_qkv_bwd");
      // dense: dRb = bf16(dR) is the next FFN backward's input
      if (c.steel && l > 0) moe.normBackward(dxn, a.xin, P + w.ln1, a.r1, dR, true, part, G + w.ln1, la[l - 1].moe, ms, B, T);
      else rmsnormBackward(dxn, a.xin, P + w.ln1, a.r1, dR, true, N, c.d, c.steel ? nullptr : dRb, part, G + w.ln1);
      prof.mark("rmsnorm_bwd");
      dp.overlapBucket(G);  // layer l
    }
    // embedding backward: deterministic (positions grouped per token id, fixed order)
    emb.backward(dR, G + embOff, c.d);
    prof.mark("embed_bwd");
    dp.overlapBucket(G);  // embedding
    dp.overlapNext = false;
    CK(cudaStreamSynchronize(0));  // not the NCCL stream: allReduceGrads waits for that one
    return lossSum;
  }
  // dense MLP backward: dRb = bf16 gradient of xout -> dxn (fp32 gradient of xn2), weight gradients
  void denseBackward(const LayerA& a, const LayerP& w, long N, float gb) {
    if (c.I % 8 == 0) {  // dh in bf16 (as PyTorch autocast has it)
      gemm.run(false, false, (int)N, c.I, c.d, dRb, c.d, PB + w.dw, c.I, (bf16*)dh, c.I, false, 1.f, 0.f);
      gemm.run(true, false, c.d, c.I, (int)N, dRb, c.d, a.hm, c.I, G + w.dw, c.I, true, 1.f, gb);
      swiglu_bwd8_k<<<nblk(N * c.I / 8), 256, 0, g_stream>>>(a.gu, (const bf16*)dh, dgu, N, c.I);
    } else {
      gemm.run(false, false, (int)N, c.I, c.d, dRb, c.d, PB + w.dw, c.I, dh, c.I, true, 1.f, 0.f);
      gemm.run(true, false, c.d, c.I, (int)N, dRb, c.d, a.hm, c.I, G + w.dw, c.I, true, 1.f, gb);
      swiglu_bwd_k<<<nblk(N * c.I), 256, 0, g_stream>>>(a.gu, dh, dgu, N, c.I);
    }
    KCHECK("swiglu_bwd");
    gemm.run(false, false, (int)N, c.d, 2 * c.I, dgu, 2 * c.I, PB + w.guw, c.d, dxn, c.d, true, 1.f, 0.f);
    gemm.run(true, false, 2 * c.I, c.d, (int)N, dgu, 2 * c.I, a.xn2, c.d, G + w.guw, c.d, true, 1.f, gb);
  }
  void linear(const bf16* X, long M, int K, long wOff, int Nout, bf16* Y, const bf16* bias = nullptr) {
    gemm.run(false, true, (int)M, Nout, K, X, K, PB + wOff, K, Y, Nout, false, 1.f, 0.f, bias);
  }
  float* tmpBuf(long n) {
    if ((size_t)n > tmpFcap) {
      devFree(tmpF, tmpFcap * 4);
      tmpF = (float*)devAlloc(n * 4);
      tmpFcap = n;
    }
    return tmpF;
  }

  float adamw(float lr, float b1, float b2, float eps, float wd, float clip) {
    prof.start();
    step++;
    gradsMaterialize();
    adamwStep(P, G, M1, M2, PB, total, pbOff, step, lr, b1, b2, eps, wd, clip, dsum, normOut);
    prof.mark("adamw");
    float nrm;
    CK(cudaMemcpy(&nrm, normOut, 4, cudaMemcpyDeviceToHost));
    return nrm;
  }
  // data parallelism: buckets in the order the backward pass completes them
  void ncclSetup(const ncclUniqueIdT& id, int r, int w) {
    std::vector<std::pair<long, long>> b;
    b.push_back({normOff, total - normOff});
    for (int l = c.L - 1; l >= 0; l--) b.push_back({lp[l].ln1, (l + 1 < c.L ? lp[l + 1].ln1 : normOff) - lp[l].ln1});
    b.push_back({0, c.L > 0 ? lp[0].ln1 : normOff});
    dp.setup(id, r, w, std::move(b));
  }
};

// ============================================================================ KV-cache decoding
// A session of B sequences of at most maxLen tokens over a Model's weights (bf16 shadows; the embedding in fp32).
// feed(): n tokens per sequence at positions pos .. pos+n-1, the same passes as Model::run's forward without saved
// activations: attention over the cache (the training kernel when pos == 0, the decode kernel after), and the FFN over
// the n fed tokens together (the Steel kind's Soft-MoE mixes the tokens of one feed: the prompt at prefill, then one
// token per step, as Steel-LLM's modeling code does under generate and as the CPU backend's startDecode does); the final
// norm and lm_head on each sequence's last token only. Sequences are fed in groups of at most capRows rows. Each
// sequence has its own length (lens; ragged batches: prefill() gives each sequence its own prompt, in runs of equal
// lengths through the training attention kernel; later feeds give every sequence n tokens at its own positions). greedy()
// captures its decode step (all B sequences, one token) once into a CUDA graph and replays it: the positions are read
// from device memory (dpos), the tokens from and the greedy ids to `tok`.
struct Decoder {
  Model* m;
  int B, maxLen, pos = 0, capRows = 0, capB = 0, hd;  // pos: the longest sequence's length
  std::vector<int> lens;                               // tokens fed per sequence
  bf16 *Kc = nullptr, *Vc = nullptr;  // [L][B][Hk][maxLen][hd]
  float *ropeC = nullptr, *ropeS = nullptr;
  int* dpos = nullptr;           // device copy of lens (each sequence's position of its feed's first token)
  static constexpr int kMaxBan = 64;
  int* dban = nullptr;           // greedy's banned ids (argmax skips them); the captured step holds nBan
  std::vector<int> ban;
  float* apart = nullptr;        // decode attention's per-split partials
  size_t apartFloats = 0;
  cudaStream_t gs = nullptr;     // capture stream of the step graph
  cudaGraphExec_t step = nullptr;
  Arena arena;
  float *x, *xmid, *r, *lse, *lastx, *lastx2, *rf;
  float* mpart = nullptr;  // Soft-MoE split partials, grown to the largest group seen
  size_t mpartCap = 0;
  bf16 *xn, *qkv, *att, *o, *gu, *hm, *lastd, *xf, *logits;
  MoeAct ma{};
  int *tok, *ids, *outIds;
  int outCap = 0;
  float* apv = nullptr;  // argmax partials (B * AM_CH values and ids)
  int* api = nullptr;
  int* dslot = nullptr;  // a refill's slots (B)
  int* ptok = nullptr;   // a refill's prompt tokens (capRows)
  size_t cacheBytes = 0;
  Decoder(Model* model, int B_, int maxLen_) : m(model), B(B_), maxLen(maxLen_), hd(model->c.hd) {
    const Cfg& c = m->c;
    if (B <= 0 || maxLen <= 0) throw std::runtime_error(strf("decode: bad batch %d / length %d", B, maxLen));
    if (c.H / c.Hk > 8 || (c.H / c.Hk & (c.H / c.Hk - 1)))
      throw std::runtime_error(strf("cuda decoding: numHeads / numKvHeads must be 1, 2, 4 or 8 (got %d)", c.H / c.Hk));
    cacheBytes = (size_t)c.L * B * maxLen * m->kd * 2;
    Kc = (bf16*)devAlloc(cacheBytes);
    Vc = (bf16*)devAlloc(cacheBytes);
    ropeC = (float*)devAlloc((size_t)maxLen * c.hd / 2 * 4);
    ropeS = (float*)devAlloc((size_t)maxLen * c.hd / 2 * 4);
    ropeTables(ropeC, ropeS, maxLen, c.hd, c.theta);
    dpos = (int*)devAlloc((size_t)B * 4);
    dban = (int*)devAlloc(kMaxBan * 4);
    lens.assign(B, 0);
    // the split partials of a decode step (B rows) at the finest split decodeSplit picks
    apartFloats = (size_t)B * c.H * (c.hd + 2) * std::max(1, std::min((maxLen + 63) / 64, 4096 / (B * c.Hk)));
    apart = (float*)devAlloc(apartFloats * 4);
    capB = B;
    // rows per group: every sequence at once for decode steps; prefill groups of whole sequences up to ~32k rows
    capRows = std::max(B, std::min(B * maxLen, std::max(32768, maxLen)));
    apv = (float*)devAlloc((size_t)B * AM_CH * 4);
    api = (int*)devAlloc((size_t)B * AM_CH * 4);
    dslot = (int*)devAlloc((size_t)B * 4);
    ptok = (int*)devAlloc((size_t)capRows * 4);
    alloc();
  }
  ~Decoder() {
    devFree(Kc, cacheBytes);
    devFree(Vc, cacheBytes);
    devFree(ropeC, (size_t)maxLen * hd / 2 * 4);
    devFree(ropeS, (size_t)maxLen * hd / 2 * 4);
    devFree(mpart, mpartCap * 4);
    devFree(dpos, (size_t)B * 4);
    devFree(dban, kMaxBan * 4);
    devFree(apart, apartFloats * 4);
    devFree(apv, (size_t)B * AM_CH * 4);
    devFree(api, (size_t)B * AM_CH * 4);
    devFree(dslot, (size_t)B * 4);
    devFree(ptok, (size_t)capRows * 4);
    if (step) cudaGraphExecDestroy(step);
    if (gs) cudaStreamDestroy(gs);
  }
  void alloc() {
    const Cfg& c = m->c;
    const long N = capRows, d = c.d, S = m->S;
    const long Bg = std::max<long>(capB, 1), Tmax = std::min<long>(maxLen, N);
    for (int pass = 0; pass < 2; pass++) {
      if (pass == 1) arena.reset(arena.used + (1 << 20));
      arena.used = 0;
      if (pass == 0) arena.cap = SIZE_MAX;
      x = arena.get<float>(N * d);
      xmid = arena.get<float>(N * d);
      r = arena.get<float>(N);
      lse = arena.get<float>(N * c.H);
      xn = arena.get<bf16>(N * d);
      qkv = arena.get<bf16>(N * m->ldq);
      att = arena.get<bf16>(N * m->qd);
      o = arena.get<bf16>(N * d);
      if (c.steel) {
        const long R = Bg * c.np;
        ma.rinv = arena.get<float>(N);
        ma.Lg = arena.get<float>(N * S);
        ma.D = arena.get<float>(N * S);
        ma.C = arena.get<float>(N * S);
        ma.slots = arena.get<float>(Bg * S * d);
        ma.slotsb = arena.get<bf16>(Bg * S * d);
        ma.Ys = arena.get<float>(Bg * S * d);
        ma.phihat = arena.get<float>(d * S);
        ma.phinorm = arena.get<float>(S);
        ma.gu1 = arena.get<bf16>((long)c.ne * R * 2 * c.I);
        ma.h1 = arena.get<bf16>((long)c.ne * R * c.I);
        ma.gd2 = arena.get<bf16>((long)c.ne * R * 2 * d);
      } else {
        gu = arena.get<bf16>(N * 2 * c.I);
        hm = arena.get<bf16>(N * c.I);
      }
      lastx = arena.get<float>(Bg * d);
      lastx2 = arena.get<float>(Bg * d);
      lastd = arena.get<bf16>(Bg * d);
      rf = arena.get<float>(Bg);
      xf = arena.get<bf16>(Bg * d);
      logits = arena.get<bf16>(Bg * m->ldl);
      tok = arena.get<int>(N);
      ids = arena.get<int>(Bg);
    }
  }
  // one group: sequences b0 .. b0+Bg-1, n tokens each (device tokens dtok, Bg*n), at positions dpos[b]..; prefill: every
  // one of them at position 0 (the training attention kernel); logits of the last tokens (of token last[i] of sequence
  // b0+i when given: right-padded prompts) -> this->logits rows 0..Bg-1. A refill (prefill only) names its sequences'
  // slots in device memory (slots, Bg entries) instead of b0.
  void group(const int* dtok, int b0, int Bg, int n, bool prefill, const int* last = nullptr, const int* slots = nullptr) {
    const Cfg& c = m->c;
    const long N = (long)Bg * n, d = c.d;
    const float sl2 = 1.f / std::sqrt((float)c.hd) * 1.4426950408889634f;
    Prof& prof = m->prof;  // profile(): per-phase times (synchronising), as in Model::run
    prof.start();
    embedForward(dtok, m->P + m->embOff, x, N, c.d);
    prof.mark("dec_embed");
    const float* pend = nullptr;
    const size_t layerStride = (size_t)B * maxLen * m->kd, seqOff = slots ? 0 : (size_t)b0 * maxLen * m->kd;  // kd = Hk * hd
    for (int l = 0; l < c.L; l++) {
      const LayerP& w = m->lp[l];
      rmsnormForward(pend ? pend : x, pend ? o : nullptr, pend ? x : nullptr, m->P + w.ln1, xn, r, N, c.d, (float)c.eps);
      pend = nullptr;
      prof.mark("dec_rmsnorm");
      m->linear(xn, N, c.d, w.qkvw, m->ldq, qkv, m->PB + w.qkvb);
      prof.mark("dec_gemm_qkv");
      bf16 *K = Kc + l * layerStride + seqOff, *V = Vc + l * layerStride + seqOff;
      ropeKvStore(qkv, m->ldq, m->qd, m->qd + m->kd, ropeC, ropeS, K, V, slots ? dpos : dpos + b0, (int)N, n, c.H, c.Hk, c.hd,
                  maxLen, slots);
      prof.mark("dec_rope_kv");
      if (prefill) attnForward(qkv, att, lse, Bg, n, c.H, c.Hk, c.hd, m->ldq, m->qd, m->qd + m->kd, sl2);
      else decodeAttention(qkv, m->ldq, K, V, att, apart, apartFloats, dpos + b0, Bg, n, maxLen, c.H, c.Hk, c.hd, sl2);
      prof.mark("dec_attn");
      m->linear(att, N, m->qd, w.ow, c.d, o);
      prof.mark("dec_gemm_o");
      rmsnormForward(x, o, xmid, m->P + w.ln2, xn, r, N, c.d, (float)c.eps);
      prof.mark("dec_rmsnorm");
      if (!c.steel) {
        m->linear(xn, N, c.d, w.guw, 2 * c.I, gu);
        swigluForward(gu, hm, N, c.I);
        m->linear(hm, N, c.I, w.dw, c.d, o);
        pend = xmid;  // x = xmid + o, formed by the next RMSNorm
      } else {
        ma.xn2 = xn;
        const size_t need = m->moe.mpartFloats(Bg, n);
        if (need > mpartCap) {
          devFree(mpart, mpartCap * 4);
          mpart = (float*)devAlloc(need * 4);
          mpartCap = need;
        }
        const MoeW* wp = &w.moe;
        MoeAct* ap = &ma;
        m->moe.phi(m->P, &wp, &ap, 1);  // ma is shared by the layers
        m->moe.forward(m->gemm, m->P, m->PB, w.moe, ma, xmid, x, Bg, n, mpart, prof, false);
      }
      prof.mark("dec_ffn");
    }
    // the last token of each sequence: gather, final norm, lm_head
    const float* src = pend ? pend : x;
    if (last)
      for (int i = 0; i < Bg; i++) {
        const size_t row = (size_t)i * n + last[i];
        CK(cudaMemcpyAsync(lastx + i * d, src + row * d, d * 4, cudaMemcpyDeviceToDevice, g_stream));
        if (pend) CK(cudaMemcpyAsync(lastd + i * d, o + row * d, d * 2, cudaMemcpyDeviceToDevice, g_stream));
      }
    else {
      CK(cudaMemcpy2DAsync(lastx, d * 4, src + (n - 1) * d, (size_t)n * d * 4, d * 4, Bg, cudaMemcpyDeviceToDevice, g_stream));
      if (pend)
        CK(cudaMemcpy2DAsync(lastd, d * 2, o + (n - 1) * d, (size_t)n * d * 2, d * 2, Bg, cudaMemcpyDeviceToDevice, g_stream));
    }
    if (pend) {
      rmsnormForward(lastx, lastd, lastx2, m->P + m->normOff, xf, rf, Bg, c.d, (float)c.eps);
    } else {
      rmsnormForward(lastx, nullptr, nullptr, m->P + m->normOff, xf, rf, Bg, c.d, (float)c.eps);
    }
    m->gemm.run(false, true, Bg, c.V, c.d, xf, c.d, m->PB + m->lmOff, c.d, logits, m->ldl, false, 1.f, 0.f);
    prof.mark("dec_head");
  }
  void setBan(const std::vector<int>& b) {
    if (b.size() > (size_t)kMaxBan) throw std::runtime_error(strf("decode: at most %d banned ids (got %zu)", kMaxBan, b.size()));
    for (int id : b)
      if (id < 0 || id >= m->c.V) throw std::runtime_error(strf("decode: banned id %d outside the vocabulary (size %d)", id, m->c.V));
    if (b == ban) return;
    ban = b;
    if (!b.empty()) CK(cudaMemcpy(dban, b.data(), b.size() * 4, cudaMemcpyHostToDevice));
    if (step) cudaGraphExecDestroy(step), step = nullptr;  // the captured step holds the old count
  }
  // sequence b gets ns[b] tokens (host tokens, concatenated in sequence order, or device tokens when dev) at its
  // positions lens[b]..; runs of consecutive sequences with the same count and all at position 0 or none go together
  // (at most capRows rows). The dense kind's prompts (host tokens, position 0) of different lengths go together too,
  // right-padded to the group's longest: attention is causal and the rest works per row, so a prompt's rows are those
  // of its own prefill; the pads' cache rows lie past the sequence's length (never read, overwritten by the next
  // tokens). The Steel kind's Soft-MoE mixes every row of a sequence, pads included: its runs have equal lengths.
  // Per group: logitsOut (host, B*V fp32) and/or greedy ids (host idsOut B; device devIds B).
  void feedv(const int* tokens, bool dev, const int* ns, float* logitsOut, int* idsOut, int* devIds) {
    const Cfg& c = m->c;
    long total = 0;
    for (int b = 0; b < B; b++) {
      if (ns[b] <= 0) throw std::runtime_error(strf("decode: feed() needs at least one token per sequence (sequence %d)", b));
      if (lens[b] + ns[b] > maxLen) throw std::runtime_error(strf("decode: context full (%d tokens, sequence %d)", maxLen, b));
      total += ns[b];
    }
    if (!dev)
      for (long i = 0, b = 0, t = 0; i < total; i++, t++) {
        while (t >= ns[b]) t = 0, b++;
        if (tokens[i] < 0 || tokens[i] >= c.V)
          throw std::runtime_error(strf("decode: token %d at [%ld,%ld] outside the vocabulary (size %d)", tokens[i], b, t, c.V));
      }
    CK(cudaMemcpyAsync(dpos, lens.data(), (size_t)B * 4, cudaMemcpyHostToDevice, g_stream));  // pageable: staged before return
    long off = 0;
    std::vector<int> padded;
    for (int b0 = 0; b0 < B;) {
      int n = ns[b0];
      const bool pre = lens[b0] == 0, pad = pre && !dev && !c.steel;
      int Bg = 1;
      if (pad)  // right-padded prefill: while the group's rows (Bg x its longest) fit
        while (b0 + Bg < B && lens[b0 + Bg] == 0 && (long)(Bg + 1) * std::max(n, ns[b0 + Bg]) <= capRows) n = std::max(n, ns[b0 + Bg]), Bg++;
      else
        while (b0 + Bg < B && Bg < std::max(1, capRows / n) && ns[b0 + Bg] == n && (lens[b0 + Bg] == 0) == pre) Bg++;
      bool ragged = false;
      for (int i = 0; i < Bg; i++) ragged |= ns[b0 + i] != n;
      const int* dt;
      if (dev) dt = tokens + off;
      else if (ragged) {
        padded.assign((size_t)Bg * n, 0);
        for (int i = 0, o2 = 0; i < Bg; o2 += ns[b0 + i], i++)
          std::copy(tokens + off + o2, tokens + off + o2 + ns[b0 + i], padded.begin() + (size_t)i * n);
        CK(cudaMemcpy(tok, padded.data(), (size_t)Bg * n * 4, cudaMemcpyHostToDevice));
        dt = tok;
      } else {
        CK(cudaMemcpy(tok, tokens + off, (size_t)Bg * n * 4, cudaMemcpyHostToDevice));
        dt = tok;
      }
      std::vector<int> last;
      if (ragged)
        for (int i = 0; i < Bg; i++) last.push_back(ns[b0 + i] - 1);
      group(dt, b0, Bg, n, pre, ragged ? last.data() : nullptr);
      if (idsOut || devIds) {
        argmaxRows(logits, m->ldl, c.V, Bg, ids, devIds ? devIds + b0 : nullptr, dban, (int)ban.size(), apv, api);
        if (idsOut) CK(cudaMemcpy(idsOut + b0, ids, (size_t)Bg * 4, cudaMemcpyDeviceToHost));
      }
      if (logitsOut) {
        float* f = m->tmpBuf((long)Bg * m->ldl);
        cast_b2f_k<<<nblk((long)Bg * m->ldl), 256, 0, g_stream>>>(logits, f, (long)Bg * m->ldl);
        KCHECK("cast");
        CK(cudaMemcpy2D(logitsOut + (size_t)b0 * c.V, (size_t)c.V * 4, f, (size_t)m->ldl * 4, (size_t)c.V * 4, Bg, cudaMemcpyDeviceToHost));
      }
      for (int i = 0; i < Bg; i++) off += ns[b0 + i];
      b0 += Bg;
    }
    for (int b = 0; b < B; b++) lens[b] += ns[b], pos = std::max(pos, lens[b]);
  }
  // one decode step of all B sequences (one group): tokens in tok -> greedy ids in tok; position *dpos, then advanced
  void stepBody() {
    group(tok, 0, B, 1, false);
    argmaxRows(logits, m->ldl, m->c.V, B, tok, nullptr, dban, (int)ban.size(), apv, api);
    decode_advance_k<<<(B + 255) / 256, 256, 0, g_stream>>>(dpos, 1, B);
    KCHECK("decode_advance");
  }
  void capture() {
    if (!gs) CK(cudaStreamCreateWithFlags(&gs, cudaStreamNonBlocking));
    CK(cudaDeviceSynchronize());
    cudaGraph_t g = nullptr;
    g_stream = gs;
    CK(cudaStreamBeginCapture(gs, cudaStreamCaptureModeRelaxed));
    try {
      stepBody();
    } catch (...) {
      cudaStreamEndCapture(gs, &g);
      if (g) cudaGraphDestroy(g);
      g_stream = 0;
      throw;
    }
    g_stream = 0;
    CK(cudaStreamEndCapture(gs, &g));
    cudaError_t e = cudaGraphInstantiate(&step, g, 0);
    cudaGraphDestroy(g);
    CK(e);
  }
  // a refill: sequence seqs[i] (ns[seqs[i]] tokens at prompt + off[seqs[i]]) into slot slots[i] at position 0, in
  // prefill groups (the dense kind's right-padded to the group's longest, the Steel kind's of equal lengths, at most
  // capRows rows) -> each one's first greedy id, also put in tok[slot] for the next step
  std::vector<int> refill(const int* prompt, const std::vector<long>& off, const int* ns, std::vector<int> slots,
                          std::vector<int> seqs) {
    const Cfg& c = m->c;
    const int R = (int)slots.size();
    std::vector<int> order(R);
    for (int i = 0; i < R; i++) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](int x, int y) { return ns[seqs[x]] > ns[seqs[y]]; });
    for (int s0 : slots) lens[s0] = 0;
    CK(cudaMemcpy(dpos, lens.data(), (size_t)B * 4, cudaMemcpyHostToDevice));
    std::vector<int> first(R), htok(B);
    CK(cudaMemcpy(htok.data(), tok, (size_t)B * 4, cudaMemcpyDeviceToHost));
    std::vector<int> padded, gs, last;
    for (int i0 = 0; i0 < R;) {
      const int n = ns[seqs[order[i0]]];  // the group's longest
      int Bg = 1;
      while (i0 + Bg < R && (long)(Bg + 1) * n <= capRows && (!c.steel || ns[seqs[order[i0 + Bg]]] == n)) Bg++;
      padded.assign((size_t)Bg * n, 0);
      gs.resize(Bg);
      last.resize(Bg);
      bool ragged = false;
      for (int i = 0; i < Bg; i++) {
        const int q = seqs[order[i0 + i]];
        std::copy(prompt + off[q], prompt + off[q] + ns[q], padded.begin() + (size_t)i * n);
        gs[i] = slots[order[i0 + i]];
        last[i] = ns[q] - 1;
        ragged |= ns[q] != n;
      }
      CK(cudaMemcpy(ptok, padded.data(), padded.size() * 4, cudaMemcpyHostToDevice));
      CK(cudaMemcpy(dslot, gs.data(), (size_t)Bg * 4, cudaMemcpyHostToDevice));
      group(ptok, 0, Bg, n, true, ragged ? last.data() : nullptr, dslot);
      argmaxRows(logits, m->ldl, c.V, Bg, ids, nullptr, dban, (int)ban.size(), apv, api);
      std::vector<int> got(Bg);
      CK(cudaMemcpy(got.data(), ids, (size_t)Bg * 4, cudaMemcpyDeviceToHost));
      for (int i = 0; i < Bg; i++) first[order[i0 + i]] = got[i], htok[gs[i]] = got[i];
      i0 += Bg;
    }
    for (int i = 0; i < R; i++) lens[slots[i]] = ns[seqs[i]];
    pos = *std::max_element(lens.begin(), lens.end());
    CK(cudaMemcpy(tok, htok.data(), (size_t)B * 4, cudaMemcpyHostToDevice));
    return first;
  }
  // greedy generation for N >= B prompts of ns[i] tokens (concatenated; a fresh session): up to steps new tokens per
  // prompt (out: N*steps host, row-major by prompt, -1 after its end), never a banned id, each ending at its first stop
  // id. The first B prompts fill the B slots; tokens stay on the GPU between steps (the captured step), the host looks
  // at them every 16 steps (4 while prompts wait) and, once a quarter of the slots (or as many as prompts are left) have
  // ended, gives each free slot the next prompt (continuous batching: one prefill for the refilled prompts, then the step
  // goes on for all slots; a free slot costs the step little, a refill a pass over the weights). A slot with nothing to
  // do steps at position 0, its tokens dropped. The steps between two looks never take a live sequence past its steps,
  // so no slot runs past ns + steps - 1 positions.
  void greedy(const int* prompt, const int* ns, int N, int steps, const std::vector<int>& stops, int* out) {
    if (steps <= 0) throw std::runtime_error("decode: steps must be positive");
    if (N < B) throw std::runtime_error(strf("decode: greedy() needs at least %d prompts (got %d)", B, N));
    for (int b = 0; b < B; b++)
      if (lens[b] != 0) throw std::runtime_error("decode: greedy() starts a fresh session");
    std::vector<long> off(N + 1, 0);
    for (int i = 0; i < N; i++) {
      if (ns[i] + steps - 1 > maxLen)
        throw std::runtime_error(strf("decode: %d + %d tokens exceed the session's %d (sequence %d)", ns[i], steps, maxLen, i));
      off[i + 1] = off[i] + ns[i];
    }
    auto isStop = [&](int id) { return std::find(stops.begin(), stops.end(), id) != stops.end(); };
    std::fill(out, out + (size_t)N * steps, -1);
    std::vector<int> seq(B, -1), gen(B, 0);
    int next = 0, active = 0;
    auto record = [&](int b, int id) {
      out[(size_t)seq[b] * steps + gen[b]++] = id;
      if (isStop(id) || gen[b] == steps) seq[b] = -1, active--;
    };
    const int CH = N > B ? 4 : 16;
    int* dOut = (int*)devAlloc((size_t)CH * B * 4);
    std::vector<int> h((size_t)CH * B);
    try {
      const int want = std::max(1, B / 4);
      while (true) {
        int nfree = 0;
        for (int b = 0; b < B; b++) nfree += seq[b] < 0;
        std::vector<int> sl, sq;  // refill the free slots (a sequence may end at its first token)
        if (next < N && (nfree >= std::min(want, N - next) || active == 0))
          for (int b = 0; b < B && next < N; b++)
            if (seq[b] < 0) sl.push_back(b), sq.push_back(next++);
        if (!sl.empty()) {
          const std::vector<int> first = refill(prompt, off, ns, sl, sq);
          for (size_t i = 0; i < sl.size(); i++) seq[sl[i]] = sq[i], gen[sl[i]] = 0, active++, record(sl[i], first[i]);
          continue;
        }
        if (active == 0) break;
        int chunk = CH;
        for (int b = 0; b < B; b++)
          if (seq[b] >= 0) chunk = std::min(chunk, steps - gen[b]);
          else lens[b] = 0;  // nothing left for this slot
        CK(cudaMemcpy(dpos, lens.data(), (size_t)B * 4, cudaMemcpyHostToDevice));
        for (int s = 0; s < chunk; s++) {
          if (m->prof.on) stepBody();  // eager while profiling (the profile's marks synchronise)
          else {
            if (!step) capture();
            CK(cudaGraphLaunch(step, 0));
          }
          for (int& l : lens) l++;
          CK(cudaMemcpyAsync(dOut + (size_t)s * B, tok, (size_t)B * 4, cudaMemcpyDeviceToDevice, 0));
        }
        pos = *std::max_element(lens.begin(), lens.end());
        CK(cudaMemcpy(h.data(), dOut, (size_t)chunk * B * 4, cudaMemcpyDeviceToHost));
        for (int s = 0; s < chunk; s++)
          for (int b = 0; b < B; b++)
            if (seq[b] >= 0) record(b, h[(size_t)s * B + b]);
      }
    } catch (...) {
      devFree(dOut, (size_t)CH * B * 4);
      throw;
    }
    devFree(dOut, (size_t)CH * B * 4);
  }
};

// ============================================================================ attention test entry (per-kernel parity)
// q [B,T,H*hd], k,v [B,T,Hk*hd], dout [B,T,H*hd] (fp32 host) -> o, dq, dk, dv (fp32 host)
static void attnTest(const float* q, const float* k, const float* v, const float* dout, int B, int T, int H, int Hk, int hd,
                     float* o, float* dq, float* dk, float* dv) {
  const long N = (long)B * T;
  const int qd = H * hd, kd = Hk * hd, ldq = qd + 2 * kd;
  std::vector<bf16> hq(N * ldq), hdo(N * qd);
  for (long r = 0; r < N; r++) {
    for (int j = 0; j < qd; j++) hq[r * ldq + j] = __float2bfloat16(q[r * qd + j]);
    for (int j = 0; j < kd; j++) hq[r * ldq + qd + j] = __float2bfloat16(k[r * kd + j]);
    for (int j = 0; j < kd; j++) hq[r * ldq + qd + kd + j] = __float2bfloat16(v[r * kd + j]);
    for (int j = 0; j < qd; j++) hdo[r * qd + j] = __float2bfloat16(dout[r * qd + j]);
  }
  bf16 *dQKV, *dO, *dOut, *dG;
  float *lse, *delta;
  CK(cudaMalloc(&dQKV, N * ldq * 2));
  CK(cudaMalloc(&dG, N * ldq * 2));
  CK(cudaMalloc(&dO, N * qd * 2));
  CK(cudaMalloc(&dOut, N * qd * 2));
  CK(cudaMalloc(&lse, (long)B * H * T * 4));
  CK(cudaMalloc(&delta, (long)B * H * T * 4));
  CK(cudaMemcpy(dQKV, hq.data(), N * ldq * 2, cudaMemcpyHostToDevice));
  CK(cudaMemcpy(dO, hdo.data(), N * qd * 2, cudaMemcpyHostToDevice));
  CK(cudaMemset(dOut, 0xff, N * qd * 2));  // poison: every output element must be written
  CK(cudaMemset(dG, 0xff, N * ldq * 2));
  const float scale = 1.f / std::sqrt((float)hd), sl2 = scale * 1.4426950408889634f;
  attnForward(dQKV, dOut, lse, B, T, H, Hk, hd, ldq, qd, qd + kd, sl2);
  attnBackward(dQKV, dOut, dO, lse, delta, dG, B, T, H, Hk, hd, ldq, qd, qd + kd, sl2, scale);
  CK(cudaDeviceSynchronize());
  std::vector<bf16> ho(N * qd), hg(N * ldq);
  CK(cudaMemcpy(ho.data(), dOut, N * qd * 2, cudaMemcpyDeviceToHost));
  CK(cudaMemcpy(hg.data(), dG, N * ldq * 2, cudaMemcpyDeviceToHost));
  for (long r = 0; r < N; r++) {
    for (int j = 0; j < qd; j++) o[r * qd + j] = __bfloat162float(ho[r * qd + j]);
    for (int j = 0; j < qd; j++) dq[r * qd + j] = __bfloat162float(hg[r * ldq + j]);
    for (int j = 0; j < kd; j++) dk[r * kd + j] = __bfloat162float(hg[r * ldq + qd + j]);
    for (int j = 0; j < kd; j++) dv[r * kd + j] = __bfloat162float(hg[r * ldq + qd + kd + j]);
  }
  cudaFree(dQKV); cudaFree(dG); cudaFree(dO); cudaFree(dOut); cudaFree(lse); cudaFree(delta);
}

// mean milliseconds per call of the attention forward and of delta + backward (kernels only, device buffers filled
// with N(0, 1) values, dO likewise), for the timing table of gpu-check
static void attnTime(int B, int T, int H, int Hk, int hd, int iters, double* fwdMs, double* bwdMs) {
  const long N = (long)B * T;
  const int qd = H * hd, kd = Hk * hd, ldq = qd + 2 * kd;
  std::vector<void*> bufs;
  auto alloc = [&](size_t bytes) { void* p; CK(cudaMalloc(&p, bytes)); bufs.push_back(p); return p; };
  bf16 *qkv = (bf16*)alloc(N * ldq * 2), *dG = (bf16*)alloc(N * ldq * 2), *dO = (bf16*)alloc(N * qd * 2), *out = (bf16*)alloc(N * qd * 2);
  float *lse = (float*)alloc((size_t)B * H * T * 4), *delta = (float*)alloc((size_t)B * H * T * 4), *tmp = (float*)alloc(N * ldq * 4);
  init_normal_k<<<4096, 256, 0, g_stream>>>(tmp, N * ldq, 12345, 1.f);
  cast_f2b_k<<<nblk(N * ldq), 256, 0, g_stream>>>(tmp, qkv, N * ldq);
  init_normal_k<<<4096, 256, 0, g_stream>>>(tmp, N * qd, 678, 1.f);
  cast_f2b_k<<<nblk(N * qd), 256, 0, g_stream>>>(tmp, dO, N * qd);
  KCHECK("attnTime init");
  const float scale = 1.f / std::sqrt((float)hd), sl2 = scale * 1.4426950408889634f;
  cudaEvent_t e0, e1, e2;
  CK(cudaEventCreate(&e0)); CK(cudaEventCreate(&e1)); CK(cudaEventCreate(&e2));
  auto fwd = [&]() { attnForward(qkv, out, lse, B, T, H, Hk, hd, ldq, qd, qd + kd, sl2); };
  auto bwd = [&]() { attnBackward(qkv, out, dO, lse, delta, dG, B, T, H, Hk, hd, ldq, qd, qd + kd, sl2, scale); };
  fwd(); bwd();  // warm-up
  KCHECK("attnTime warm-up");
  CK(cudaEventRecord(e0));
  for (int i = 0; i < iters; i++) fwd();
  CK(cudaEventRecord(e1));
  for (int i = 0; i < iters; i++) bwd();
  CK(cudaEventRecord(e2));
  KCHECK("attnTime");
  CK(cudaEventSynchronize(e2));
  float a, b;
  CK(cudaEventElapsedTime(&a, e0, e1));
  CK(cudaEventElapsedTime(&b, e1, e2));
  *fwdMs = a / iters;
  *bwdMs = b / iters;
  cudaEventDestroy(e0); cudaEventDestroy(e1); cudaEventDestroy(e2);
  for (void* p : bufs) cudaFree(p);
}

// ============================================================================ N-API glue
#define NC(x)                                                             \
  do {                                                                    \
    if ((x) != napi_ok) throw std::runtime_error("N-API call failed: " #x); \
  } while (0)

static void getArgs(napi_env env, napi_callback_info info, size_t n, napi_value* args) {
  size_t argc = n;
  NC(napi_get_cb_info(env, info, &argc, args, nullptr, nullptr));
  if (argc < n) throw std::runtime_error(strf("expected %zu arguments, got %zu", n, argc));
}
static std::set<Model*> g_live;
static void freeDecodersOf(Model* m);  // the model's decode sessions go with it
static Model* getModel(napi_env env, napi_value v) {
  void* p = nullptr;
  if (napi_get_value_external(env, v, &p) != napi_ok || !p) throw std::runtime_error("expected a model handle");
  if (!g_live.count((Model*)p)) throw std::runtime_error("cuda backend: model already disposed");
  return (Model*)p;
}
static double getNum(napi_env env, napi_value v, const char* what) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) throw std::runtime_error(strf("%s must be a number", what));
  return d;
}
static double propNum(napi_env env, napi_value o, const char* name) {
  napi_value v;
  NC(napi_get_named_property(env, o, name, &v));
  return getNum(env, v, name);
}
static std::string getStr(napi_env env, napi_value v) {
  size_t n;
  if (napi_get_value_string_utf8(env, v, nullptr, 0, &n) != napi_ok) throw std::runtime_error("expected a string");
  std::string s(n, '\0');
  NC(napi_get_value_string_utf8(env, v, &s[0], n + 1, &n));
  return s;
}
template <typename T>
static T* getTyped(napi_env env, napi_value v, napi_typedarray_type want, size_t* len, const char* what) {
  bool is;
  NC(napi_is_typedarray(env, v, &is));
  if (!is) throw std::runtime_error(strf("%s must be a typed array", what));
  napi_typedarray_type type;
  void* data;
  napi_value ab;
  size_t off;
  NC(napi_get_typedarray_info(env, v, &type, len, &data, &ab, &off));
  if (type != want) throw std::runtime_error(strf("%s has the wrong element type", what));
  return (T*)data;
}
static napi_value newF32(napi_env env, size_t n, float** data) {
  napi_value ab, arr;
  void* d;
  NC(napi_create_arraybuffer(env, n * 4, &d, &ab));
  NC(napi_create_typedarray(env, napi_float32_array, n, ab, 0, &arr));
  *data = (float*)d;
  return arr;
}
static napi_value num(napi_env env, double d) {
  napi_value v;
  NC(napi_create_double(env, d, &v));
  return v;
}
#define WRAP(fn)                                                          \
  static napi_value fn(napi_env env, napi_callback_info info) {          \
    try {                                                                 \
      return fn##_impl(env, info);                                        \
    } catch (const std::exception& e) {                                   \
      napi_throw_error(env, "ESTEELCUDA", e.what());                      \
      return nullptr;                                                     \
    }                                                                     \
  }

static napi_value create_impl(napi_env env, napi_callback_info info) {
  napi_value a[1];
  getArgs(env, info, 1, a);
  Cfg c;
  c.V = (int)propNum(env, a[0], "vocabSize");
  c.d = (int)propNum(env, a[0], "hiddenSize");
  c.L = (int)propNum(env, a[0], "numLayers");
  c.H = (int)propNum(env, a[0], "numHeads");
  c.Hk = (int)propNum(env, a[0], "numKvHeads");
  c.hd = (int)propNum(env, a[0], "headDim");
  c.I = (int)propNum(env, a[0], "intermediateSize");
  c.ne = (int)propNum(env, a[0], "numExperts");
  c.np = (int)propNum(env, a[0], "slotsPerExpert");
  c.theta = propNum(env, a[0], "ropeTheta");
  c.eps = propNum(env, a[0], "rmsNormEps");
  c.initStd = propNum(env, a[0], "initStd");
  c.pad = (int)propNum(env, a[0], "padId");
  napi_value kind;
  NC(napi_get_named_property(env, a[0], "kind", &kind));
  c.steel = getStr(env, kind) == "steel";
  Model* m = new Model(c);
  g_live.insert(m);
  napi_value ext;
  NC(napi_create_external(env, m, [](napi_env, void* p, void*) { if (g_live.erase((Model*)p)) delete (Model*)p; }, nullptr, &ext));
  return ext;
}
WRAP(create)

static napi_value params_impl(napi_env env, napi_callback_info info) {
  napi_value a[1];
  getArgs(env, info, 1, a);
  Model* m = getModel(env, a[0]);
  napi_value arr;
  NC(napi_create_array_with_length(env, m->params.size(), &arr));
  for (size_t i = 0; i < m->params.size(); i++) {
    const Param& p = m->params[i];
    napi_value o, name, shape;
    NC(napi_create_object(env, &o));
    NC(napi_create_string_utf8(env, p.name.c_str(), p.name.size(), &name));
    NC(napi_create_array_with_length(env, p.shape.size(), &shape));
    for (size_t k = 0; k < p.shape.size(); k++) NC(napi_set_element(env, shape, k, num(env, (double)p.shape[k])));
    NC(napi_set_named_property(env, o, "name", name));
    NC(napi_set_named_property(env, o, "shape", shape));
    NC(napi_set_named_property(env, o, "size", num(env, (double)p.size)));
    NC(napi_set_element(env, arr, i, o));
  }
  return arr;
}
WRAP(params)

static napi_value init_impl(napi_env env, napi_callback_info info) {
  napi_value a[2];
  getArgs(env, info, 2, a);
  getModel(env, a[0])->initParams((uint64_t)getNum(env, a[1], "seed"));
  return nullptr;
}
WRAP(init)

// which: 0 param, 1 grad, 2 m, 3 v
static float* bufOf(Model* m, int which) { return which == 0 ? m->P : which == 1 ? m->G : which == 2 ? m->M1 : m->M2; }
static napi_value get_impl(napi_env env, napi_callback_info info) {
  napi_value a[3];
  getArgs(env, info, 3, a);
  Model* m = getModel(env, a[0]);
  int which = (int)getNum(env, a[1], "which");
  const Param& p = m->param(getStr(env, a[2]));
  float* out;
  napi_value arr = newF32(env, p.size, &out);
  if (which == 1) m->gradsMaterialize();
  CK(cudaMemcpy(out, bufOf(m, which) + p.off, p.size * 4, cudaMemcpyDeviceToHost));
  return arr;
}
WRAP(get)
static napi_value set_impl(napi_env env, napi_callback_info info) {
  napi_value a[4];
  getArgs(env, info, 4, a);
  Model* m = getModel(env, a[0]);
  int which = (int)getNum(env, a[1], "which");
  const Param& p = m->param(getStr(env, a[2]));
  size_t len;
  float* data = getTyped<float>(env, a[3], napi_float32_array, &len, "value");
  if ((long)len != p.size) throw std::runtime_error(strf("cuda backend: %s expects %ld values, got %zu", p.name.c_str(), p.size, len));
  if (which == 1) m->gradsMaterialize();
  CK(cudaMemcpy(bufOf(m, which) + p.off, data, p.size * 4, cudaMemcpyHostToDevice));
  if (which == 0) m->refreshBf16(p.off, p.size);
  CK(cudaDeviceSynchronize());
  return nullptr;
}
WRAP(set)
static napi_value zeroGrad_impl(napi_env env, napi_callback_info info) {
  napi_value a[1];
  getArgs(env, info, 1, a);
  Model* m = getModel(env, a[0]);
  m->dp.checkNoReduceInFlight("zeroGrad");
  m->gradZeroPending = true;
  return nullptr;
}
WRAP(zeroGrad)
static napi_value stepCount_impl(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value a[2];
  NC(napi_get_cb_info(env, info, &argc, a, nullptr, nullptr));
  Model* m = getModel(env, a[0]);
  if (argc >= 2) {
    napi_valuetype t;
    NC(napi_typeof(env, a[1], &t));
    if (t == napi_number) m->step = (long)getNum(env, a[1], "step");
  }
  return num(env, (double)m->step);
}
WRAP(stepCount)

// forwardBackward(h, tokens Int32Array B*(T+1), B, T, gradScale, backward[, weights Float32Array B*T]) -> mean loss over
// the non-pad targets, or with weights the weighted sum sum_i w_i * CE_i (backend.ts)
static napi_value fb_impl(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value a[7];
  NC(napi_get_cb_info(env, info, &argc, a, nullptr, nullptr));
  if (argc < 6) throw std::runtime_error(strf("forwardBackward: expected at least 6 arguments, got %zu", argc));
  Model* m = getModel(env, a[0]);
  size_t len;
  int* tok = getTyped<int>(env, a[1], napi_int32_array, &len, "tokens");
  int B = (int)getNum(env, a[2], "B"), T = (int)getNum(env, a[3], "T");
  if (B <= 0 || T <= 0 || (long)len != (long)B * (T + 1)) throw std::runtime_error(strf("forwardBackward: expected %dx%d tokens, got %zu", B, T + 1, len));
  float gs = (float)getNum(env, a[4], "gradScale");
  bool bw;
  NC(napi_get_value_bool(env, a[5], &bw));
  const float* w = nullptr;
  if (argc >= 7) {
    napi_valuetype t;
    NC(napi_typeof(env, a[6], &t));
    if (t != napi_undefined && t != napi_null) {
      size_t wl;
      w = getTyped<float>(env, a[6], napi_float32_array, &wl, "weights");
      if ((long)wl != (long)B * T) throw std::runtime_error(strf("loss weights: expected %dx%d values, got %zu", B, T, wl));
    }
  }
  double s = m->run(tok, B, T, true, bw, gs, nullptr, w);
  return num(env, w ? s : m->lastCount ? s / m->lastCount : 0.0);
}
WRAP(fb)
// sequenceLogProbs(h, tokens B*(T+1), B, T, weights B*T) -> Float64Array(B): per row sum_t w_bt * log p(target_bt)
static napi_value seqLogp_impl(napi_env env, napi_callback_info info) {
  napi_value a[5];
  getArgs(env, info, 5, a);
  Model* m = getModel(env, a[0]);
  size_t len, wl;
  int* tok = getTyped<int>(env, a[1], napi_int32_array, &len, "tokens");
  int B = (int)getNum(env, a[2], "B"), T = (int)getNum(env, a[3], "T");
  if (B <= 0 || T <= 0 || (long)len != (long)B * (T + 1)) throw std::runtime_error(strf("sequenceLogProbs: expected %dx%d tokens, got %zu", B, T + 1, len));
  const float* w = getTyped<float>(env, a[4], napi_float32_array, &wl, "weights");
  if ((long)wl != (long)B * T) throw std::runtime_error(strf("loss weights: expected %dx%d values, got %zu", B, T, wl));
  napi_value ab, arr;
  void* d;
  NC(napi_create_arraybuffer(env, (size_t)B * 8, &d, &ab));
  NC(napi_create_typedarray(env, napi_float64_array, B, ab, 0, &arr));
  m->run(tok, B, T, true, false, 1.f, nullptr, w, (double*)d);
  return arr;
}
WRAP(seqLogp)
// forward(h, tokens B*T, B, T) -> Float32Array logits
static napi_value fwd_impl(napi_env env, napi_callback_info info) {
  napi_value a[4];
  getArgs(env, info, 4, a);
  Model* m = getModel(env, a[0]);
  size_t len;
  int* tok = getTyped<int>(env, a[1], napi_int32_array, &len, "tokens");
  int B = (int)getNum(env, a[2], "B"), T = (int)getNum(env, a[3], "T");
  if (B <= 0 || T <= 0 || (long)len != (long)B * T) throw std::runtime_error(strf("forward: expected %dx%d tokens, got %zu", B, T, len));
  float* out;
  napi_value arr = newF32(env, (size_t)B * T * m->c.V, &out);
  m->run(tok, B, T, false, false, 1.f, out);
  return arr;
}
WRAP(fwd)
// step(h, lr, b1, b2, eps, wd, clip) -> grad norm
static napi_value step_impl(napi_env env, napi_callback_info info) {
  napi_value a[7];
  getArgs(env, info, 7, a);
  Model* m = getModel(env, a[0]);
  float r = m->adamw((float)getNum(env, a[1], "lr"), (float)getNum(env, a[2], "beta1"), (float)getNum(env, a[3], "beta2"),
                     (float)getNum(env, a[4], "eps"), (float)getNum(env, a[5], "weightDecay"), (float)getNum(env, a[6], "gradClip"));
  return num(env, r);
}
WRAP(step)
static napi_value info_impl(napi_env env, napi_callback_info info) {
  napi_value a[1];
  getArgs(env, info, 1, a);
  Model* m = getModel(env, a[0]);
  size_t fr, tot;
  CK(cudaMemGetInfo(&fr, &tot));
  napi_value o, dn;
  NC(napi_create_object(env, &o));
  NC(napi_create_string_utf8(env, m->devName.c_str(), m->devName.size(), &dn));
  NC(napi_set_named_property(env, o, "device", dn));
  NC(napi_set_named_property(env, o, "memUsed", num(env, (double)(tot - fr))));
  NC(napi_set_named_property(env, o, "memTotal", num(env, (double)tot)));
  NC(napi_set_named_property(env, o, "paramFloats", num(env, (double)m->total)));
  NC(napi_set_named_property(env, o, "activationBytes", num(env, (double)m->arena.cap)));
  NC(napi_set_named_property(env, o, "allocatedBytes", num(env, (double)g_allocBytes)));
  NC(napi_set_named_property(env, o, "gemmPlans", num(env, (double)m->gemm.cache.size())));
  return o;
}
WRAP(info)
static napi_value profile_impl(napi_env env, napi_callback_info info) {
  napi_value a[2];
  getArgs(env, info, 2, a);
  Model* m = getModel(env, a[0]);
  bool en;
  NC(napi_get_value_bool(env, a[1], &en));
  napi_value o;
  NC(napi_create_object(env, &o));
  for (auto& kv : m->prof.ms) NC(napi_set_named_property(env, o, kv.first.c_str(), num(env, kv.second)));
  m->prof.ms.clear();
  m->prof.on = en;
  return o;
}
WRAP(profile)
static napi_value destroy_impl(napi_env env, napi_callback_info info) {
  napi_value a[1];
  getArgs(env, info, 1, a);
  Model* m = getModel(env, a[0]);
  freeDecodersOf(m);
  g_live.erase(m);
  delete m;
  return nullptr;
}
WRAP(destroy)
static napi_value sync_impl(napi_env env, napi_callback_info info) {
  CK(cudaDeviceSynchronize());
  return nullptr;
}
WRAP(sync)
// attnTest(q, k, v, dout, B, T, H, Hk, hd) -> {o, dq, dk, dv}
static napi_value attnTest_impl(napi_env env, napi_callback_info info) {
  napi_value a[9];
  getArgs(env, info, 9, a);
  size_t lq, lk, lv, lo;
  float* q = getTyped<float>(env, a[0], napi_float32_array, &lq, "q");
  float* k = getTyped<float>(env, a[1], napi_float32_array, &lk, "k");
  float* v = getTyped<float>(env, a[2], napi_float32_array, &lv, "v");
  float* dout = getTyped<float>(env, a[3], napi_float32_array, &lo, "dout");
  int B = (int)getNum(env, a[4], "B"), T = (int)getNum(env, a[5], "T"), H = (int)getNum(env, a[6], "H"),
      Hk = (int)getNum(env, a[7], "Hk"), hd = (int)getNum(env, a[8], "hd");
  size_t nq = (size_t)B * T * H * hd, nk = (size_t)B * T * Hk * hd;
  if (lq != nq || lo != nq || lk != nk || lv != nk) throw std::runtime_error("attnTest: wrong input sizes");
  if (hd % 8 || hd > 64 || H % Hk) throw std::runtime_error("attnTest: unsupported shape");
  float *o, *dq, *dk, *dv;
  napi_value ro = newF32(env, nq, &o), rdq = newF32(env, nq, &dq), rdk = newF32(env, nk, &dk), rdv = newF32(env, nk, &dv);
  attnTest(q, k, v, dout, B, T, H, Hk, hd, o, dq, dk, dv);
  napi_value res;
  NC(napi_create_object(env, &res));
  NC(napi_set_named_property(env, res, "o", ro));
  NC(napi_set_named_property(env, res, "dq", rdq));
  NC(napi_set_named_property(env, res, "dk", rdk));
  NC(napi_set_named_property(env, res, "dv", rdv));
  return res;
}
WRAP(attnTest)

// attnTime(B, T, H, Hk, hd, iters) -> {fwdMs, bwdMs}
static napi_value attnTime_impl(napi_env env, napi_callback_info info) {
  napi_value a[6];
  getArgs(env, info, 6, a);
  int B = (int)getNum(env, a[0], "B"), T = (int)getNum(env, a[1], "T"), H = (int)getNum(env, a[2], "H"),
      Hk = (int)getNum(env, a[3], "Hk"), hd = (int)getNum(env, a[4], "hd"), iters = (int)getNum(env, a[5], "iters");
  if (B <= 0 || T <= 0 || H <= 0 || Hk <= 0 || hd % 8 || hd > 64 || H % Hk || iters <= 0) throw std::runtime_error("attnTime: unsupported shape");
  double f, b;
  attnTime(B, T, H, Hk, hd, iters, &f, &b);
  napi_value o;
  NC(napi_create_object(env, &o));
  NC(napi_set_named_property(env, o, "fwdMs", num(env, f)));
  NC(napi_set_named_property(env, o, "bwdMs", num(env, b)));
  return o;
}
WRAP(attnTime)
// ---- KV-cache decoding sessions (Decoder): decodeStart(h, B, maxLen) -> session; decodeFeed(s, tokens B*n, n, greedy)
// -> Float32Array B*V logits of each sequence's last token, or Int32Array B greedy ids; decodeFeedRagged(s, tokens,
// lens, greedy) the same with lens[b] tokens for sequence b; decodeGreedy(s, prompts, lens, steps, stopIds, banIds) ->
// Int32Array B*steps (-1 after a sequence's stop token); decodeLength(s) (the longest sequence); decodeFree(s)
static std::set<Decoder*> g_dec;
static Decoder* getDecoder(napi_env env, napi_value v) {
  void* p = nullptr;
  if (napi_get_value_external(env, v, &p) != napi_ok || !p) throw std::runtime_error("expected a decode session");
  Decoder* d = (Decoder*)p;
  if (!g_dec.count(d)) throw std::runtime_error("cuda backend: decode session already disposed");
  if (!g_live.count(d->m)) throw std::runtime_error("cuda backend: the decode session's model was disposed");
  return d;
}
static void freeDecodersOf(Model* m) {
  for (auto it = g_dec.begin(); it != g_dec.end();)
    if ((*it)->m == m) { delete *it; it = g_dec.erase(it); } else ++it;
}
static napi_value decodeStart_impl(napi_env env, napi_callback_info info) {
  napi_value a[3];
  getArgs(env, info, 3, a);
  Model* m = getModel(env, a[0]);
  Decoder* d = new Decoder(m, (int)getNum(env, a[1], "B"), (int)getNum(env, a[2], "maxLen"));
  g_dec.insert(d);
  napi_value ext;
  NC(napi_create_external(env, d, [](napi_env, void* p, void*) { if (g_dec.erase((Decoder*)p)) delete (Decoder*)p; }, nullptr, &ext));
  return ext;
}
WRAP(decodeStart)
// a feed's result: each sequence's logits (Float32Array B*V) or its greedy id (Int32Array B)
static napi_value decodeFeedOut(napi_env env, Decoder* d, const int* tok, const int* ns, napi_value greedyArg) {
  bool greedy;
  NC(napi_get_value_bool(env, greedyArg, &greedy));
  if (greedy) {
    napi_value ab, arr;
    void* p;
    NC(napi_create_arraybuffer(env, (size_t)d->B * 4, &p, &ab));
    NC(napi_create_typedarray(env, napi_int32_array, d->B, ab, 0, &arr));
    d->feedv(tok, false, ns, nullptr, (int*)p, nullptr);
    return arr;
  }
  float* out;
  napi_value arr = newF32(env, (size_t)d->B * d->m->c.V, &out);
  d->feedv(tok, false, ns, out, nullptr, nullptr);
  return arr;
}
static napi_value decodeFeed_impl(napi_env env, napi_callback_info info) {
  napi_value a[4];
  getArgs(env, info, 4, a);
  Decoder* d = getDecoder(env, a[0]);
  size_t len;
  int* tok = getTyped<int>(env, a[1], napi_int32_array, &len, "tokens");
  int n = (int)getNum(env, a[2], "n");
  if (n <= 0 || (long)len != (long)d->B * n) throw std::runtime_error(strf("decodeFeed: expected %dx%d tokens, got %zu", d->B, n, len));
  const std::vector<int> ns(d->B, n);
  return decodeFeedOut(env, d, tok, ns.data(), a[3]);
}
WRAP(decodeFeed)
// sequence lengths ns (Int32Array B, or at least B with atLeast, each > 0) of a concatenated token array
static std::vector<int> raggedCounts(napi_env env, napi_value v, Decoder* d, size_t tokens, const char* what, bool atLeast = false) {
  size_t nl;
  int* ns = getTyped<int>(env, v, napi_int32_array, &nl, "lengths");
  if (atLeast ? (long)nl < d->B : (long)nl != d->B)
    throw std::runtime_error(strf("%s: expected %s%d lengths, got %zu", what, atLeast ? "at least " : "", d->B, nl));
  long total = 0;
  for (size_t b = 0; b < nl; b++) {
    if (ns[b] <= 0) throw std::runtime_error(strf("%s: sequence %zu has %d tokens", what, b, ns[b]));
    total += ns[b];
  }
  if ((size_t)total != tokens) throw std::runtime_error(strf("%s: lengths sum to %ld, got %zu tokens", what, total, tokens));
  return std::vector<int>(ns, ns + nl);
}
static std::vector<int> intList(napi_env env, napi_value v, const char* what) {
  size_t n;
  int* p = getTyped<int>(env, v, napi_int32_array, &n, what);
  return std::vector<int>(p, p + n);
}
// decodeFeedRagged(s, tokens, lens, greedy): sequence b gets lens[b] tokens (tokens concatenated in sequence order)
static napi_value decodeFeedRagged_impl(napi_env env, napi_callback_info info) {
  napi_value a[4];
  getArgs(env, info, 4, a);
  Decoder* d = getDecoder(env, a[0]);
  size_t len;
  int* tok = getTyped<int>(env, a[1], napi_int32_array, &len, "tokens");
  const std::vector<int> ns = raggedCounts(env, a[2], d, len, "decodeFeedRagged");
  return decodeFeedOut(env, d, tok, ns.data(), a[3]);
}
WRAP(decodeFeedRagged)
// decodeGreedy(s, prompts, lens, steps, stopIds, banIds): N >= B prompts concatenated, lens[i] tokens each (continuous
// batching when N > B) -> Int32Array N*steps
static napi_value decodeGreedy_impl(napi_env env, napi_callback_info info) {
  napi_value a[6];
  getArgs(env, info, 6, a);
  Decoder* d = getDecoder(env, a[0]);
  size_t len;
  int* tok = getTyped<int>(env, a[1], napi_int32_array, &len, "prompt");
  const std::vector<int> ns = raggedCounts(env, a[2], d, len, "decodeGreedy", true);
  const int steps = (int)getNum(env, a[3], "steps");
  if (steps <= 0) throw std::runtime_error("decodeGreedy: steps must be positive");
  const std::vector<int> stops = intList(env, a[4], "stopIds");
  d->setBan(intList(env, a[5], "banIds"));
  const int N = (int)ns.size();
  napi_value ab, arr;
  void* p;
  NC(napi_create_arraybuffer(env, (size_t)N * steps * 4, &p, &ab));
  NC(napi_create_typedarray(env, napi_int32_array, (size_t)N * steps, ab, 0, &arr));
  d->greedy(tok, ns.data(), N, steps, stops, (int*)p);
  return arr;
}
WRAP(decodeGreedy)
static napi_value decodeLength_impl(napi_env env, napi_callback_info info) {
  napi_value a[1];
  getArgs(env, info, 1, a);
  return num(env, getDecoder(env, a[0])->pos);
}
WRAP(decodeLength)
static napi_value decodeFree_impl(napi_env env, napi_callback_info info) {
  napi_value a[1];
  getArgs(env, info, 1, a);
  void* p = nullptr;
  if (napi_get_value_external(env, a[0], &p) == napi_ok && p && g_dec.erase((Decoder*)p)) delete (Decoder*)p;
  return nullptr;
}
WRAP(decodeFree)
// setDevice(i): the CUDA device for the models created after it (call before create)
static napi_value setDevice_impl(napi_env env, napi_callback_info info) {
  napi_value a[1];
  getArgs(env, info, 1, a);
  int n = 0, d = (int)getNum(env, a[0], "device");
  CK(cudaGetDeviceCount(&n));
  if (d < 0 || d >= n) throw std::runtime_error(strf("cuda backend: device %d does not exist (%d visible)", d, n));
  CK(cudaSetDevice(d));
  return nullptr;
}
WRAP(setDevice)
static napi_value deviceCount_impl(napi_env env, napi_callback_info info) {
  int n = 0;
  CK(cudaGetDeviceCount(&n));
  return num(env, n);
}
WRAP(deviceCount)
// ncclId(libCandidates) -> Uint8Array(128): a new NCCL unique id (rank 0 makes it, the others receive it over TCP)
static napi_value ncclId_impl(napi_env env, napi_callback_info info) {
  napi_value a[1];
  getArgs(env, info, 1, a);
  NcclLib& L = ncclLoad(getStr(env, a[0]));
  ncclUniqueIdT id;
  CKN(L.getUniqueId(&id));
  napi_value ab, arr;
  void* d;
  NC(napi_create_arraybuffer(env, sizeof id, &d, &ab));
  memcpy(d, &id, sizeof id);
  NC(napi_create_typedarray(env, napi_uint8_array, sizeof id, ab, 0, &arr));
  return arr;
}
WRAP(ncclId)
// ncclInit(h, id Uint8Array(128), rank, world, libCandidates) -> {version, library}; blocks until every rank has joined
static napi_value ncclInit_impl(napi_env env, napi_callback_info info) {
  napi_value a[5];
  getArgs(env, info, 5, a);
  Model* m = getModel(env, a[0]);
  size_t len;
  uint8_t* idb = getTyped<uint8_t>(env, a[1], napi_uint8_array, &len, "id");
  if (len != sizeof(ncclUniqueIdT)) throw std::runtime_error(strf("ncclInit: the id must have %zu bytes (got %zu)", sizeof(ncclUniqueIdT), len));
  int r = (int)getNum(env, a[2], "rank"), w = (int)getNum(env, a[3], "world");
  if (w < 1 || r < 0 || r >= w) throw std::runtime_error(strf("ncclInit: bad rank %d of world %d", r, w));
  NcclLib& L = ncclLoad(getStr(env, a[4]));
  ncclUniqueIdT id;
  memcpy(&id, idb, sizeof id);
  m->ncclSetup(id, r, w);
  int ver = 0;
  L.getVersion(&ver);
  napi_value o, lib;
  NC(napi_create_object(env, &o));
  NC(napi_set_named_property(env, o, "version", num(env, ver)));
  NC(napi_create_string_utf8(env, L.path.c_str(), L.path.size(), &lib));
  NC(napi_set_named_property(env, o, "library", lib));
  return o;
}
WRAP(ncclInit)
// ncclOverlap(h): the next forwardBackward is this rank's last of the step: launch the all-reduce buckets during it
static napi_value ncclOverlap_impl(napi_env env, napi_callback_info info) {
  napi_value a[1];
  getArgs(env, info, 1, a);
  Model* m = getModel(env, a[0]);
  if (!m->dp.comm) throw std::runtime_error("ncclOverlap before ncclInit");
  m->dp.checkNoReduceInFlight("ncclOverlap");
  m->dp.overlapNext = true;
  return nullptr;
}
WRAP(ncclOverlap)
// allReduceGrads(h, timeoutS): sums the gradients over all ranks (in place), returns when done
static napi_value allReduceGrads_impl(napi_env env, napi_callback_info info) {
  napi_value a[2];
  getArgs(env, info, 2, a);
  Model* m = getModel(env, a[0]);
  m->gradsMaterialize();
  m->dp.allReduce(m->G, getNum(env, a[1], "timeoutS"));
  return nullptr;
}
WRAP(allReduceGrads)

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      {"create", 0, create, 0, 0, 0, napi_default_jsproperty, 0},
      {"params", 0, params, 0, 0, 0, napi_default_jsproperty, 0},
      {"init", 0, init, 0, 0, 0, napi_default_jsproperty, 0},
      {"get", 0, get, 0, 0, 0, napi_default_jsproperty, 0},
      {"set", 0, set, 0, 0, 0, napi_default_jsproperty, 0},
      {"zeroGrad", 0, zeroGrad, 0, 0, 0, napi_default_jsproperty, 0},
      {"stepCount", 0, stepCount, 0, 0, 0, napi_default_jsproperty, 0},
      {"forwardBackward", 0, fb, 0, 0, 0, napi_default_jsproperty, 0},
      {"forward", 0, fwd, 0, 0, 0, napi_default_jsproperty, 0},
      {"sequenceLogProbs", 0, seqLogp, 0, 0, 0, napi_default_jsproperty, 0},
      {"step", 0, step, 0, 0, 0, napi_default_jsproperty, 0},
      {"info", 0, info, 0, 0, 0, napi_default_jsproperty, 0},
      {"sync", 0, sync, 0, 0, 0, napi_default_jsproperty, 0},
      {"destroy", 0, destroy, 0, 0, 0, napi_default_jsproperty, 0},
      {"profile", 0, profile, 0, 0, 0, napi_default_jsproperty, 0},
      {"attnTest", 0, attnTest, 0, 0, 0, napi_default_jsproperty, 0},
      {"attnTime", 0, attnTime, 0, 0, 0, napi_default_jsproperty, 0},
      {"setDevice", 0, setDevice, 0, 0, 0, napi_default_jsproperty, 0},
      {"deviceCount", 0, deviceCount, 0, 0, 0, napi_default_jsproperty, 0},
      {"ncclId", 0, ncclId, 0, 0, 0, napi_default_jsproperty, 0},
      {"ncclInit", 0, ncclInit, 0, 0, 0, napi_default_jsproperty, 0},
      {"ncclOverlap", 0, ncclOverlap, 0, 0, 0, napi_default_jsproperty, 0},
      {"allReduceGrads", 0, allReduceGrads, 0, 0, 0, napi_default_jsproperty, 0},
      {"decodeStart", 0, decodeStart, 0, 0, 0, napi_default_jsproperty, 0},
      {"decodeFeed", 0, decodeFeed, 0, 0, 0, napi_default_jsproperty, 0},
      {"decodeFeedRagged", 0, decodeFeedRagged, 0, 0, 0, napi_default_jsproperty, 0},
      {"decodeGreedy", 0, decodeGreedy, 0, 0, 0, napi_default_jsproperty, 0},
      {"decodeLength", 0, decodeLength, 0, 0, 0, napi_default_jsproperty, 0},
      {"decodeFree", 0, decodeFree, 0, 0, 0, napi_default_jsproperty, 0},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
