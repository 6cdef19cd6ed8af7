// See elementwise.h. Both kernels are plain loops the compiler vectorises at the baseline ISA, so the
// addon stays portable across x86-64 CPUs (no -march flags).
#include "elementwise.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include <vector>

#include "napi_args.h"
#include "vector_clones.h"

namespace ff {

namespace {

// tanh(x, y): y[i] = tanh(x[i]) for every i < x.length.
FF_VECTOR_CLONES napi_value Tanh(napi_env env, napi_callback_info info) {
  napi_value a[2];
  float *x, *y;
  int64_t lx, ly;
  if (!GetArgs(env, info, a, 2, "tanh(x, y)") || !GetF32(env, a[0], &x, &lx, "x") || !GetF32(env, a[1], &y, &ly, "y")) return nullptr;
  if (ly < lx) {
    Throw(env, "tanh: y is shorter than x");
    return nullptr;
  }
  for (int64_t i = 0; i < lx; ++i) y[i] = FastTanh(x[i]);
  return nullptr;
}

// sumRowsOrColumns(x, out, rows, cols, axis): x is a row-major rows x cols matrix; axis 0 sums each
// column (out has cols values), axis 1 each row (out has rows values). Sums accumulate in float64.
FF_VECTOR_CLONES napi_value SumRowsOrColumns(napi_env env, napi_callback_info info) {
  napi_value a[5];
  float *x, *out;
  int64_t lx, lo, rows, cols, axis;
  if (!GetArgs(env, info, a, 5, "sumRowsOrColumns(x, out, rows, cols, axis)") || !GetF32(env, a[0], &x, &lx, "x") || !GetF32(env, a[1], &out, &lo, "out") || !GetInt(env, a[2], &rows, "rows") ||
      !GetInt(env, a[3], &cols, "cols") || !GetInt(env, a[4], &axis, "axis")) {
    return nullptr;
  }
  if (axis > 1) {
    Throw(env, "sumRowsOrColumns: axis must be 0 or 1");
    return nullptr;
  }
  if (rows * cols > lx || (axis == 0 ? cols : rows) > lo) {
    Throw(env, "sumRowsOrColumns: an array is smaller than rows x cols needs");
    return nullptr;
  }
  if (axis == 0) {
    std::vector<double> acc(size_t(cols), 0.0);
    double* s = acc.data();
    for (int64_t i = 0; i < rows; ++i) {
      const float* r = x + i * cols;
      for (int64_t j = 0; j < cols; ++j) s[j] += r[j];
    }
    for (int64_t j = 0; j < cols; ++j) out[j] = float(s[j]);
  } else {
    for (int64_t i = 0; i < rows; ++i) {
      const float* r = x + i * cols;
      double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      int64_t j = 0;
      for (; j + 4 <= cols; j += 4) {
        s0 += r[j];
        s1 += r[j + 1];
        s2 += r[j + 2];
        s3 += r[j + 3];
      }
      for (; j < cols; ++j) s0 += r[j];
      out[i] = float((s0 + s1) + (s2 + s3));
    }
  }
  return nullptr;
}

// adamUpdate(x, g, m, v, xOut, mOut, vOut, c): Adam's step for one variable in float32, each operation
// one of tfjs's AdamOptimizer kernels in its order (see shared/backends/adamKernel.ts, the JavaScript
// twin): bit-identical results. c = [beta1, 1-beta1, beta2, 1-beta2, 1-beta1^t, 1-beta2^t, eps, -lr].
FF_VECTOR_CLONES napi_value AdamUpdate(napi_env env, napi_callback_info info) {
  napi_value a[8];
  float* p[8];
  int64_t n[8];
  static const char* names[8] = {"x", "g", "m", "v", "xOut", "mOut", "vOut", "c"};
  if (!GetArgs(env, info, a, 8, "adamUpdate(x, g, m, v, xOut, mOut, vOut, c)")) return nullptr;
  for (int k = 0; k < 8; ++k) {
    if (!GetF32(env, a[k], &p[k], &n[k], names[k])) return nullptr;
  }
  for (int k = 1; k < 7; ++k) {
    if (n[k] != n[0]) {
      Throw(env, "adamUpdate: x, g, m, v and the outputs differ in length");
      return nullptr;
    }
  }
  if (n[7] != 8) {
    Throw(env, "adamUpdate: c must hold 8 coefficients");
    return nullptr;
  }
  const float *x = p[0], *g = p[1], *m = p[2], *v = p[3], *c = p[7];
  float *xo = p[4], *mo = p[5], *vo = p[6];
  const float b1 = c[0], omb1 = c[1], b2 = c[2], omb2 = c[3], c1 = c[4], c2 = c[5], eps = c[6], neg_lr = c[7];
  // Blocks of 8: every input of a block is read before any output is written, into local arrays, so the
  // compiler vectorises the block (with seven pointers it would not prove them apart) and an output that
  // is its input (an update in place) still reads each value before overwriting it.
  constexpr int64_t kBlock = 8;
  const int64_t len = n[0];
  int64_t i = 0;
  for (; i + kBlock <= len; i += kBlock) {
    float xi[kBlock], mi[kBlock], vi[kBlock];
    for (int64_t l = 0; l < kBlock; ++l) {
      const float gl = g[i + l];
      mi[l] = m[i + l] * b1 + gl * omb1;
      vi[l] = v[i + l] * b2 + (gl * gl) * omb2;
      xi[l] = x[i + l];
    }
    for (int64_t l = 0; l < kBlock; ++l) {
      xi[l] = ((mi[l] / c1) / (sqrtf(vi[l] / c2) + eps)) * neg_lr + xi[l];
    }
    for (int64_t l = 0; l < kBlock; ++l) {
      xo[i + l] = xi[l];
      mo[i + l] = mi[l];
      vo[i + l] = vi[l];
    }
  }
  for (; i < len; ++i) {
    const float gi = g[i];
    const float mi = m[i] * b1 + gi * omb1;
    const float vi = v[i] * b2 + (gi * gi) * omb2;
    xo[i] = ((mi / c1) / (sqrtf(vi / c2) + eps)) * neg_lr + x[i];
    mo[i] = mi;
    vo[i] = vi;
  }
  return nullptr;
}

// transpose(x, y, shape, perm): y = x with its axes permuted (y's axis i is x's axis perm[i]), rank <= 6.
// Output axes that keep their input order at the end form one contiguous run, copied at once.
napi_value Transpose(napi_env env, napi_callback_info info) {
  napi_value a[4];
  float *x, *y;
  int64_t lx, ly;
  if (!GetArgs(env, info, a, 4, "transpose(x, y, shape, perm)") || !GetF32(env, a[0], &x, &lx, "x") || !GetF32(env, a[1], &y, &ly, "y")) {
    return nullptr;
  }
  int64_t shape[6], perm[6];
  uint32_t rank = 0, prank = 0;
  napi_get_array_length(env, a[2], &rank);
  napi_get_array_length(env, a[3], &prank);
  if (rank == 0 || rank > 6 || prank != rank) {
    Throw(env, "transpose: shape and perm must be arrays of the same rank, 1 to 6");
    return nullptr;
  }
  int64_t size = 1;
  bool seen[6] = {false, false, false, false, false, false};
  for (uint32_t i = 0; i < rank; ++i) {
    napi_value e;
    napi_get_element(env, a[2], i, &e);
    if (!GetInt(env, e, &shape[i], "shape entry")) return nullptr;
    napi_get_element(env, a[3], i, &e);
    if (!GetInt(env, e, &perm[i], "perm entry")) return nullptr;
    if (perm[i] >= int64_t(rank) || seen[perm[i]]) {
      Throw(env, "transpose: perm is not a permutation of the axes");
      return nullptr;
    }
    seen[perm[i]] = true;
    size *= shape[i];
  }
  if (lx < size || ly < size) {
    Throw(env, "transpose: x or y is smaller than the shape");
    return nullptr;
  }
  if (size == 0) return nullptr;
  int64_t in_stride[6];
  in_stride[rank - 1] = 1;
  for (int i = int(rank) - 2; i >= 0; --i) in_stride[i] = in_stride[i + 1] * shape[i + 1];
  // The contiguous tail: trailing output axes that are the input's trailing axes in order.
  int outer = int(rank);
  int64_t run = 1;
  while (outer > 0 && perm[outer - 1] == outer - 1) {
    run *= shape[outer - 1];
    --outer;
  }
  int64_t dims[6], stride[6], idx[6] = {0, 0, 0, 0, 0, 0};
  for (int i = 0; i < outer; ++i) {
    dims[i] = shape[perm[i]];
    stride[i] = in_stride[perm[i]];
  }
  int64_t src = 0;
  for (int64_t done = 0; done < size; done += run) {
    if (run == 1) {
      *y++ = x[src];
    } else {
      memcpy(y, x + src, size_t(run) * sizeof(float));
      y += run;
    }
    for (int i = outer - 1; i >= 0; --i) {  // odometer over the outer output axes
      src += stride[i];
      if (++idx[i] < dims[i]) break;
      src -= stride[i] * dims[i];
      idx[i] = 0;
    }
  }
  return nullptr;
}

// unitPixels(images, order, start, end, size, out): out[(i − start)·size + j] = images[order[i]·size + j] / 255
// for start <= i < end, j < size — a batch of 8-bit images as floats in [0, 1] (shared/data/batches.ts). The
// float32 division gives, for each of the 256 byte values, exactly the JavaScript twin's table entry
// Math.fround(b / 255) (checked for all of them, and by test), and unlike a table lookup it vectorises.
FF_VECTOR_CLONES void UnitPixelsLoop(const uint8_t* __restrict src, float* __restrict dst, int64_t n) {
  for (int64_t j = 0; j < n; ++j) dst[j] = float(src[j]) / 255.0f;
}

napi_value UnitPixels(napi_env env, napi_callback_info info) {
  napi_value a[6];
  uint8_t* images;
  size_t imageBytes;
  uint32_t* order;
  int64_t orderLen, start, end, size, outLen;
  float* out;
  if (!GetArgs(env, info, a, 6, "unitPixels(images, order, start, end, size, out)") || !GetBytes(env, a[0], &images, &imageBytes, "images") ||
      !GetTypedOf(env, a[1], napi_uint32_array, "Uint32Array", &order, &orderLen, "order") || !GetInt(env, a[2], &start, "start") ||
      !GetInt(env, a[3], &end, "end") || !GetInt(env, a[4], &size, "size") || !GetF32(env, a[5], &out, &outLen, "out")) {
    return nullptr;
  }
  if (start < 0 || end < start || end > orderLen || size < 0 || (end - start) * size > outLen) {
    Throw(env, "unitPixels: start..end is outside order, or out is too small for the batch");
    return nullptr;
  }
  for (int64_t i = start; i < end; ++i) {
    if ((int64_t(order[i]) + 1) * size > int64_t(imageBytes)) {
      Throw(env, "unitPixels: an example index is outside the images");
      return nullptr;
    }
  }
  for (int64_t i = start; i < end; ++i) UnitPixelsLoop(images + int64_t(order[i]) * size, out + (i - start) * size, size);
  return nullptr;
}

}  // namespace

void DefineElementwise(napi_env env, napi_value exports) {
  DefineMethods(env, exports, {
      {"unitPixels", UnitPixels},
      {"tanh", Tanh},
      {"sumRowsOrColumns", SumRowsOrColumns},
      {"adamUpdate", AdamUpdate},
      {"transpose", Transpose},
  });
}

}  // namespace ff
