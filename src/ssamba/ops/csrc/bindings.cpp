// Registers the fused CPU kernels as torch operators (torch.ops.ssamba_cpu.*), plus the
// vectorised elementwise helpers for tests. Operator registration compiles faster than pybind11.
#include <ATen/ops/empty_like.h>
#include <torch/library.h>

#include "kernels.h"
#include "simd.h"

namespace ssamba {

at::Tensor elementwise(const at::Tensor& x, const std::string& which) {
  TORCH_CHECK(x.device().is_cpu() && x.scalar_type() == at::kFloat && x.is_contiguous(),
              "x must be a contiguous float32 CPU tensor");
  TORCH_CHECK(which == "exp" || which == "softplus" || which == "softplus_slope" || which == "silu",
              "unknown function ", which);
  at::Tensor out = at::empty_like(x);
  const float* src = x.data_ptr<float>();
  float* dst = out.data_ptr<float>();
  for (int64_t i = 0; i < x.numel(); i += kLanes) {
    const Lanes ln = lanes(x.numel() - i);
    const vf v = load(src + i, ln);
    vf slope, r;
    if (which == "exp") {
      r = vexp(v);
    } else if (which == "silu") {
      r = silu(v);
    } else {
      r = softplus(v, &slope);
      if (which == "softplus_slope") r = slope;
    }
    store(dst + i, r, ln);
  }
  return out;
}

std::string simd_target() {
#if defined(__AVX512F__)
  return "avx512";
#else
  return "portable";
#endif
}

}  // namespace ssamba

TORCH_LIBRARY(ssamba_cpu, m) {
  m.def("scan_fwd", &ssamba::scan_fwd);
  m.def("scan_bwd", &ssamba::scan_bwd);
  m.def("conv_silu_fwd", &ssamba::conv_silu_fwd);
  m.def("conv_silu_bwd", &ssamba::conv_silu_bwd);
  m.def("elementwise", &ssamba::elementwise);
  m.def("simd_target", &ssamba::simd_target);
}
