// The chain-model kernels of the wasm fallback (where the native addon is not built): the conv block's
// direct path, sgemm, the dense epilogue, column sums and Adam, in WebAssembly SIMD (128-bit, no FMA).
// Built by ../build.mjs into ../kernels.wasm, which is committed: a machine without a compiler still has
// it. Pointers are byte offsets into the memory the module imports; nothing here allocates. The
// arithmetic is that of the native addon's kernels (shared/backends/native/src), with the same rules:
// ReLU lets NaN and -0 through, the first maximum of a pooling window wins and NaN never does, the
// gradient passes where the pooled value is > 0, bias gradients and column sums add in float64, Adam is
// tfjs's float32 arithmetic operation for operation.
#include <stdint.h>
#include <wasm_simd128.h>

#include "../../cc/conv_block.h"
#include "../../cc/encoder_math.h"

#define EXPORT(name) extern "C" __attribute__((export_name(#name)))

namespace {

using ff::GatherBlock;
using ff::kDirectMaxBlock;
using ff::kDirectMaxFilters;
using ff::kDirectMaxTaps;
using ff::WithTaps;
typedef v128_t V;

// ---------------------------------------------------------------------------------------------------
// The conv block's direct path: conv (stride 1) + bias + ReLU + 2x2 max pooling for few input taps.

struct Geo {
  int N, H, W, C, KH, KW, OC, pt, pl, PH, PW;
  int kc() const { return KH * KW * C; }
};

// Filters go in groups of two vectors (8 filters; a last group of one): the four positions' accumulators,
// two weight vectors and a broadcast fit the 16 registers V8 has on x64. packed holds a group's weights
// for tap k at (k * G + j) * 4, the group starting at vector j0 at j0 * 4 * KC.
constexpr int kGroup = 2;
inline int GroupSize(int j0, int vectors) { return j0 + kGroup <= vectors ? kGroup : 1; }

alignas(16) float gPacked[kDirectMaxTaps * kDirectMaxFilters];

void PackFilters(const float* w, int KC, int OC) {
  const int vectors = OC / 4;
  for (int j0 = 0, G; j0 < vectors; j0 += G) {
    G = GroupSize(j0, vectors);
    for (int k = 0; k < KC; ++k)
      for (int j = 0; j < G; ++j) wasm_v128_store(gPacked + j0 * 4 * KC + (k * G + j) * 4, wasm_v128_load(w + k * OC + (j0 + j) * 4));
  }
}

// A window's four conv outputs z0..z3 (row-major) of four filters → + bias, ReLU, max and its position.
// ReLU as tfjs's (v < 0 ? 0 : v): pmax(v, 0) = v < 0 ? 0 : v keeps NaN and -0. The running max
// pmax(best, v) = best < v ? v : best takes v only where v > best: the first maximum wins and NaN never
// does (a window of NaN gives -Infinity). Positions rise, so a later win's position is the max.
inline __attribute__((always_inline)) void PoolEpilogue(V z0, V z1, V z2, V z3, V b, float* y, int32_t* arg) {
  const V zero = wasm_f32x4_const_splat(0.f);
  V best = wasm_f32x4_pmax(wasm_f32x4_const_splat(-__builtin_inff()), wasm_f32x4_pmax(wasm_f32x4_add(z0, b), zero));
  V where = wasm_i32x4_const_splat(0);
  const V z[3] = {z1, z2, z3};
  for (int pos = 1; pos < 4; ++pos) {
    const V v = wasm_f32x4_pmax(wasm_f32x4_add(z[pos - 1], b), zero);
    where = wasm_i32x4_max(where, wasm_v128_and(wasm_f32x4_gt(v, best), wasm_i32x4_splat(pos)));
    best = wasm_f32x4_pmax(best, v);
  }
  wasm_v128_store(y, best);
  wasm_v128_store(arg, where);
}

template <int G, class Taps>
inline void WindowForward(const float* block, const Taps& t, const float* wg, const float* bias, float* y, int32_t* arg) {
  V acc[4][G];
  for (int pos = 0; pos < 4; ++pos)
    for (int j = 0; j < G; ++j) acc[pos][j] = wasm_f32x4_const_splat(0.f);
  t.ForEachTap([&](int k) {
    V wv[G];
    for (int j = 0; j < G; ++j) wv[j] = wasm_v128_load(wg + (k * G + j) * 4);
    for (int pos = 0; pos < 4; ++pos) {
      const V v = wasm_v128_load32_splat(&block[t.Off(pos, k)]);
      for (int j = 0; j < G; ++j) acc[pos][j] = wasm_f32x4_add(acc[pos][j], wasm_f32x4_mul(v, wv[j]));
    }
  });
  for (int j = 0; j < G; ++j) PoolEpilogue(acc[0][j], acc[1][j], acc[2][j], acc[3][j], wasm_v128_load(bias + 4 * j), y + 4 * j, arg + 4 * j);
}

template <class Taps>
void Forward(const float* x, const float* w, const float* bias, float* y, int32_t* arg, const Geo& g, const Taps& t) {
  const int OC = g.OC, vectors = OC / 4;
  alignas(16) float block[kDirectMaxBlock];
  PackFilters(w, t.KC, OC);
  for (int n = 0; n < g.N; ++n) {
    for (int ph = 0; ph < g.PH; ++ph) {
      for (int pw = 0; pw < g.PW; ++pw) {
        GatherBlock(x, g, t, n, ph, pw, block);
        const int out = ((n * g.PH + ph) * g.PW + pw) * OC;
        for (int j = 0, G; j < vectors; j += G) {
          G = GroupSize(j, vectors);
          const float* wg = gPacked + j * 4 * t.KC;
          if (G == kGroup) WindowForward<kGroup>(block, t, wg, bias + 4 * j, y + out + 4 * j, arg + out + 4 * j);
          else WindowForward<1>(block, t, wg, bias + 4 * j, y + out + 4 * j, arg + out + 4 * j);
        }
      }
    }
  }
}

// The filter gradient: each live pooled unit (pooled value > 0) adds its gradient times the patch of its
// window's winning position to its filter. Lanes run over the taps: a window's four patches are laid out
// once as NV vectors each (zero-padded past KC), and unit (window, oc) adds gradient · patch[arg] to
// filter row oc (kept in L1) — no lane is spent on a losing position. Dead units add zeros: branch-free,
// since about half of a ReLU layer's units are dead, in no predictable pattern (with a branch per unit
// cnn's filter gradient took 0.69 ms rather than 0.50). Accumulating each row over a tile of windows in registers
// instead was slower: V8 spilled the accumulators.
alignas(16) float gPatches[4 * kDirectMaxTaps];
alignas(16) float gFilterRows[kDirectMaxFilters * kDirectMaxTaps];
alignas(16) double gBiasSums[kDirectMaxFilters];

// Filter row += the gradient in lane L of gv times the patch at offset lane L of `at`.
template <int NV, int L>
inline __attribute__((always_inline)) void Lane(V gv, V at, float* row) {
  const V g = wasm_i32x4_shuffle(gv, gv, L, L, L, L);
  const float* p = gPatches + wasm_i32x4_extract_lane(at, L);
  for (int j = 0; j < NV; ++j) wasm_v128_store(row + 4 * j, wasm_f32x4_add(wasm_v128_load(row + 4 * j), wasm_f32x4_mul(g, wasm_v128_load(p + 4 * j))));
}

template <int NV, class Taps>
void FilterGrad(const float* dy, const float* x, const float* y, const int32_t* arg, const Geo& g, const Taps& t, float* dw, float* db) {
  constexpr int KCP = NV * 4;
  const int OC = g.OC;
  const V zero = wasm_f32x4_const_splat(0.f);
  alignas(16) float block[kDirectMaxBlock];
  for (int i = 0; i < OC * KCP; ++i) gFilterRows[i] = 0.f;
  for (int i = 0; i < 4 * KCP; ++i) gPatches[i] = 0.f;
  for (int o = 0; o < OC; ++o) gBiasSums[o] = 0.0;
  for (int n = 0; n < g.N; ++n) {
    for (int ph = 0; ph < g.PH; ++ph) {
      for (int pw = 0; pw < g.PW; ++pw) {
        GatherBlock(x, g, t, n, ph, pw, block);
        t.ForEachTap([&](int k) {
          for (int pos = 0; pos < 4; ++pos) gPatches[pos * KCP + k] = block[t.Off(pos, k)];
        });
        const int out = ((n * g.PH + ph) * g.PW + pw) * OC;
        for (int o = 0; o < OC; o += 4) {
          // Four units' gradients at once, zero where the pooled value is not > 0 (NaN included), then each
          // broadcast from its lane: no branch on the data.
          const V gv = wasm_v128_and(wasm_v128_load(dy + out + o), wasm_f32x4_gt(wasm_v128_load(y + out + o), zero));
          const V at = wasm_i32x4_mul(wasm_v128_and(wasm_v128_load(arg + out + o), wasm_i32x4_const_splat(3)), wasm_i32x4_const_splat(KCP));
          wasm_v128_store(gBiasSums + o, wasm_f64x2_add(wasm_v128_load(gBiasSums + o), wasm_f64x2_promote_low_f32x4(gv)));
          wasm_v128_store(gBiasSums + o + 2, wasm_f64x2_add(wasm_v128_load(gBiasSums + o + 2), wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(gv, gv, 2, 3, 2, 3))));
          Lane<NV, 0>(gv, at, gFilterRows + o * KCP);
          Lane<NV, 1>(gv, at, gFilterRows + (o + 1) * KCP);
          Lane<NV, 2>(gv, at, gFilterRows + (o + 2) * KCP);
          Lane<NV, 3>(gv, at, gFilterRows + (o + 3) * KCP);
        }
      }
    }
  }
  for (int k = 0; k < t.KC; ++k)
    for (int o = 0; o < OC; ++o) dw[k * OC + o] = gFilterRows[o * KCP + k];
  for (int o = 0; o < OC; ++o) db[o] = float(gBiasSums[o]);
}

