// Entry points of the fused CPU kernels (registered as torch operators in bindings.cpp).
//
// Layouts are "token major": sequences are (batch, length, channels) with the channel dimension
// contiguous, B and C are (batch, length, states); batch and length strides are free.
#pragma once

#include <ATen/core/Tensor.h>

#include <optional>
#include <string>
#include <vector>

namespace ssamba {

using OptTensor = std::optional<at::Tensor>;

// Forward selective scan. Returns {out, checkpoints}: out (batch, length, channels); the states at
// the start of every `chunk` positions (batch, chunks, states, channels) when chunk > 0 (for the
// backward pass), else an undefined tensor. A given `out` (contiguous) is written, or added to
// with `accumulate`; it may be u, delta or z itself (each position is read before it is written).
// With `dt_proj` (channels, rank), delta holds the (batch, length, rank) low-rank step inputs and
// the step is delta @ dt_proj^T, computed on the fly (Mamba's dt projection, fused; chunk 0 only).
std::vector<at::Tensor> scan_fwd(const at::Tensor& u, const at::Tensor& delta, const at::Tensor& A,
                                 const at::Tensor& B, const at::Tensor& C, const OptTensor& D,
                                 const OptTensor& z, const OptTensor& delta_bias, bool softplus, bool reverse,
                                 int64_t chunk, const OptTensor& out, bool accumulate, const OptTensor& dt_proj);

// Backward selective scan from the forward's checkpoints. Returns
// {grad_u, grad_delta, grad_A, grad_B, grad_C, grad_D, grad_z, grad_delta_bias}; the gradients of
// absent optional inputs are undefined tensors.
std::vector<at::Tensor> scan_bwd(const at::Tensor& u, const at::Tensor& delta, const at::Tensor& A,
                                 const at::Tensor& B, const at::Tensor& C, const OptTensor& D,
                                 const OptTensor& z, const OptTensor& delta_bias, bool softplus, bool reverse,
                                 const at::Tensor& checkpoints, int64_t chunk, const at::Tensor& grad_out);

// SiLU of a depthwise causal (reverse: anti-causal) convolution; x (batch, length, channels),
// weight (channels, width).
at::Tensor conv_silu_fwd(const at::Tensor& x, const at::Tensor& weight, const OptTensor& bias, bool reverse);

// Returns {grad_x, grad_weight, grad_bias}.
std::vector<at::Tensor> conv_silu_bwd(const at::Tensor& x, const at::Tensor& weight, const OptTensor& bias,
                                      bool reverse, const at::Tensor& grad_out);

// The vectorised elementwise functions, exposed so tests can measure their accuracy:
// which = "exp", "softplus", "softplus_slope" or "silu"; x contiguous float32.
at::Tensor elementwise(const at::Tensor& x, const std::string& which);

// Whether the build targets AVX-512 (the intrinsics path) or the portable vector code.
std::string simd_target();

}  // namespace ssamba
