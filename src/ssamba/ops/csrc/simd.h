// 16-lane float vectors and the fast transcendental functions the fused kernels need.
//
// `vf` is a GCC/Clang generic vector: one AVX-512 register where the compiler targets AVX-512
// (the extension is built with -march=native on the user's machine), two AVX2 registers or four
// NEON registers elsewhere. The AVX-512 build uses intrinsics for masked tails and for exp2's
// scaling step; every other target takes the plain vector code below.
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#define SSAMBA_INLINE inline __attribute__((always_inline))

namespace ssamba {

constexpr int kLanes = 16;
typedef float vf __attribute__((vector_size(64)));
typedef int32_t vi __attribute__((vector_size(64)));

constexpr float kLog2e = 1.44269504088896341f;
constexpr float kLn2 = 0.693147180559945309f;

SSAMBA_INLINE vf splat(float x) { return vf{} + x; }

// How many of a block's 16 lanes hold real channels (the last block of a dimension may be short).
struct Lanes {
  int n;
#if defined(__AVX512F__)
  __mmask16 mask;
#endif
};

SSAMBA_INLINE Lanes lanes(int64_t remaining) {
  const int n = remaining < kLanes ? static_cast<int>(remaining) : kLanes;
#if defined(__AVX512F__)
  return {n, static_cast<__mmask16>((1u << n) - 1u)};
#else
  return {n};
#endif
}

// Loads the block's lanes; missing lanes read as zero.
SSAMBA_INLINE vf load(const float* p, Lanes l) {
#if defined(__AVX512F__)
  return reinterpret_cast<vf>(_mm512_maskz_loadu_ps(l.mask, p));
#else
  vf v = {};
  std::memcpy(&v, p, l.n == kLanes ? sizeof(vf) : sizeof(float) * l.n);
  return v;
#endif
}

SSAMBA_INLINE void store(float* p, vf v, Lanes l) {
#if defined(__AVX512F__)
  _mm512_mask_storeu_ps(p, l.mask, reinterpret_cast<__m512>(v));
#else
  std::memcpy(p, &v, l.n == kLanes ? sizeof(vf) : sizeof(float) * l.n);
#endif
}

SSAMBA_INLINE vf blend(vi mask, vf yes, vf no) {
  return reinterpret_cast<vf>((reinterpret_cast<vi>(yes) & mask) | (reinterpret_cast<vi>(no) & ~mask));
}

SSAMBA_INLINE vf vmax(vf a, vf b) { return blend(a > b, a, b); }

SSAMBA_INLINE float hsum(vf v) {
  float s = 0.f;
  for (int i = 0; i < kLanes; ++i) s += v[i];
  return s;
}

// Round to the nearest integer (x clamped to [-127, 128] first on the portable path, where the
// magic-number trick needs strict IEEE evaluation, i.e. no -ffast-math).
SSAMBA_INLINE vf round_exponent(vf x) {
#if defined(__AVX512F__)
  return reinterpret_cast<vf>(
      _mm512_roundscale_ps(reinterpret_cast<__m512>(x), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
#else
  const vf lo = splat(-127.f), hi = splat(128.f), magic = splat(12582912.f);  // 1.5 * 2^23
  x = blend(x < lo, lo, x);
  x = blend(x > hi, hi, x);
  return (x + magic) - magic;
#endif
}

// c[0] x^(N-1) + c[1] x^(N-2) + ... + c[N-1] by Horner's rule (one FMA per coefficient after the
// first; with the coefficients known at compile time they become constant operands).
template <int N>
SSAMBA_INLINE vf horner(vf x, const float (&c)[N]) {
  vf p = splat(c[0]);
#pragma GCC unroll 16
  for (int i = 1; i < N; ++i) p = p * x + c[i];
  return p;
}

// 2^n * 2^f for n = round_exponent(...) and |f| <= ~1/2: 2^f from a degree-6 polynomial (a
// near-minimax fit on [-1/2, 1/2], about 1e-7 relative error) and 2^n put into the exponent
// (0 for n = -127, inf for n = 128 on the portable path; AVX-512 scalef also gives subnormals).
SSAMBA_INLINE vf pow2_parts(vf n, vf f) {
  const vf p = horner(f, {1.53533620e-4f, 1.33988750e-3f, 9.61843692e-3f, 5.55033237e-2f, 2.40226477e-1f,
                          6.93147182e-1f, 1.f});
#if defined(__AVX512F__)
  return reinterpret_cast<vf>(_mm512_scalef_ps(reinterpret_cast<__m512>(p), reinterpret_cast<__m512>(n)));
#else
  const vi bits = (__builtin_convertvector(n, vi) + 127) << 23;
  return p * reinterpret_cast<vf>(bits);
#endif
}

// 2^(t - 1/2), the scan's decay exp(dt A) with A pre-scaled by log2(e) and the half folded into
// the caller's multiply (t = dt * a2 + 0.5, one FMA): the decay is the scan's innermost cost.
// AVX-512: g = t - floor(t) in one `vreduceps`, 2^(g - 1/2) from a near-minimax quintic on
// [0, 1) (about 2e-7 relative error), times 2^floor(t) by `vscalefps` (0 on underflow).
SSAMBA_INLINE vf vexp2_half(vf t) {
#if defined(__AVX512DQ__)
  const __m512 tv = reinterpret_cast<__m512>(t);
  const vf g = reinterpret_cast<vf>(_mm512_reduce_ps(tv, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC));
  const vf p =
      horner(g, {1.32764538e-3f, 6.35642465e-3f, 3.94751690e-2f, 1.69814244e-1f, 4.90133226e-1f, 7.07106709e-1f});
  return reinterpret_cast<vf>(_mm512_scalef_ps(reinterpret_cast<__m512>(p), tv));
#else
  const vf x = t - 0.5f, n = round_exponent(x);
  return pow2_parts(n, x - n);
#endif
}

// e^x with about 1e-7 relative error over the whole range: x = n ln2 + r with ln 2 split in a
// high part (exact products with n) and a low part, so r is accurate even for large |x|.
SSAMBA_INLINE vf vexp(vf x) {
  const vf n = round_exponent(x * kLog2e);
  const vf r = (x - n * 0.693145751953125f) - n * 1.42860682e-6f;
  const vf e = pow2_parts(n, r * kLog2e);
#if defined(__AVX512F__)
  return e;
#else
  return blend(x < -103.f, splat(0.f), blend(x > 88.8f, splat(__builtin_inff()), e));
#endif
}

// log(1 + e) for e in [0, 1]. Below sqrt(2) - 1 the polynomial takes e itself (exact); above it,
// log(1 + e) = ln 2 + log1p((e - 1) / 2). Either way f lies in [-0.293, 0.415] and
// log1p(f) = f - f^2/2 + f^3 Q(f) with Q a degree-7 near-minimax fit (about 1.3e-7 relative).
SSAMBA_INLINE vf log1p_unit(vf e) {
  const vi upper = e > 0.414213562f;
  const vf f = blend(upper, (e - 1.f) * 0.5f, e);
  const vf q = horner(f, {-7.63449743e-2f, 1.27615824e-1f, -1.31601840e-1f, 1.42017573e-1f, -1.66233569e-1f,
                          2.00012267e-1f, -2.50008196e-1f, 3.33333313e-1f});
  const vf f2 = f * f;
  const vf log1p_f = f - 0.5f * f2 + f2 * f * q;
  return blend(upper, log1p_f + kLn2, log1p_f);
}

SSAMBA_INLINE vf sigmoid(vf x) { return 1.f / (1.f + vexp(-x)); }

SSAMBA_INLINE vf silu(vf x) { return x * sigmoid(x); }

// softplus(x) = max(x, 0) + log1p(exp(-|x|)) (equal to PyTorch's thresholded softplus in float32)
// and its derivative sigmoid(x), sharing one exp.
SSAMBA_INLINE vf softplus(vf x, vf* slope) {
  const vf ax = blend(x < 0.f, -x, x);
  const vf e = vexp(-ax);
  const vf inv = 1.f / (1.f + e);
  *slope = blend(x < 0.f, e * inv, inv);
  return vmax(x, splat(0.f)) + log1p_unit(e);
}

// Lane sums of 16 vectors: result[i] = sum of v[i]'s lanes. Four rounds of pairwise folds
// (two shuffles and an add each) instead of sixteen separate horizontal reductions.
namespace fold_detail {

// Fold of p and q, each holding `slots` partial sums `width` lanes wide: output lane j takes
// (lo) or (hi) half of slot j / (width/2) of the concatenation (p, q).
constexpr int index(int width, int j, bool hi) {
  const int half = width / 2, slots = kLanes / width, k = j / half;
  const int base = (k < slots ? 0 : kLanes) + (k % slots) * width;
  return base + (hi ? half : 0) + j % half;
}

template <int W, int... J>
SSAMBA_INLINE vf fold_impl(vf p, vf q) {
#if defined(__clang__)
  return __builtin_shufflevector(p, q, index(W, J, false)...) + __builtin_shufflevector(p, q, index(W, J, true)...);
#else
  return __builtin_shuffle(p, q, vi{index(W, J, false)...}) + __builtin_shuffle(p, q, vi{index(W, J, true)...});
#endif
}

template <int W>
SSAMBA_INLINE vf fold(vf p, vf q) {
  return fold_impl<W, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15>(p, q);
}

}  // namespace fold_detail

// First round for vectors 2i and 2i + 1 (callers fold pairs as soon as they have them, which keeps
// fewer vectors live).
SSAMBA_INLINE vf fold_pair(vf even, vf odd) { return fold_detail::fold<16>(even, odd); }

// Remaining rounds: pairs[i] = fold_pair(v[2i], v[2i + 1]) for i < 8 -> the 16 lane sums.
SSAMBA_INLINE vf lane_sums_of_pairs(const vf* pairs) {
  using fold_detail::fold;
  vf b[4], c[2];
  for (int i = 0; i < 4; ++i) b[i] = fold<8>(pairs[2 * i], pairs[2 * i + 1]);
  for (int i = 0; i < 2; ++i) c[i] = fold<4>(b[2 * i], b[2 * i + 1]);
  return fold<2>(c[0], c[1]);
}

// N vectors (state vectors of a channel block, taps of a convolution): a fixed array when N is a
// compile-time constant (with loops over it unrolled, the compiler keeps it in registers), a heap
// array when N = 0 and the count `n` is only known at run time.
template <int N>
class Vecs {
 public:
  explicit Vecs(int n, const vf* init = nullptr) : n_(N > 0 ? N : n), heap_(N > 0 ? 0 : n) {
    if (init) {
#pragma GCC unroll 16
      for (int i = 0; i < n_; ++i) (*this)[i] = init[i];
    }
  }
  vf& operator[](int i) { return N > 0 ? fixed_[i] : heap_[i]; }
  int size() const { return n_; }
  void copy_to(vf* dst) {
#pragma GCC unroll 16
    for (int i = 0; i < n_; ++i) dst[i] = (*this)[i];
  }
  // Drops element 0, moves the others down one place and appends v (a sliding window).
  void shift_in(vf v) {
#pragma GCC unroll 16
    for (int i = 0; i + 1 < n_; ++i) (*this)[i] = (*this)[i + 1];
    (*this)[n_ - 1] = v;
  }

 private:
  int n_;
  vf fixed_[N > 0 ? N : 1] = {};
  std::vector<vf> heap_;
};

}  // namespace ssamba
