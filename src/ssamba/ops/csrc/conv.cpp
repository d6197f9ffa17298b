// Depthwise causal convolution fused with SiLU, forward and backward, in token-major layout.
//
// Channels are handled in strips of 16, walked in scan order p (time p, or L - 1 - p for the
// anti-causal `reverse` direction, which mirrors the causal one):
//   pre[p] = bias + sum_k w[k] x[p - K + 1 + k],  out[p] = silu(pre[p]).
// Inputs and (in the backward) gradients of pre slide through K-vector windows: the backward
// recomputes pre and emits grad_x[p - K + 1] = sum_k w[k] grad_pre[p - k] once they are all known.
// The usual width K = 4 is compiled with the windows in registers.
#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>

#include <algorithm>

#include "kernels.h"
#include "simd.h"

namespace ssamba {
namespace {

constexpr int kWidth = 4;     // Mamba's d_conv, compiled with the windows in registers
constexpr int64_t kSpan = 64;  // positions per forward work item

struct Conv {
  const float* x;
  int64_t sb, sl;     // x strides (batch, time)
  const float* w;     // (width, dim): transposed so each tap is a contiguous vector
  const float* bias;  // (dim,) or null
  int64_t batch, len, dim, width;
  bool reverse;
  int64_t time(int64_t p) const { return reverse ? len - 1 - p : p; }
  const float* x_at(int64_t b, int64_t p, int64_t e0) const { return x + b * sb + time(p) * sl + e0; }
};

// Taps of one strip of channels: w[k] for lanes e0.. (zero past the last channel).
template <int KW>
Vecs<KW> taps(const Conv& c, int64_t e0, Lanes ln) {
  Vecs<KW> w(static_cast<int>(c.width));
  for (int k = 0; k < w.size(); ++k) w[k] = load(c.w + k * c.dim + e0, ln);
  return w;
}

// bias + sum_k w[k] win[k]
template <int KW>
SSAMBA_INLINE vf preact(Vecs<KW>& w, Vecs<KW>& win, vf bias) {
  vf acc = bias;
#pragma GCC unroll 16
  for (int k = 0; k < w.size(); ++k) acc += w[k] * win[k];
  return acc;
}

// Scan positions [p0, p1) of one strip; the window starts with the K - 1 inputs before p0.
template <int KW>
void fwd_span(const Conv& c, int64_t b, int64_t e0, int64_t p0, int64_t p1, float* out) {
  const Lanes ln = lanes(c.dim - e0);
  Vecs<KW> w = taps<KW>(c, e0, ln), win(w.size());  // win[k] = x[p - K + 1 + k], zeros before 0
  const vf bias = c.bias ? load(c.bias + e0, ln) : vf{};
  for (int64_t p = std::max<int64_t>(0, p0 - w.size() + 1); p < p0; ++p) win.shift_in(load(c.x_at(b, p, e0), ln));
  for (int64_t p = p0; p < p1; ++p) {
    win.shift_in(load(c.x_at(b, p, e0), ln));
    store(out + (b * c.len + c.time(p)) * c.dim + e0, silu(preact(w, win, bias)), ln);
  }
}

// Per-sequence partial sums of the weight and bias gradients: (batch, width, dim), (batch, dim).
struct ConvGrads {
  const float* gout;  // (batch, len, dim)
  float *gx, *gw, *gb;
};

template <int KW>
void bwd_strip(const Conv& c, const ConvGrads& g, int64_t b, int64_t e0) {
  const Lanes ln = lanes(c.dim - e0);
  const int K = static_cast<int>(c.width);
  Vecs<KW> w = taps<KW>(c, e0, ln), win(K), gwin(K), gw(K);  // gwin[k] = grad_pre[p - K + 1 + k]
  const vf bias = c.bias ? load(c.bias + e0, ln) : vf{};
  vf gb = {};
  for (int64_t p = 0; p < c.len + K - 1; ++p) {
    vf gpre = {};
    if (p < c.len) {
      win.shift_in(load(c.x_at(b, p, e0), ln));
      const vf pre = preact(w, win, bias), sig = sigmoid(pre);
      gpre = load(g.gout + (b * c.len + c.time(p)) * c.dim + e0, ln) * sig * (1.f + pre * (1.f - sig));
      gb += gpre;
#pragma GCC unroll 16
      for (int k = 0; k < K; ++k) gw[k] += gpre * win[k];
    }
    gwin.shift_in(gpre);
    const int64_t q = p - K + 1;  // every position that reads x[q] is now done
    if (q >= 0) {
      vf acc = {};
#pragma GCC unroll 16
      for (int k = 0; k < K; ++k) acc += w[k] * gwin[K - 1 - k];
      store(g.gx + (b * c.len + c.time(q)) * c.dim + e0, acc, ln);
    }
  }
  for (int k = 0; k < K; ++k) store(g.gw + (b * K + k) * c.dim + e0, gw[k], ln);
  store(g.gb + b * c.dim + e0, gb, ln);
}

Conv make_conv(const at::Tensor& x, const at::Tensor& wt, const OptTensor& bias, bool reverse) {
  TORCH_CHECK(x.device().is_cpu() && x.scalar_type() == at::kFloat && x.dim() == 3 && x.stride(2) == 1,
              "x must be a float32 CPU tensor (batch, length, channels), contiguous in channels");
  const int64_t dim = x.size(2);
  TORCH_CHECK(wt.size(1) == dim, "weight must be (channels, width)");
  if (bias)
    TORCH_CHECK(bias->scalar_type() == at::kFloat && bias->is_contiguous() && bias->numel() == dim,
                "bias must be a contiguous float32 tensor with one entry per channel");
  return {x.data_ptr<float>(), x.stride(0), x.stride(1), wt.data_ptr<float>(),
          bias ? bias->data_ptr<float>() : nullptr, x.size(0), x.size(1), dim, wt.size(0), reverse};
}

at::Tensor transposed_weight(const at::Tensor& weight) {
  TORCH_CHECK(weight.dim() == 2 && weight.scalar_type() == at::kFloat, "weight must be float32 (channels, width)");
  return weight.t().contiguous();
}

}  // namespace

at::Tensor conv_silu_fwd(const at::Tensor& x, const at::Tensor& weight, const OptTensor& bias, bool reverse) {
  const at::Tensor wt = transposed_weight(weight);
  const Conv c = make_conv(x, wt, bias, reverse);
  at::Tensor out = at::empty({c.batch, c.len, c.dim}, x.options());
  float* o = out.data_ptr<float>();
  // Work items are spans of positions (no recurrence here), all channels each, strips inner: a
  // span's rows stay in cache and in the TLB while every strip reads them.
  const int64_t spans = (c.len + kSpan - 1) / kSpan;
  at::parallel_for(0, c.batch * spans, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      const int64_t b = i / spans, p0 = (i % spans) * kSpan, p1 = std::min(c.len, p0 + kSpan);
      for (int64_t e0 = 0; e0 < c.dim; e0 += kLanes) {
        if (c.width == kWidth)
          fwd_span<kWidth>(c, b, e0, p0, p1, o);
        else
          fwd_span<0>(c, b, e0, p0, p1, o);
      }
    }
  });
  return out;
}