template <class Taps>
void FilterGradTaps(const float* dy, const float* x, const float* y, const int32_t* arg, const Geo& g, const Taps& t, float* dw, float* db) {
  switch ((t.KC + 3) / 4) {
    case 1: return FilterGrad<1>(dy, x, y, arg, g, t, dw, db);
    case 2: return FilterGrad<2>(dy, x, y, arg, g, t, dw, db);
    case 3: return FilterGrad<3>(dy, x, y, arg, g, t, dw, db);
    case 4: return FilterGrad<4>(dy, x, y, arg, g, t, dw, db);
    case 5: return FilterGrad<5>(dy, x, y, arg, g, t, dw, db);
    case 6: return FilterGrad<6>(dy, x, y, arg, g, t, dw, db);
    case 7: return FilterGrad<7>(dy, x, y, arg, g, t, dw, db);
    default: return FilterGrad<8>(dy, x, y, arg, g, t, dw, db);
  }
}

// The block's gradients for any shape (a later layer's too, with its input's gradient), from the winners
// alone: the gradient reaches only the conv output at each live unit's winning position, so rather than
// the dense conv gradients (a GEMM over all four positions, three of them zero) each live unit adds
// g · its patch to its filter's row (dW, kept transposed) and g · its filter to the input under its patch
// (dx). Both runs are contiguous: per kernel row, KW·C values of x (NHWC) and of the filter. Dead units
// are skipped with a branch (each skips 2·KH·KW·C multiply-adds).
inline void AddScaled(float* dst, const float* src, float g, int len) {
  const V gv = wasm_f32x4_splat(g);
  int i = 0;
  for (; i + 4 <= len; i += 4) wasm_v128_store(dst + i, wasm_f32x4_add(wasm_v128_load(dst + i), wasm_f32x4_mul(gv, wasm_v128_load(src + i))));
  for (; i < len; ++i) dst[i] += g * src[i];
}

