// The conv block every model here is built from — conv2d (stride 1) + bias + ReLU, then 2x2 max pooling
// with stride 2 — as one kernel forward and one backward. tfjs runs a training step's block as nine
// kernels (Conv2D, Add, Relu, MaxPool; MaxPoolGrad, Step, Multiply, Sum, Conv2DBackpropFilter), each a
// pass over the full-size conv output; here the conv output exists only a tile at a time, in cache.
//
// Forward, tiles are runs of pooled rows: the im2col rows of the two conv rows each reads (an odd last conv
// row, which no window reads, is skipped), one sgemm, then bias, ReLU and the pooling straight from the
// sgemm's output; at most kColLimit floats of scratch whatever the image size. It keeps, per pooled value,
// which of its window's four positions won (0..3, row-major; the first maximum wins, and NaN never does,
// as tfjs-backend-cpu's max pool). The backward pass sends each pooled gradient to that position when the
// pooled value is > 0 (the ReLU's derivative there) and computes the conv's filter and input gradients
// from those alone (SparseBackward). The same arithmetic as tfjs's kernels, apart from the order of sums.
#include "conv_pool.h"

#include "conv_core.h"
#include "conv_pool_direct.h"
#include "napi_args.h"
#include "vector_clones.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <vector>

namespace ff {
namespace {

struct Block {
  Geo g;
  int64_t PH, PW;  // pooled output
  // A unit is one pooled row: the two conv output rows (all OW columns) its windows read. Unit u is
  // (n, ph) = (u / PH, u % PH); its conv rows are contiguous im2col rows.
  int64_t units() const { return g.N * PH; }
  int64_t unitRows() const { return 2 * g.OW; }
  int64_t firstRow(int64_t u) const { return ((u / PH) * g.OH + 2 * (u % PH)) * g.OW; }
  int64_t pooled() const { return g.N * PH * PW * g.OC; }
};

// Units per tile: their columns and conv outputs within kColLimit floats
// (at least one unit, however wide the image).
int64_t TileUnits(const Block& b) {
  const int64_t perUnit = b.unitRows() * (b.g.kc() + b.g.OC);
  return std::max<int64_t>(1, std::min<int64_t>(b.units(), kColLimit / std::max<int64_t>(1, perUnit)));
}

// Im2col of units [u0, u1), one after another.
void TileColumns(const float* x, const Block& b, int64_t u0, int64_t u1, float* col) {
  const int64_t rows = b.unitRows(), KC = b.g.kc();
  for (int64_t u = u0; u < u1; ++u) Im2ColRows(x, b.g, b.firstRow(u), b.firstRow(u) + rows, col + (u - u0) * rows * KC);
}

// Row (within its unit's conv rows) of window pw's position k (0..3, row-major over the 2x2 window).
inline int64_t WindowRow(const Block& b, int64_t pw, int32_t k) { return (k >> 1) * b.g.OW + 2 * pw + (k & 1); }

void Forward(const float* x, const float* w, const float* bias, float* y, int32_t* arg, const Block& b, float* ws) {
  const Geo& g = b.g;
  const int64_t T = TileUnits(b), rows = b.unitRows(), KC = g.kc(), OC = g.OC;
  float* col = ws;
  float* z = ws + T * rows * KC;
  for (int64_t u0 = 0; u0 < b.units(); u0 += T) {
    const int64_t u1 = std::min(b.units(), u0 + T);
    TileColumns(x, b, u0, u1, col);
    Gemm(false, false, (u1 - u0) * rows, OC, KC, 1.f, col, std::max<int64_t>(1, KC), w, OC, 0.f, z, OC);
    for (int64_t u = u0; u < u1; ++u) {
      const float* zu = z + (u - u0) * rows * OC;
      for (int64_t pw = 0; pw < b.PW; ++pw) {
        const int64_t out = (u * b.PW + pw) * OC;  // pooled (n, ph, pw) in NHWC
        const float* q[4];
        for (int32_t k = 0; k < 4; ++k) q[k] = zu + WindowRow(b, pw, k) * OC;
        for (int64_t c = 0; c < OC; ++c) {
          float best = -INFINITY;
          int32_t where = 0;
          for (int32_t k = 0; k < 4; ++k) {
            float v = q[k][c] + bias[c];
            v = v < 0.f ? 0.f : v;  // ReLU; NaN passes, as in tfjs
            if (v > best) {
              best = v;
              where = k;
            }
          }
          y[out + c] = best;
          arg[out + c] = where;
        }
      }
    }
  }
}

// The backward pass from the pooling winners alone. A pooled gradient reaches one conv output per channel,
// its window's winner, and only where the ReLU passed it (pooled value > 0), so at most a quarter of the
// conv output's gradient is non-zero. Each non-zero gradient v at conv output (n, oh, ow), filter c adds v
// times its input patch to c's filter gradient and v times c's filter to the patch's input gradient: a
// quarter of the dense arithmetic at most. Zero gradients are skipped, as the direct path skips them (a
// 0·Inf there gives 0, not the NaN of a dense product).
//
// It replaced a dense pass (dz with its zeros, im2col, two sgemms, col2im per tile). Measured on 2026-11-28
// (AVX-512 VM, one thread, batch 32, 14x14): fusion-s's second block (32 -> 64 channels) on gradients
// captured from its training (52-62% passing) 1.7-1.8 ms against 5.1-5.4 per call; with every gradient
// passing (synthetic) 4.0 against 4.9 at 32 -> 64, 16.3 against 17.4 at fusion-l's 64 -> 128, and the one
// loss, 64.7 against 61.9 at 128 -> 256.
//
// Each gradient is then a sum of terms v·(a row of floats) — a filter's over the patches of its winners, a
// window's input block over the filters of its winners — which GatherAxpy adds up in registers (adding
// into memory term by term made every term wait for the store of the one before).

// 16 floats as one value (GCC's vector extension): each clone below holds it in its own registers (one
// AVX-512, two AVX2, four SSE), lane by lane the same arithmetic. The loop vectoriser left these sums scalar.
typedef float F16 __attribute__((vector_size(64), aligned(4)));

// out[0 .. 16V) += Σ_e v[e] · src[off[e] ..] (kAdd), or = it, V vectors in registers.
template <int V, bool kAdd>
__attribute__((always_inline)) inline void GatherAxpyVectors(const float* src, const int64_t* off, const float* v, int64_t m, float* out) {
  F16 a[V] = {};
  for (int64_t e = 0; e < m; ++e) {
    const F16* s = reinterpret_cast<const F16*>(src + off[e]);
    const float ve = v[e];
    for (int j = 0; j < V; ++j) a[j] += ve * s[j];
  }
  F16* o = reinterpret_cast<F16*>(out);
  for (int j = 0; j < V; ++j) o[j] = kAdd ? o[j] + a[j] : a[j];
}

// out[i] += Σ_e v[e] · src[off[e] + i] (kAdd), or = it, for i < width, e < m, the terms added in order from
// zero. Up to eight vectors at once: a row of a 3x3 filter over 32 channels (96 floats) is one pass of six.
// Inlined into the clones of SparseImage.
template <bool kAdd>
__attribute__((always_inline)) inline void GatherAxpy(const float* src, const int64_t* off, const float* v, int64_t m, float* out, int64_t width) {
  int64_t i = 0;
  for (; i + 16 <= width;) {
    const int64_t vectors = std::min<int64_t>(8, (width - i) / 16);
    switch (vectors) {
      case 8: GatherAxpyVectors<8, kAdd>(src + i, off, v, m, out + i); break;
      case 7: GatherAxpyVectors<7, kAdd>(src + i, off, v, m, out + i); break;
      case 6: GatherAxpyVectors<6, kAdd>(src + i, off, v, m, out + i); break;
      case 5: GatherAxpyVectors<5, kAdd>(src + i, off, v, m, out + i); break;
      case 4: GatherAxpyVectors<4, kAdd>(src + i, off, v, m, out + i); break;
      case 3: GatherAxpyVectors<3, kAdd>(src + i, off, v, m, out + i); break;
      case 2: GatherAxpyVectors<2, kAdd>(src + i, off, v, m, out + i); break;
      default: GatherAxpyVectors<1, kAdd>(src + i, off, v, m, out + i); break;
    }
    i += 16 * vectors;
  }
  for (; i < width; ++i) {
    float acc = 0.f;
    for (int64_t e = 0; e < m; ++e) acc += v[e] * src[off[e] + i];
    out[i] = kAdd ? out[i] + acc : acc;
  }
}

// A sum's terms: where each row starts in the source, and its factor; the memory grows when needed and is
// reused.
struct Terms {
  std::vector<int64_t> off;
  std::vector<float> v;
  int64_t m = 0;
  void reset(int64_t capacity) {
    if (int64_t(v.size()) < capacity) {
      off.resize(size_t(capacity));
      v.resize(size_t(capacity));
    }
    m = 0;
  }
  void add(int64_t o, float g) {
    off[size_t(m)] = o;
    v[size_t(m++)] = g;
  }
};

// Image n's part, added to dwT (the filter gradients as [OC][KH][KW][C]), dbSum and dx (unless null). xp:
// the image zero-padded to the Hp x Wp rows and columns the conv reads, so every patch row is whole; wT:
// the filters as [OC][KH][KW][C], contiguous over the input channels as x is; block: room for a window's
// (KH + 1) x (KW + 1) x C input block and a KH x KW x C patch.
FF_VECTOR_CLONES_512 void SparseImage(int64_t n, const float* dy, const float* xp, int64_t Wp, const float* wT, const float* y,
                                      const int32_t* arg, const Block& b, float* dwT, double* dbSum, float* dx, float* block,
                                      std::vector<Terms>& byFilter, Terms (&byPosition)[4]) {
  const Geo& g = b.g;
  const int64_t OC = g.OC, C = g.C, KC = g.kc(), BW = (g.KW + 1) * C, blockSize = (g.KH + 1) * BW, row = g.KW * C;
  byFilter.resize(size_t(OC));
  for (Terms& t : byFilter) t.reset(b.PH * b.PW);
  for (Terms& t : byPosition) t.reset(OC);
  float* dxn = dx == nullptr ? nullptr : dx + n * g.H * g.W * C;
  float* patch = block + blockSize;
  int64_t out = n * b.PH * b.PW * OC;
  for (int64_t ph = 0; ph < b.PH; ++ph) {
    for (int64_t pw = 0; pw < b.PW; ++pw, out += OC) {
      for (Terms& t : byPosition) t.m = 0;
      bool any = false;
      for (int64_t c = 0; c < OC; ++c) {
        if (!(y[out + c] > 0.f)) continue;  // the ReLU's derivative is 0 there
        const float v = dy[out + c];
        dbSum[c] += double(v);
        if (v == 0.f) continue;
        const int32_t k = arg[out + c];
        byFilter[size_t(c)].add(((2 * ph + (k >> 1)) * Wp + 2 * pw + (k & 1)) * C, v);
        byPosition[k].add(c * KC, v);
        any = true;
      }
      if (dxn == nullptr || !any) continue;
      // The window's block: each winning position's patch gradient (in the filters' layout, in one pass),
      // added where the patch starts, at row k >> 1 and column k & 1.
      memset(block, 0, size_t(blockSize) * sizeof(float));
      for (int32_t k = 0; k < 4; ++k) {
        const Terms& t = byPosition[k];
        if (t.m == 0) continue;
        GatherAxpy<false>(wT, t.off.data(), t.v.data(), t.m, patch, KC);
        for (int64_t kh = 0; kh < g.KH; ++kh) {
          float* d = block + ((k >> 1) + kh) * BW + (k & 1) * C;
          const float* p = patch + kh * row;
          for (int64_t i = 0; i < row; ++i) d[i] += p[i];
        }
      }
      // Into dx where the block lies inside the image.
      const int64_t ih0 = 2 * ph - g.pt, iw0 = 2 * pw - g.pl;
      const int64_t c0 = std::max<int64_t>(0, -iw0), c1 = std::min<int64_t>(g.KW + 1, g.W - iw0), span = (c1 - c0) * C;
      if (span <= 0) continue;
      for (int64_t r = 0; r <= g.KH; ++r) {
        const int64_t ih = ih0 + r;
        if (ih < 0 || ih >= g.H) continue;
        float* dxr = dxn + (ih * g.W + iw0 + c0) * C;
        const float* br = block + r * BW + c0 * C;
        for (int64_t i = 0; i < span; ++i) dxr[i] += br[i];
      }
    }
  }
  for (int64_t c = 0; c < OC; ++c) {
    const Terms& t = byFilter[size_t(c)];
    for (int64_t kh = 0; kh < g.KH; ++kh) GatherAxpy<true>(xp + kh * Wp * C, t.off.data(), t.v.data(), t.m, dwT + c * KC + kh * row, row);
  }
}

// The floats SparseBackward needs from the workspace: wT, dwT, the block and its patch, one padded image.
int64_t SparseWorkspace(const Geo& g) {
  return 2 * g.kc() * g.OC + (g.KH + 1) * (g.KW + 1) * g.C + g.kc() + (g.OH + g.KH - 1) * (g.OW + g.KW - 1) * g.C;
}

void SparseBackward(const float* dy, const float* x, const float* w, const float* y, const int32_t* arg, const Block& b, float* dw,
                    float* db, float* dx, float* ws) {
  const Geo& g = b.g;
  const int64_t KC = g.kc(), OC = g.OC, C = g.C, Hp = g.OH + g.KH - 1, Wp = g.OW + g.KW - 1;
  float* wT = ws;
  float* dwT = wT + KC * OC;
  float* block = dwT + KC * OC;
  float* xp = block + (g.KH + 1) * (g.KW + 1) * C + KC;
  if (dx != nullptr) {
    for (int64_t k = 0; k < KC; ++k)
      for (int64_t c = 0; c < OC; ++c) wT[c * KC + k] = w[k * OC + c];
    memset(dx, 0, size_t(g.N * g.H * g.W * C) * sizeof(float));
  }
  memset(dwT, 0, size_t(KC * OC) * sizeof(float));
  std::vector<double> dbSum(size_t(OC), 0.0);
  // The terms' memory, kept per thread between calls (the addon also runs in worker threads).
  static thread_local std::vector<Terms> byFilter;
  static thread_local Terms byPosition[4];
  for (int64_t n = 0; n < g.N; ++n) {
    for (int64_t r = 0; r < Hp; ++r) {
      float* dst = xp + r * Wp * C;
      const int64_t ih = r - g.pt;
      for (int64_t q = 0; q < Wp; ++q) {
        const int64_t iw = q - g.pl;
        if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) memset(dst + q * C, 0, size_t(C) * sizeof(float));
        else memcpy(dst + q * C, x + ((n * g.H + ih) * g.W + iw) * C, size_t(C) * sizeof(float));
      }
    }
    SparseImage(n, dy, xp, Wp, wT, y, arg, b, dwT, dbSum.data(), dx, block, byFilter, byPosition);
  }
  for (int64_t k = 0; k < KC; ++k)
    for (int64_t c = 0; c < OC; ++c) dw[k * OC + c] = dwT[c * KC + k];
  for (int64_t c = 0; c < OC; ++c) db[c] = float(dbSum[size_t(c)]);
}

// Every argmax entry is 0..3 (the backward indexes with them). One pass without early exit, so that it
// vectorises: checked branch by branch it was ~6% of a `cnn` training step.
FF_VECTOR_CLONES bool ArgmaxInRange(const int32_t* arg, int64_t n) {
  uint32_t most = 0;  // as unsigned, a negative entry is larger than 3 too
  for (int64_t i = 0; i < n; ++i) most = uint32_t(arg[i]) > most ? uint32_t(arg[i]) : most;
  return most <= 3;
}

// The block's geometry from a conv geometry: stride 1, no dilation, 2x2 pooling of the conv output.
bool GetBlock(napi_env env, napi_value v, Block* b) {
  if (!GetGeo(env, v, &b->g)) return false;
  const Geo& g = b->g;
  if (g.sh != 1 || g.sw != 1 || g.dh != 1 || g.dw != 1) return Throw(env, "convPool: stride and dilation must be 1");
  if (g.OH < 2 || g.OW < 2 || g.OC < 1) return Throw(env, "convPool: the conv output must be at least 2x2 with a channel");
  b->PH = g.OH / 2;
  b->PW = g.OW / 2;
  return true;
}

float* TileWorkspace(napi_env env, const Block& b) {
  const int64_t T = TileUnits(b);
  const int64_t floats = T * b.unitRows() * (b.g.kc() + b.g.OC);
  float* ws = Workspace(env, size_t(std::max<int64_t>(1, floats)));
  if (ws == nullptr) napi_throw_error(env, nullptr, "convPool: out of memory for its tiles");
  return ws;
}

// convPool(x, filter, bias, y, argmax, geometry): y, argmax [N, OH/2, OW/2, OC].
napi_value ConvPool(napi_env env, napi_callback_info info) {
  napi_value a[6];
  float *x, *w, *bias, *y;
  int32_t* arg;
  int64_t lx, lw, lb, ly, la;
  Block b;
  if (!GetArgs(env, info, a, 6, "convPool(x, filter, bias, y, argmax, geometry)") || !GetF32(env, a[0], &x, &lx, "x") ||
      !GetF32(env, a[1], &w, &lw, "filter") || !GetF32(env, a[2], &bias, &lb, "bias") || !GetF32(env, a[3], &y, &ly, "y") ||
      !GetI32(env, a[4], &arg, &la, "argmax") || !GetBlock(env, a[5], &b)) {
    return nullptr;
  }
  const Geo& g = b.g;
  if (g.N * g.H * g.W * g.C > lx || g.kc() * g.OC > lw || g.OC > lb || b.pooled() > ly || b.pooled() > la) {
    Throw(env, "convPool: an array is smaller than the geometry needs");
    return nullptr;
  }
  if (g.N == 0) return nullptr;
  if (ConvPoolDirectCovers(g)) {
    ConvPoolDirectForward(x, w, bias, y, arg, g, b.PH, b.PW);
    return nullptr;
  }
  float* ws = TileWorkspace(env, b);
  if (ws != nullptr) Forward(x, w, bias, y, arg, b, ws);
  return nullptr;
}

// convPoolGrad(dy, x, filter, y, argmax, dfilter, dbias, dx | null, geometry)
napi_value ConvPoolGrad(napi_env env, napi_callback_info info) {
  napi_value a[9];
  float *dy, *x, *w, *y, *dw, *db, *dx;
  int32_t* arg;
  int64_t ldy, lx, lw, ly, la, ldw, ldb, ldx = 0;
  Block b;
  if (!GetArgs(env, info, a, 9, "convPoolGrad(dy, x, filter, y, argmax, dfilter, dbias, dx, geometry)") ||
      !GetF32(env, a[0], &dy, &ldy, "dy") || !GetF32(env, a[1], &x, &lx, "x") || !GetF32(env, a[2], &w, &lw, "filter") ||
      !GetF32(env, a[3], &y, &ly, "y") || !GetI32(env, a[4], &arg, &la, "argmax") || !GetF32(env, a[5], &dw, &ldw, "dfilter") ||
      !GetF32(env, a[6], &db, &ldb, "dbias") || !GetOptF32(env, a[7], &dx, &ldx, "dx") || !GetBlock(env, a[8], &b)) {
    return nullptr;
  }
  const Geo& g = b.g;
  const int64_t inSize = g.N * g.H * g.W * g.C, filterSize = g.kc() * g.OC, pooled = b.pooled();
  if (inSize > lx || filterSize > lw || filterSize > ldw || g.OC > ldb || pooled > ldy || pooled > ly || pooled > la ||
      (dx != nullptr && inSize > ldx)) {
    Throw(env, "convPoolGrad: an array is smaller than the geometry needs");
    return nullptr;
  }
  if (!ArgmaxInRange(arg, pooled)) {
    Throw(env, "convPoolGrad: argmax entries must be 0..3");
    return nullptr;
  }
  if (dx == nullptr && ConvPoolDirectCovers(g)) {
    ConvPoolDirectFilterGrad(dy, x, y, arg, g, b.PH, b.PW, dw, db);
    return nullptr;
  }
  float* ws = Workspace(env, size_t(SparseWorkspace(g)));
  if (ws == nullptr) {
    napi_throw_error(env, nullptr, "convPool: out of memory for its filters");
    return nullptr;
  }
  SparseBackward(dy, x, w, y, arg, b, dw, db, dx, ws);
  return nullptr;
}

}  // namespace

void DefineConvPool(napi_env env, napi_value exports) {
  DefineMethods(env, exports, {{"convPool", ConvPool}, {"convPoolGrad", ConvPoolGrad}});
}

}  // namespace ff