std::vector<at::Tensor> conv_silu_bwd(const at::Tensor& x, const at::Tensor& weight, const OptTensor& bias,
                                      bool reverse, const at::Tensor& grad_out) {
  const at::Tensor wt = transposed_weight(weight);
  const Conv c = make_conv(x, wt, bias, reverse);
  TORCH_CHECK(grad_out.is_contiguous() && grad_out.sizes() == x.sizes(), "grad_out must be contiguous like x");
  at::Tensor gx = at::empty({c.batch, c.len, c.dim}, x.options());
  at::Tensor gw = at::empty({c.batch, c.width, c.dim}, x.options());  // per-sequence partial sums
  at::Tensor gb = at::empty({c.batch, c.dim}, x.options());
  const ConvGrads g{grad_out.data_ptr<float>(), gx.data_ptr<float>(), gw.data_ptr<float>(), gb.data_ptr<float>()};
  const int64_t nb = (c.dim + kLanes - 1) / kLanes;
  at::parallel_for(0, c.batch * nb, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      const int64_t b = i / nb, e0 = (i % nb) * kLanes;
      if (c.width == kWidth)
        bwd_strip<kWidth>(c, g, b, e0);
      else
        bwd_strip<0>(c, g, b, e0);
    }
  });
  return {gx, gw.sum(0).t().contiguous(), bias ? gb.sum(0) : at::Tensor()};
}

}  // namespace ssamba