void SparseGrad(const float* dy, const float* x, const float* w, const float* y, const int32_t* arg, const Geo& g, float* dw, float* db,
                float* dx, float* scratch) {
  const int KC = g.kc(), OC = g.OC;
  double* sums = reinterpret_cast<double*>(scratch);
  float* rows = scratch + 2 * OC;  // [OC][KC]: dW transposed
  float* wT = rows + OC * KC;      // [OC][KC]: the filters as rows, for dx
  for (int o = 0; o < OC; ++o) sums[o] = 0.0;
  for (int i = 0; i < OC * KC; ++i) rows[i] = 0.f;
  if (dx) {
    for (int i = 0, size = g.N * g.H * g.W * g.C; i < size; ++i) dx[i] = 0.f;
    for (int k = 0; k < KC; ++k)
      for (int o = 0; o < OC; ++o) wT[o * KC + k] = w[k * OC + o];
  }
  int out = 0;
  for (int n = 0; n < g.N; ++n) {
    for (int ph = 0; ph < g.PH; ++ph) {
      for (int pw = 0; pw < g.PW; ++pw, out += OC) {
        for (int o = 0; o < OC; ++o) {
          if (!(y[out + o] > 0.f)) continue;
          const float v = dy[out + o];
          sums[o] += double(v);
          const int pos = arg[out + o] & 3;
          const int ih0 = 2 * ph + (pos >> 1) - g.pt, iw0 = 2 * pw + (pos & 1) - g.pl;
          // The patch's columns inside the image.
          const int kw0 = iw0 < 0 ? -iw0 : 0, kw1 = g.W - iw0 < g.KW ? g.W - iw0 : g.KW;
          if (kw0 >= kw1) continue;
          const int len = (kw1 - kw0) * g.C;
          for (int kh = 0; kh < g.KH; ++kh) {
            const int ih = ih0 + kh;
            if (ih < 0 || ih >= g.H) continue;
            const int at = ((n * g.H + ih) * g.W + iw0 + kw0) * g.C, k = (kh * g.KW + kw0) * g.C;
            AddScaled(rows + o * KC + k, x + at, v, len);
            if (dx) AddScaled(dx + at, wT + o * KC + k, v, len);
          }
        }
      }
    }
  }
  for (int k = 0; k < KC; ++k)
    for (int o = 0; o < OC; ++o) dw[k * OC + o] = rows[o * KC + k];
  for (int o = 0; o < OC; ++o) db[o] = float(sums[o]);
}

