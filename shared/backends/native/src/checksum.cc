// See checksum.h. The three-stream loop and its shift tables follow Mark Adler's crc32c.c (zlib licence):
// three independent crc32 chains hide the instruction's 3-cycle latency; the chains are then combined by
// "shifting" a CRC over the bytes of the following blocks (a linear map, applied with four table lookups).
#include "checksum.h"

#include <stdint.h>
#include <string.h>

#include <mutex>

#include "napi_args.h"

#if defined(__x86_64__)
#include <nmmintrin.h>
#define FF_CRC_HW 1
#endif

namespace ff {
namespace {

constexpr uint32_t kPoly = 0x82f63b78;  // reflected Castagnoli polynomial
constexpr size_t kLong = 8192;
constexpr size_t kShort = 256;

uint32_t table[8][256];        // slicing tables for the software path
uint32_t shift_long[4][256];   // operator "append kLong zero bytes", byte by byte of the CRC
uint32_t shift_short[4][256];  // the same for kShort

uint32_t MatrixTimes(const uint32_t* mat, uint32_t vec) {
  uint32_t sum = 0;
  for (; vec; vec >>= 1, ++mat) {
    if (vec & 1) sum ^= *mat;
  }
  return sum;
}

void MatrixSquare(uint32_t* square, const uint32_t* mat) {
  for (int n = 0; n < 32; ++n) square[n] = MatrixTimes(mat, mat[n]);
}

// The GF(2) matrix that appends `len` zero bytes (len a power of two) to a CRC register.
void ZerosOperator(uint32_t* even, size_t len) {
  uint32_t odd[32];
  odd[0] = kPoly;  // one zero bit
  for (int n = 1; n < 32; ++n) odd[n] = 1u << (n - 1);
  MatrixSquare(even, odd);  // two zero bits
  MatrixSquare(odd, even);  // four
  for (;;) {
    MatrixSquare(even, odd);  // one byte, then 4, 16, ...
    len >>= 1;
    if (len == 0) return;
    MatrixSquare(odd, even);
    len >>= 1;
    if (len == 0) break;
  }
  memcpy(even, odd, sizeof odd);
}

void ShiftTables(uint32_t zeros[][256], size_t len) {
  uint32_t op[32];
  ZerosOperator(op, len);
  for (uint32_t n = 0; n < 256; ++n) {
    zeros[0][n] = MatrixTimes(op, n);
    zeros[1][n] = MatrixTimes(op, n << 8);
    zeros[2][n] = MatrixTimes(op, n << 16);
    zeros[3][n] = MatrixTimes(op, n << 24);
  }
}

inline uint32_t Shift(uint32_t zeros[][256], uint32_t crc) {
  return zeros[0][crc & 0xff] ^ zeros[1][(crc >> 8) & 0xff] ^ zeros[2][(crc >> 16) & 0xff] ^ zeros[3][crc >> 24];
}

void InitTables() {
  for (uint32_t n = 0; n < 256; ++n) {
    uint32_t c = n;
    for (int k = 0; k < 8; ++k) c = c & 1 ? (c >> 1) ^ kPoly : c >> 1;
    table[0][n] = c;
  }
  for (uint32_t n = 0; n < 256; ++n) {
    for (int k = 1; k < 8; ++k) table[k][n] = (table[k - 1][n] >> 8) ^ table[0][table[k - 1][n] & 0xff];
  }
  ShiftTables(shift_long, kLong);
  ShiftTables(shift_short, kShort);
}

// Register (already inverted) over `len` bytes, copying them to `dst` unless it is null.
uint32_t Software(uint32_t crc, uint8_t* dst, const uint8_t* src, size_t len) {
  if (dst) memcpy(dst, src, len);
  while (len >= 8) {
    uint64_t w;
    memcpy(&w, src, 8);
    w ^= crc;
    crc = table[7][w & 0xff] ^ table[6][(w >> 8) & 0xff] ^ table[5][(w >> 16) & 0xff] ^ table[4][(w >> 24) & 0xff] ^
          table[3][(w >> 32) & 0xff] ^ table[2][(w >> 40) & 0xff] ^ table[1][(w >> 48) & 0xff] ^ table[0][w >> 56];
    src += 8;
    len -= 8;
  }
  while (len--) crc = (crc >> 8) ^ table[0][(crc ^ *src++) & 0xff];
  return crc;
}

#ifdef FF_CRC_HW
inline uint64_t Load(const uint8_t* p) {
  uint64_t w;
  memcpy(&w, p, 8);
  return w;
}

inline void Store(uint8_t* p, uint64_t w) { memcpy(p, &w, 8); }

// Three chains over blocks [0, n), [n, 2n), [2n, 3n) of src; copies to dst when kCopy.
template <bool kCopy>
__attribute__((target("sse4.2"))) uint32_t ThreeBlocks(uint32_t crc, uint8_t* dst, const uint8_t* src, size_t n,
                                                        uint32_t zeros[][256]) {
  uint64_t c0 = crc, c1 = 0, c2 = 0;
  for (size_t i = 0; i < n; i += 8) {
    const uint64_t a = Load(src + i), b = Load(src + n + i), c = Load(src + 2 * n + i);
    c0 = _mm_crc32_u64(c0, a);
    c1 = _mm_crc32_u64(c1, b);
    c2 = _mm_crc32_u64(c2, c);
    if (kCopy) {
      Store(dst + i, a);
      Store(dst + n + i, b);
      Store(dst + 2 * n + i, c);
    }
  }
  uint32_t r = Shift(zeros, uint32_t(c0)) ^ uint32_t(c1);
  return Shift(zeros, r) ^ uint32_t(c2);
}

template <bool kCopy>
__attribute__((target("sse4.2"))) uint32_t Hardware(uint32_t crc, uint8_t* dst, const uint8_t* src, size_t len) {
  while (len >= 3 * kLong) {
    crc = ThreeBlocks<kCopy>(crc, dst, src, kLong, shift_long);
    src += 3 * kLong;
    if (kCopy) dst += 3 * kLong;
    len -= 3 * kLong;
  }
  while (len >= 3 * kShort) {
    crc = ThreeBlocks<kCopy>(crc, dst, src, kShort, shift_short);
    src += 3 * kShort;
    if (kCopy) dst += 3 * kShort;
    len -= 3 * kShort;
  }
  uint64_t c = crc;
  for (; len >= 8; len -= 8, src += 8) {
    const uint64_t w = Load(src);
    c = _mm_crc32_u64(c, w);
    if (kCopy) {
      Store(dst, w);
      dst += 8;
    }
  }
  for (; len; --len, ++src) {
    c = _mm_crc32_u8(uint32_t(c), *src);
    if (kCopy) *dst++ = *src;
  }
  return uint32_t(c);
}
#endif

bool has_hw = false;

uint32_t Crc(uint32_t crc, uint8_t* dst, const uint8_t* src, size_t len) {
  crc = ~crc;
#ifdef FF_CRC_HW
  if (has_hw) return ~(dst ? Hardware<true>(crc, dst, src, len) : Hardware<false>(crc, nullptr, src, len));
#endif
  return ~Software(crc, dst, src, len);
}

bool GetCrc(napi_env env, napi_value v, uint32_t* out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok || !(d >= 0 && d <= 4294967295.0 && d == double(uint32_t(d)))) {
    return Throw(env, "crc must be an integer in [0, 2^32)", false);
  }
  *out = uint32_t(d);
  return true;
}

napi_value Result(napi_env env, uint32_t crc) {
  napi_value out;
  napi_create_uint32(env, crc, &out);
  return out;
}

// crc32c(data, crc): the CRC-32C of data, continuing from crc (0 to start).
napi_value Crc32c(napi_env env, napi_callback_info info) {
  napi_value a[2];
  uint8_t* src;
  size_t n;
  uint32_t crc;
  if (!GetArgs(env, info, a, 2, "crc32c(data, crc)") || !GetBytes(env, a[0], &src, &n, "data") || !GetCrc(env, a[1], &crc)) {
    return nullptr;
  }
  return Result(env, Crc(crc, nullptr, src, n));
}

// copyCrc32c(dst, src, crc): copies src to the start of dst and returns crc32c(src, crc), in one pass.
napi_value CopyCrc32c(napi_env env, napi_callback_info info) {
  napi_value a[3];
  uint8_t *dst, *src;
  size_t nd, ns;
  uint32_t crc;
  if (!GetArgs(env, info, a, 3, "copyCrc32c(dst, src, crc)") || !GetBytes(env, a[0], &dst, &nd, "dst") ||
      !GetBytes(env, a[1], &src, &ns, "src") || !GetCrc(env, a[2], &crc)) {
    return nullptr;
  }
  if (ns > nd) {
    Throw(env, "copyCrc32c: src is longer than dst");
    return nullptr;
  }
  return Result(env, Crc(crc, dst, src, ns));
}

}  // namespace

void DefineChecksum(napi_env env, napi_value exports) {
  // Once per process: worker threads load the addon again.
  static std::once_flag once;
  std::call_once(once, [] {
    InitTables();
#ifdef FF_CRC_HW
    has_hw = __builtin_cpu_supports("sse4.2");
#endif
  });
  DefineMethods(env, exports, {
      {"crc32c", Crc32c},
      {"copyCrc32c", CopyCrc32c},
  });
}

}  // namespace ff
