// See attention.h. Products go through Gemm (conv_core.h), so the small-product kernel or OpenBLAS does
// them; the softmax and its gradient are plain loops over each [tokens, tokens] block.
#include "attention.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include <string>
#include <vector>

#include "../../cc/encoder_math.h"
#include "conv_core.h"
#include "napi_args.h"
#include "vector_clones.h"

namespace ff {
namespace {

// Shapes: q, k, v, out and their gradients [batch·tokens, heads·headDim]; probs [batch, heads, tokens, tokens].
struct Heads {
  int64_t batch, tokens, heads, headDim;
  int64_t width() const { return heads * headDim; }
  int64_t probs() const { return batch * heads * tokens * tokens; }
  // Offset of head h of image b in an activation array (rows strided by width()).
  int64_t at(int64_t b, int64_t h) const { return b * tokens * width() + h * headDim; }
  int64_t block(int64_t b, int64_t h) const { return (b * heads + h) * tokens * tokens; }
};

// exp(x) for x <= 0 (a softmax's v − max), Cephes's expf: 2^n · e^r with |r| <= ln2/2 and a degree-6
// polynomial, within ~1 ulp; 0 below −87.3 (where float32 exp is denormal or 0). NaN stays NaN. Written so
// that the loop calling it vectorizes: libm's expf, called per value, took 80% of the attention kernel.
inline float ExpNonPositive(float x) {
  const float lo = -87.3f;
  const float xc = x < lo ? lo : x;
  const float n = floorf(xc * 1.44269504088896341f + 0.5f);
  float r = xc - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.f;
  const int32_t bits = (int32_t(n) + 127) << 23;
  float scale;
  memcpy(&scale, &bits, sizeof scale);
  return x < lo ? 0.f : p * scale;
}

// Row reductions keep partial results, so that they run as vectors rather than one chain of dependent
// operations (50 tokens: a float64 sum in one chain took as long as the exps): the max here with kParts
// partial maxima, the float64 sums with encoder_math.h's LaneSum, as the encoder's layer norm does.
constexpr int kParts = 8;

inline float RowMax(const float* p, int64_t n) {
  float part[kParts];
  for (int l = 0; l < kParts; ++l) part[l] = -INFINITY;
  int64_t j = 0;
  for (; j + kParts <= n; j += kParts)
    for (int l = 0; l < kParts; ++l) part[l] = p[j + l] > part[l] ? p[j + l] : part[l];
  for (; j < n; ++j) part[0] = p[j] > part[0] ? p[j] : part[0];
  float max = part[0];
  for (int l = 1; l < kParts; ++l) max = part[l] > max ? part[l] : max;
  return max;
}

// Each row of p [n, n] := softmax of itself: exp(v − max) / Σ, as tfjs's (the sum in float64).
FF_VECTOR_CLONES void SoftmaxRows(float* p, int64_t n) {
  for (int64_t r = 0; r < n; ++r, p += n) {
    const float max = RowMax(p, n);
    for (int64_t j = 0; j < n; ++j) p[j] = ExpNonPositive(p[j] - max);
    const float inv = float(1.0 / LaneSum(n, [p](int64_t j) { return double(p[j]); }));
    for (int64_t j = 0; j < n; ++j) p[j] *= inv;
  }
}

// ds := p ⊙ (ds − Σ_j ds·p) per row: the softmax's gradient, from the probabilities' (in ds).
FF_VECTOR_CLONES void SoftmaxGradRows(const float* p, float* ds, int64_t n) {
  for (int64_t r = 0; r < n; ++r, p += n, ds += n) {
    const float s = float(LaneSum(n, [ds, p](int64_t j) { return double(ds[j]) * p[j]; }));
    for (int64_t j = 0; j < n; ++j) ds[j] = p[j] * (ds[j] - s);
  }
}

// Reads batch, tokens, heads from a[first..] and checks the arrays' lengths (activations: the first
// `acts` of lens, then probs).
bool GetHeads(napi_env env, napi_value* a, const int64_t* lens, int acts, int64_t probsLen, Heads* h, const char* what) {
  if (!GetInt(env, a[0], &h->batch, "batch") || !GetInt(env, a[1], &h->tokens, "tokens") || !GetInt(env, a[2], &h->heads, "heads")) return false;
  if (h->batch < 1 || h->tokens < 1 || h->heads < 1 || lens[0] % (h->batch * h->tokens * h->heads) != 0 || lens[0] == 0) {
    return Throw(env, (std::string(what) + ": q's length is not batch x tokens x heads x headDim").c_str());
  }
  h->headDim = lens[0] / (h->batch * h->tokens * h->heads);
  for (int i = 1; i < acts; ++i) {
    if (lens[i] != lens[0]) return Throw(env, (std::string(what) + ": q, k, v and the outputs differ in length").c_str());
  }
  if (probsLen != h->probs()) return Throw(env, (std::string(what) + ": probs is not batch x heads x tokens x tokens").c_str());
  return true;
}

// attention(q, k, v, out, probs, batch, tokens, heads, scale): per image and head,
// probs = softmax(scale · Q·Kᵀ), out = probs·V.
napi_value Attention(napi_env env, napi_callback_info info) {
  napi_value a[9];
  float *q, *k, *v, *out, *probs;
  int64_t lens[4], lp;
  double scale;
  if (!GetArgs(env, info, a, 9, "attention(q, k, v, out, probs, batch, tokens, heads, scale)") || !GetF32(env, a[0], &q, &lens[0], "q") ||
      !GetF32(env, a[1], &k, &lens[1], "k") || !GetF32(env, a[2], &v, &lens[2], "v") || !GetF32(env, a[3], &out, &lens[3], "out") ||
      !GetF32(env, a[4], &probs, &lp, "probs") || !GetNum(env, a[8], &scale, "scale")) {
    return nullptr;
  }
  Heads h;
  if (!GetHeads(env, a + 5, lens, 4, lp, &h, "attention")) return nullptr;
  const int64_t T = h.tokens, D = h.width(), hd = h.headDim;
  for (int64_t b = 0; b < h.batch; ++b) {
    for (int64_t i = 0; i < h.heads; ++i) {
      const int64_t o = h.at(b, i);
      float* p = probs + h.block(b, i);
      Gemm(false, true, T, T, hd, float(scale), q + o, D, k + o, D, 0.f, p, T);
      SoftmaxRows(p, T);
      Gemm(false, false, T, hd, T, 1.f, p, T, v + o, D, 0.f, out + o, D);
    }
  }
  return nullptr;
}

// attentionGrad(dout, q, k, v, probs, dq, dk, dv, batch, tokens, heads, scale): with P = probs,
// dV = Pᵀ·dO, dS = softmax′(dO·Vᵀ), dQ = scale · dS·K, dK = scale · dSᵀ·Q.
napi_value AttentionGrad(napi_env env, napi_callback_info info) {
  napi_value a[12];
  float *dout, *q, *k, *v, *probs, *dq, *dk, *dv;
  int64_t lens[7], lp;
  double scale;
  if (!GetArgs(env, info, a, 12, "attentionGrad(dout, q, k, v, probs, dq, dk, dv, batch, tokens, heads, scale)") ||
      !GetF32(env, a[0], &dout, &lens[0], "dout") || !GetF32(env, a[1], &q, &lens[1], "q") || !GetF32(env, a[2], &k, &lens[2], "k") ||
      !GetF32(env, a[3], &v, &lens[3], "v") || !GetF32(env, a[4], &probs, &lp, "probs") || !GetF32(env, a[5], &dq, &lens[4], "dq") ||
      !GetF32(env, a[6], &dk, &lens[5], "dk") || !GetF32(env, a[7], &dv, &lens[6], "dv") || !GetNum(env, a[11], &scale, "scale")) {
    return nullptr;
  }
  Heads h;
  if (!GetHeads(env, a + 8, lens, 7, lp, &h, "attentionGrad")) return nullptr;
  const int64_t T = h.tokens, D = h.width(), hd = h.headDim;
  thread_local std::vector<float> ds;
  ds.resize(size_t(T * T));
  for (int64_t b = 0; b < h.batch; ++b) {
    for (int64_t i = 0; i < h.heads; ++i) {
      const int64_t o = h.at(b, i);
      const float* p = probs + h.block(b, i);
      Gemm(true, false, T, hd, T, 1.f, p, T, dout + o, D, 0.f, dv + o, D);
      Gemm(false, true, T, T, hd, 1.f, dout + o, D, v + o, D, 0.f, ds.data(), T);
      SoftmaxGradRows(p, ds.data(), T);
      Gemm(false, false, T, hd, T, float(scale), ds.data(), T, k + o, D, 0.f, dq + o, D);
      Gemm(true, false, T, hd, T, float(scale), ds.data(), T, q + o, D, 0.f, dk + o, D);
    }
  }
  return nullptr;
}

}  // namespace

void DefineAttention(napi_env env, napi_value exports) {
  DefineMethods(env, exports, {{"attention", Attention}, {"attentionGrad", AttentionGrad}});
}

}  // namespace ff