// ---------------------------------------------------------------------------------------------------
// sgemm: C = alpha * op(A) * op(B) + beta * C, row-major. op(B) is packed a panel of 8 (or 4) columns and
// kKc rows at a time; op(A) is read in place, one broadcast per element, through its row and k strides
// (so either transpose costs the same). Register tiles of 4 rows x 8 or 4 columns.

constexpr int kKc = 2048;
alignas(16) float gPanel[kKc * 8];

// The panel: op(B)[k0..k0+kc)[j0..j0+width), rows of `width` floats, zero past N.
void PackPanel(const float* B, int ldb, bool transB, int N, int k0, int kc, int j0, int width) {
  const int cols = N - j0 < width ? N - j0 : width;
  if (!transB) {
    for (int k = 0; k < kc; ++k) {
      const float* src = B + (k0 + k) * ldb + j0;
      float* dst = gPanel + k * width;
      if (cols == width) {
        for (int j = 0; j < width; j += 4) wasm_v128_store(dst + j, wasm_v128_load(src + j));
        continue;
      }
      int j = 0;
      for (; j < cols; ++j) dst[j] = src[j];
      for (; j < width; ++j) dst[j] = 0.f;
    }
    return;
  }
  for (int j = 0; j < width; ++j) {
    float* dst = gPanel + j;
    if (j >= cols) {
      for (int k = 0; k < kc; ++k) dst[k * width] = 0.f;
      continue;
    }
    const float* src = B + (j0 + j) * ldb + k0;
    for (int k = 0; k < kc; ++k) dst[k * width] = src[k];
  }
}

