// AMX bfloat16 pair kernel: a 32 x 32 float32 tile as four 16 x 16 tiles (tmm0-3), A's two
// 16-row halves (tmm4-5) and B's two 16-column halves (tmm6-7) per chunk of 16 pair steps, one
// TDPBF16PS per quarter. The tile configuration is the thread's: gemm_bf16_amx_begin() loads it
// (a GEMM task calls it first, since other code on the thread may have changed or released the
// tiles), gemm_bf16_amx_end() releases the tiles.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/gemm_bf16/gemm_bf16.h"

namespace convkit::kernels {

namespace {

constexpr int64_t kMR = 32, kNR = 32, kQ = kBf16PairQuantum;

// LDTILECFG's 64-byte operand: palette 1, eight tiles of 16 rows x 64 bytes.
struct alignas(64) TileConfig {
  uint8_t palette_id = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {64, 64, 64, 64, 64, 64, 64, 64};
  uint8_t rows[16] = {16, 16, 16, 16, 16, 16, 16, 16};
};
static_assert(sizeof(TileConfig) == 64);

}  // namespace

void gemm_bf16_amx_begin() {
  static const TileConfig config;
  _tile_loadconfig(&config);
}

void gemm_bf16_amx_end() { _tile_release(); }

namespace {

// Where a chunk's 16 B pair rows start and how far apart they are (bytes): a strided matrix, or
// row pointers spaced evenly within each chunk.
struct StridedChunks {
  const float* b;
  int64_t ldb;
  const float* at(int64_t p) const { return b + p * ldb; }
  int64_t stride(int64_t) const { return ldb * 4; }
};
struct PointerChunks {
  const float* const* rows;
  int64_t off;
  const float* at(int64_t p) const { return rows[p] + off; }
  int64_t stride(int64_t p) const { return (rows[p + 1] - rows[p]) * 4; }
};

template <typename Chunks>
[[gnu::always_inline]] inline void tile_32x32(int64_t k, const float* a, Chunks b, float* c, int64_t ldc, int64_t m,
                                              int64_t n, bool accumulate, const float* bias) {
  // Edge tiles and bias go through a local tile: the tiles always move 32 x 32.
  const bool direct = m == kMR && n == kNR && (accumulate || bias == nullptr);
  alignas(64) float local[kMR * kNR];
  float* t = direct ? c : local;
  const int64_t ldt = direct ? ldc : kNR;
  if (accumulate) {
    if (!direct) {
      std::fill(local, local + kMR * kNR, 0.0f);
      for (int64_t i = 0; i < m; ++i) std::memcpy(local + i * kNR, c + i * ldc, static_cast<std::size_t>(n) * 4);
    }
    const int64_t s = ldt * 4;
    _tile_loadd(0, t, s);
    _tile_loadd(1, t + 16, s);
    _tile_loadd(2, t + 16 * ldt, s);
    _tile_loadd(3, t + 16 * ldt + 16, s);
  } else {
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
  }
  // Loads interleaved with the products that wait for them (3-5% faster in cache than all four
  // loads first).
  for (int64_t p = 0; p < k; p += kQ) {
    const float* ap = a + p * kMR;  // chunk p / 16: [32 rows][16 pairs]
    const float* bp = b.at(p);      // 16 pair rows
    const int64_t bs = b.stride(p);
    _tile_loadd(4, ap, kQ * 4);
    _tile_loadd(6, bp, bs);
    _tile_dpbf16ps(0, 4, 6);
    _tile_loadd(7, bp + 16, bs);
    _tile_dpbf16ps(1, 4, 7);
    _tile_loadd(5, ap + 16 * kQ, kQ * 4);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
  }
  const int64_t s = ldt * 4;
  _tile_stored(0, t, s);
  _tile_stored(1, t + 16, s);
  _tile_stored(2, t + 16 * ldt, s);
  _tile_stored(3, t + 16 * ldt + 16, s);
  if (direct) return;
  for (int64_t i = 0; i < m; ++i) {
    const float init = accumulate ? 0.0f : bias ? bias[i] : 0.0f;  // (accumulated C is in the tile)
    for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = local[i * kNR + j] + init;
  }
}

}  // namespace

void gemm_bf16_32x32_amx(int64_t k, const float* a, const float* b, int64_t ldb, float* c, int64_t ldc, int64_t m,
                         int64_t n, bool accumulate, const float* bias) {
  tile_32x32(k, a, StridedChunks{b, ldb}, c, ldc, m, n, accumulate, bias);
}

void gemm_bf16_32x32_amx_rows(int64_t k, const float* a, const float* const* rows, int64_t off, float* c, int64_t ldc,
                              int64_t m, int64_t n, bool accumulate, const float* bias) {
  tile_32x32(k, a, PointerChunks{rows, off}, c, ldc, m, n, accumulate, bias);
}

}  // namespace convkit::kernels
