// The conv block every model here is built from — conv2d (stride 1) + bias + ReLU, then 2x2 max pooling
// with stride 2 — as one kernel forward and one backward. tfjs runs a training step's block as nine
// kernels (Conv2D, Add, Relu, MaxPool; MaxPoolGrad, Step, Multiply, Sum, Conv2DBackpropFilter), each a
// pass over the full-size conv output; here the conv output exists only a tile at a time, in cache.
//
// Tiles are runs of pooled rows: the im2col rows of the two conv rows each reads (an odd last conv row,
// which no window reads, is skipped), one sgemm, then bias, ReLU and the pooling straight from the
// sgemm's output; at most kColLimit floats of scratch whatever the image size. The forward pass keeps,
// per pooled value, which of its window's four positions won (0..3, row-major; the first maximum wins,
// and NaN never does, as tfjs-backend-cpu's max pool); the backward pass sends each pooled gradient to
// that position when the pooled value is > 0 (the ReLU's derivative there), then does the conv's filter
// and input gradients per tile. The same arithmetic as tfjs's kernels, apart from the order of sums.
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

// Units per tile: their columns, conv outputs and (backward) column gradients within kColLimit floats
// (at least one unit, however wide the image).
int64_t TileUnits(const Block& b, bool backward) {
  const int64_t perUnit = b.unitRows() * (b.g.kc() * (backward ? 2 : 1) + b.g.OC);
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
  const int64_t T = TileUnits(b, false), rows = b.unitRows(), KC = g.kc(), OC = g.OC;
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

void Backward(const float* dy, const float* x, const float* w, const float* y, const int32_t* arg, const Block& b,
              float* dw, float* db, float* dx, float* ws) {
  const Geo& g = b.g;
  const int64_t T = TileUnits(b, true), rows = b.unitRows(), KC = g.kc(), OC = g.OC;
  float* col = ws;
  float* dz = col + T * rows * KC;
  float* dcol = dz + T * rows * OC;
  std::vector<double> dbSum(size_t(OC), 0.0);
  if (dx != nullptr) memset(dx, 0, size_t(g.N * g.H * g.W * g.C) * sizeof(float));
  bool first = true;
  for (int64_t u0 = 0; u0 < b.units(); u0 += T) {
    const int64_t u1 = std::min(b.units(), u0 + T), tileRows = (u1 - u0) * rows;
    memset(dz, 0, size_t(tileRows * OC) * sizeof(float));
    for (int64_t u = u0; u < u1; ++u) {
      float* dzu = dz + (u - u0) * rows * OC;
      for (int64_t pw = 0; pw < b.PW; ++pw) {
        const int64_t out = (u * b.PW + pw) * OC;
        for (int64_t c = 0; c < OC; ++c) {
          if (!(y[out + c] > 0.f)) continue;  // the ReLU's derivative is 0 there
          const float v = dy[out + c];
          dzu[WindowRow(b, pw, arg[out + c]) * OC + c] = v;
          dbSum[size_t(c)] += double(v);
        }
      }
    }
    TileColumns(x, b, u0, u1, col);
    Gemm(true, false, KC, OC, tileRows, 1.f, col, std::max<int64_t>(1, KC), dz, OC, first ? 0.f : 1.f, dw, OC);
    first = false;
    if (dx == nullptr) continue;
    Gemm(false, true, tileRows, KC, OC, 1.f, dz, OC, w, OC, 0.f, dcol, std::max<int64_t>(1, KC));
    for (int64_t u = u0; u < u1; ++u) Col2ImRows(dcol + (u - u0) * rows * KC, g, b.firstRow(u), b.firstRow(u) + rows, dx);
  }
  if (first) memset(dw, 0, size_t(KC * OC) * sizeof(float));  // no images
  for (int64_t c = 0; c < OC; ++c) db[c] = float(dbSum[size_t(c)]);
}

// Every argmax entry is 0..3 (the tile path indexes with them). One pass without early exit, so that it
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

float* TileWorkspace(napi_env env, const Block& b, bool backward) {
  const int64_t T = TileUnits(b, backward);
  const int64_t floats = T * b.unitRows() * (b.g.kc() * (backward ? 2 : 1) + b.g.OC);
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
  float* ws = TileWorkspace(env, b, false);
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
  float* ws = TileWorkspace(env, b, true);
  if (ws != nullptr) Backward(dy, x, w, y, arg, b, dw, db, dx, ws);
  return nullptr;
}

}  // namespace

void DefineConvPool(napi_env env, napi_value exports) {
  DefineMethods(env, exports, {{"convPool", ConvPool}, {"convPoolGrad", ConvPoolGrad}});
}

}  // namespace ff