// A tile of ROWS rows x 4*NV columns (cols of them real): acc = op(A)[i0.., k0..k0+kc) · panel, then
// C = alpha * acc + beta * C (beta 0: C is not read, as BLAS).
template <int ROWS, int NV>
inline void Tile(const float* A, int rowStride, int kStride, int kc, float* C, int ldc, int cols, float alpha, float beta) {
  V acc[ROWS][NV];
  for (int r = 0; r < ROWS; ++r)
    for (int j = 0; j < NV; ++j) acc[r][j] = wasm_f32x4_const_splat(0.f);
  const float* p = gPanel;
  for (int k = 0; k < kc; ++k, p += 4 * NV) {
    V b[NV];
    for (int j = 0; j < NV; ++j) b[j] = wasm_v128_load(p + 4 * j);
    for (int r = 0; r < ROWS; ++r) {
      const V a = wasm_v128_load32_splat(A + r * rowStride + k * kStride);
      for (int j = 0; j < NV; ++j) acc[r][j] = wasm_f32x4_add(acc[r][j], wasm_f32x4_mul(a, b[j]));
    }
  }
  const V va = wasm_f32x4_splat(alpha), vb = wasm_f32x4_splat(beta);
  for (int r = 0; r < ROWS; ++r) {
    float* c = C + r * ldc;
    if (cols == 4 * NV) {
      for (int j = 0; j < NV; ++j) {
        V out = alpha == 1.f ? acc[r][j] : wasm_f32x4_mul(va, acc[r][j]);
        if (beta != 0.f) out = wasm_f32x4_add(out, wasm_f32x4_mul(vb, wasm_v128_load(c + 4 * j)));
        wasm_v128_store(c + 4 * j, out);
      }
      continue;
    }
    alignas(16) float tmp[4 * NV];
    for (int j = 0; j < NV; ++j) wasm_v128_store(tmp + 4 * j, acc[r][j]);
    for (int j = 0; j < cols; ++j) c[j] = beta != 0.f ? alpha * tmp[j] + beta * c[j] : alpha * tmp[j];
  }
}

