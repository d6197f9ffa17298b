// Depthwise causal convolution fused with SiLU, forward and backward, in token-major layout.
//
// One work item is a strip of 16 channels of one sequence, walked in scan order p (time p, or
// L - 1 - p for the anti-causal `reverse` direction, which mirrors the causal one):
//   pre[p] = bias + sum_k w[k] x[p - K + 1 + k],  out[p] = silu(pre[p]).
// The backward recomputes pre, keeps the last K gradients of pre in a ring buffer and emits
// grad_x[p - K + 1] = sum_k w[k] grad_pre[p - k] once they are all known.
#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>

#include "kernels.h"
#include "simd.h"

namespace ssamba {
namespace {

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

// pre-activation at scan position p; xs[k] receives the input tap k multiplies (zero before 0).
vf preact(const Conv& c, int64_t b, int64_t p, int64_t e0, Lanes ln, vf bias, const vf* w, vf* xs) {
  vf acc = bias;
  for (int64_t k = 0; k < c.width; ++k) {
    const int64_t q = p - c.width + 1 + k;
    xs[k] = q >= 0 ? load(c.x_at(b, q, e0), ln) : vf{};
    acc += w[k] * xs[k];
  }
  return acc;
}

std::vector<vf> taps(const Conv& c, int64_t e0, Lanes ln) {
  std::vector<vf> w(c.width);
  for (int64_t k = 0; k < c.width; ++k) w[k] = load(c.w + k * c.dim + e0, ln);
  return w;
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
  const int64_t nb = (c.dim + kLanes - 1) / kLanes;
  at::parallel_for(0, c.batch * nb, 1, [&](int64_t lo, int64_t hi) {
    std::vector<vf> xs(c.width);
    for (int64_t i = lo; i < hi; ++i) {
      const int64_t b = i / nb, e0 = (i % nb) * kLanes;
      const Lanes ln = lanes(c.dim - e0);
      const std::vector<vf> w = taps(c, e0, ln);
      const vf bias_v = c.bias ? load(c.bias + e0, ln) : vf{};
      for (int64_t p = 0; p < c.len; ++p)
        store(o + (b * c.len + c.time(p)) * c.dim + e0, silu(preact(c, b, p, e0, ln, bias_v, w.data(), xs.data())),
              ln);
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
  const float* go = grad_out.data_ptr<float>();
  float *gx_p = gx.data_ptr<float>(), *gw_p = gw.data_ptr<float>(), *gb_p = gb.data_ptr<float>();
  const int64_t nb = (c.dim + kLanes - 1) / kLanes, K = c.width;
  at::parallel_for(0, c.batch * nb, 1, [&](int64_t lo, int64_t hi) {
    std::vector<vf> xs(K), gw_acc(K), ring(K);
    for (int64_t i = lo; i < hi; ++i) {
      const int64_t b = i / nb, e0 = (i % nb) * kLanes;
      const Lanes ln = lanes(c.dim - e0);
      const std::vector<vf> w = taps(c, e0, ln);
      const vf bias_v = c.bias ? load(c.bias + e0, ln) : vf{};
      std::fill(gw_acc.begin(), gw_acc.end(), vf{});
      vf gb_acc = {};
      for (int64_t p = 0; p < c.len + K - 1; ++p) {
        vf gpre = {};
        if (p < c.len) {
          const vf pre = preact(c, b, p, e0, ln, bias_v, w.data(), xs.data());
          const vf sig = sigmoid(pre);
          gpre = load(go + (b * c.len + c.time(p)) * c.dim + e0, ln) * sig * (1.f + pre * (1.f - sig));
          gb_acc += gpre;
          for (int64_t k = 0; k < K; ++k) gw_acc[k] += gpre * xs[k];
        }
        ring[p % K] = gpre;
        const int64_t q = p - K + 1;  // every position that reads x[q] is now done
        if (q >= 0) {
          vf acc = {};
          for (int64_t k = 0; k < K; ++k) acc += w[k] * ring[(p - k) % K];
          store(gx_p + (b * c.len + c.time(q)) * c.dim + e0, acc, ln);
        }
      }
      for (int64_t k = 0; k < K; ++k) store(gw_p + (b * K + k) * c.dim + e0, gw_acc[k], ln);
      store(gb_p + b * c.dim + e0, gb_acc, ln);
    }
  });
  return {gx, gw.sum(0).t().contiguous(), bias ? gb.sum(0) : at::Tensor()};
}

}  // namespace ssamba