template <int NV>
void PanelRows(const float* A, int rowStride, int kStride, int M, int kc, float* C, int ldc, int cols, float alpha, float beta) {
  int i = 0;
  for (; i + 4 <= M; i += 4) Tile<4, NV>(A + i * rowStride, rowStride, kStride, kc, C + i * ldc, ldc, cols, alpha, beta);
  switch (M - i) {
    case 3: return Tile<3, NV>(A + i * rowStride, rowStride, kStride, kc, C + i * ldc, ldc, cols, alpha, beta);
    case 2: return Tile<2, NV>(A + i * rowStride, rowStride, kStride, kc, C + i * ldc, ldc, cols, alpha, beta);
    case 1: return Tile<1, NV>(A + i * rowStride, rowStride, kStride, kc, C + i * ldc, ldc, cols, alpha, beta);
    default: return;
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------------
// Exports. Shapes are checked by the caller (shared/backends/simd/simdKernels.ts).

// y, arg [N, PH, PW, OC] from x [N, H, W, C], w [KH, KW, C, OC], bias [OC]. Needs KH*KW*C <= 32,
// (KH+1)*(KW+1)*C <= 64, OC a multiple of 4 and <= 64.
EXPORT(conv_pool)
void conv_pool(const float* x, const float* w, const float* bias, float* y, int32_t* arg, int N, int H, int W, int C, int KH, int KW,
               int OC, int pt, int pl, int PH, int PW) {
  const Geo g{N, H, W, C, KH, KW, OC, pt, pl, PH, PW};
  WithTaps(KH, KW, C, [&](const auto& t) { Forward(x, w, bias, y, arg, g, t); });
}

// dw [KH, KW, C, OC] and db [OC] of the block, from dy, x and conv_pool's y and arg. Same limits.
EXPORT(conv_pool_filter_grad)
void conv_pool_filter_grad(const float* dy, const float* x, const float* y, const int32_t* arg, float* dw, float* db, int N, int H,
                           int W, int C, int KH, int KW, int OC, int pt, int pl, int PH, int PW) {
  const Geo g{N, H, W, C, KH, KW, OC, pt, pl, PH, PW};
  WithTaps(KH, KW, C, [&](const auto& t) { FilterGradTaps(dy, x, y, arg, g, t, dw, db); });
}

// dw, db and (unless dx is 0) dx of any block, from dy, x, w and conv_pool's y and arg; scratch holds
// 2·OC + 2·OC·KH·KW·C floats (16-byte aligned).
EXPORT(conv_pool_grad)
void conv_pool_grad(const float* dy, const float* x, const float* w, const float* y, const int32_t* arg, float* dw, float* db, float* dx,
                    float* scratch, int N, int H, int W, int C, int KH, int KW, int OC, int pt, int pl, int PH, int PW) {
  SparseGrad(dy, x, w, y, arg, Geo{N, H, W, C, KH, KW, OC, pt, pl, PH, PW}, dw, db, dx, scratch);
}

EXPORT(sgemm)
void sgemm(int transA, int transB, int M, int N, int K, float alpha, const float* A, int lda, const float* B, int ldb, float beta,
           float* C, int ldc) {
  const int rowStride = transA ? 1 : lda, kStride = transA ? lda : 1;
  if (K == 0) {
    for (int i = 0; i < M; ++i)
      for (int j = 0; j < N; ++j) C[i * ldc + j] = beta != 0.f ? beta * C[i * ldc + j] : 0.f;
    return;
  }
  for (int j0 = 0; j0 < N;) {
    // Panels of 8 columns; a last one of at most 4 real columns is done 4 wide.
    const int width = N - j0 <= 4 ? 4 : 8, cols = N - j0 < width ? N - j0 : width;
    for (int k0 = 0; k0 < K; k0 += kKc) {
      const int kc = K - k0 < kKc ? K - k0 : kKc;
      PackPanel(B, ldb, transB != 0, N, k0, kc, j0, width);
      const float b = k0 == 0 ? beta : 1.f;
      const float* a = A + k0 * kStride;
      if (width == 8) PanelRows<2>(a, rowStride, kStride, M, kc, C + j0, ldc, cols, alpha, b);
      else PanelRows<1>(a, rowStride, kStride, M, kc, C + j0, ldc, cols, alpha, b);
    }
    j0 += cols;
  }
}

// In place on y [rows, cols]: y = y + bias (per column, when bias is not null), then ReLU when relu != 0.
EXPORT(bias_relu)
void bias_relu(float* y, int rows, int cols, const float* bias, int relu) {
  const V zero = wasm_f32x4_const_splat(0.f);
  for (int i = 0; i < rows; ++i) {
    float* r = y + i * cols;
    int j = 0;
    for (; j + 4 <= cols; j += 4) {
      V v = wasm_v128_load(r + j);
      if (bias) v = wasm_f32x4_add(v, wasm_v128_load(bias + j));
      if (relu) v = wasm_f32x4_pmax(v, zero);
      wasm_v128_store(r + j, v);
    }
    for (; j < cols; ++j) {
      float v = bias ? r[j] + bias[j] : r[j];
      r[j] = relu && v < 0.f ? 0.f : v;
    }
  }
}

// out[j] = Σ_i x[i, j] over the rows of x [rows, cols], in float64.
EXPORT(sum_columns)
void sum_columns(const float* x, float* out, int rows, int cols) {
  for (int j0 = 0; j0 < cols; j0 += 2) {
    if (j0 + 1 == cols) {
      double s = 0;
      for (int i = 0; i < rows; ++i) s += double(x[i * cols + j0]);
      out[j0] = float(s);
      continue;
    }
    V s = wasm_f64x2_const_splat(0.0);
    for (int i = 0; i < rows; ++i) s = wasm_f64x2_add(s, wasm_f64x2_promote_low_f32x4(wasm_v128_load64_zero(x + i * cols + j0)));
    out[j0] = float(wasm_f64x2_extract_lane(s, 0));
    out[j0 + 1] = float(wasm_f64x2_extract_lane(s, 1));
  }
}

// Adam's step for n values: c = [beta1, 1-beta1, beta2, 1-beta2, 1-beta1^t, 1-beta2^t, epsilon, -lr], each
// operation a float32 one in tfjs's order (shared/backends/adamKernel.ts). Outputs may be the inputs.
EXPORT(adam_update)
void adam_update(const float* x, const float* g, const float* m, const float* v, float* xo, float* mo, float* vo, const float* c, int n) {
  const V b1 = wasm_f32x4_splat(c[0]), omb1 = wasm_f32x4_splat(c[1]), b2 = wasm_f32x4_splat(c[2]), omb2 = wasm_f32x4_splat(c[3]);
  const V c1 = wasm_f32x4_splat(c[4]), c2 = wasm_f32x4_splat(c[5]), eps = wasm_f32x4_splat(c[6]), negLr = wasm_f32x4_splat(c[7]);
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    const V gi = wasm_v128_load(g + i), xi = wasm_v128_load(x + i);
    const V mi = wasm_f32x4_add(wasm_f32x4_mul(wasm_v128_load(m + i), b1), wasm_f32x4_mul(gi, omb1));
    const V vi = wasm_f32x4_add(wasm_f32x4_mul(wasm_v128_load(v + i), b2), wasm_f32x4_mul(wasm_f32x4_mul(gi, gi), omb2));
    const V step = wasm_f32x4_div(wasm_f32x4_div(mi, c1), wasm_f32x4_add(wasm_f32x4_sqrt(wasm_f32x4_div(vi, c2)), eps));
    wasm_v128_store(xo + i, wasm_f32x4_add(wasm_f32x4_mul(step, negLr), xi));
    wasm_v128_store(mo + i, mi);
    wasm_v128_store(vo + i, vi);
  }
  for (; i < n; ++i) {
    const float gi = g[i], xi = x[i];
    const float mi = m[i] * c[0] + gi * c[1];
    const float vi = v[i] * c[2] + (gi * gi) * c[3];
    xo[i] = ((mi / c[4]) / (__builtin_sqrtf(vi / c[5]) + c[6])) * c[7] + xi;
    mo[i] = mi;
    vo[i] = vi;
  }
}

// ---------------------------------------------------------------------------------------------------
// The fusion model's encoder kernels (GELU and layer norm, forward and backward): the native addon's
// arithmetic (../../cc/encoder_math.h); clang vectorises its loops.

EXPORT(gelu)
void gelu(const float* x, float* y, int n) { ff::GeluLoop(x, y, n); }

EXPORT(gelu_grad)
void gelu_grad(const float* dy, const float* x, float* dx, int n) { ff::GeluGradLoop(dy, x, dx, n); }

EXPORT(layer_norm)
void layer_norm(const float* x, const float* g, const float* b, float* y, int rows, int d, double eps) { ff::LayerNormRows(x, g, b, y, rows, d, eps); }

EXPORT(layer_norm_grad)
void layer_norm_grad(const float* dy, const float* x, const float* g, float* dx, float* dg, float* db, int rows, int d, double eps) {
  ff::LayerNormGradRows(dy, x, g, dx, dg, db, rows, d, eps);
}
