// Fused selective scan on CPU, forward and backward, in token-major layout.
//
// Channels are handled in blocks of 16 (one vector lane per channel); a block runs the recurrence
// over time with every state of its 16 channels in registers:
//   dt = softplus(delta + bias),  h_n = exp(dt A_n) h_n + dt u B_n,  y = sum_n C_n h_n + D u,
//   out = y * silu(z).
// `reverse` walks time from the end through index arithmetic, without flipped copies. A work item
// is one sequence and a group of channel blocks, processed in time tiles (tiles outer, blocks
// inner) so that each tile's rows come into cache once for all blocks.
//
// The backward pass never stores all states: the forward saves the states at the start of every
// `chunk` positions, and the backward, walking chunks from last to first, recomputes one chunk's
// states (and decays) into a small buffer and runs the adjoint recurrence through it.
#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/zeros.h>
#include <ATen/ops/zeros_like.h>

#include <algorithm>
#include <numeric>

#include "kernels.h"
#include "simd.h"

namespace ssamba {
namespace {

constexpr int64_t kTile = 32;  // positions per time tile when the forward keeps no checkpoints

// A (batch, length, width) float view with a contiguous last dimension.
struct Seq {
  const float* p;
  int64_t sb, sl;
  const float* row(int64_t b, int64_t t) const { return p + b * sb + t * sl; }
};

Seq seq(const at::Tensor& t) { return {t.data_ptr<float>(), t.stride(0), t.stride(1)}; }

struct Scan {
  Seq u, delta, z, B, C;
  const float* A;     // (dim, nstate)
  const float* D;     // (dim,) or null
  const float* bias;  // (dim,) or null
  bool has_z, softplus, reverse;
  int64_t batch, len, dim, nstate;
  bool accumulate = false;  // forward: add y to the output instead of overwriting it
  const float* dt_w = nullptr;  // forward: (rank, dim); delta then holds (batch, len, rank) inputs
  int64_t rank = 0;
  int64_t time(int64_t p) const { return reverse ? len - 1 - p : p; }
};

// `width` vectors for each channel block of a work item, kept from one time tile to the next.
class BlockVecs {
 public:
  BlockVecs(int64_t blocks, int64_t width) : width_(width), v_(blocks * width) {}
  vf* operator[](int64_t block) { return v_.data() + block * width_; }

 private:
  int64_t width_;
  std::vector<vf> v_;
};

template <int NS>
int states(const Scan& s) {
  return NS > 0 ? NS : static_cast<int>(s.nstate);
}

// out[n] lane l = A[d0 + l, n] * scale (zero for lanes past the last channel).
void gather_A(const Scan& s, int64_t d0, float scale, vf* out) {
  const Lanes ln = lanes(s.dim - d0);
  for (int64_t n = 0; n < s.nstate; ++n) {
    vf v = {};
    for (int l = 0; l < ln.n; ++l) v[l] = s.A[(d0 + l) * s.nstate + n] * scale;
    out[n] = v;
  }
}

SSAMBA_INLINE vf load_or_zero(const float* p, int64_t d0, Lanes ln) { return p ? load(p + d0, ln) : vf{}; }

constexpr int kRankGroup = 12;  // dt-projection weight vectors held in registers at a time

// With `dt_w`: the step inputs delta_row . dt_w of positions [p0, p1) (at most kTile) into dst.
// Groups of kRankGroup weight vectors stay in registers while the positions stream past, each
// position summing its group in two accumulators; a remainder of the rank goes one weight at a time.
void low_rank_steps(const Scan& s, int64_t b, int64_t d0, int64_t p0, int64_t p1, Lanes ln, vf* dst) {
  for (int64_t p = p0; p < p1; ++p) dst[p - p0] = vf{};
  int64_t k0 = 0;
  for (; k0 + kRankGroup <= s.rank; k0 += kRankGroup) {
    vf w[kRankGroup];
#pragma GCC unroll 12
    for (int j = 0; j < kRankGroup; ++j) w[j] = load(s.dt_w + (k0 + j) * s.dim + d0, ln);
    for (int64_t p = p0; p < p1; ++p) {
      const float* row = s.delta.row(b, s.time(p)) + k0;
      vf even = dst[p - p0], odd = {};
#pragma GCC unroll 6
      for (int j = 0; j < kRankGroup; j += 2) {
        even += w[j] * row[j];
        odd += w[j + 1] * row[j + 1];
      }
      dst[p - p0] = even + odd;
    }
  }
  for (; k0 < s.rank; ++k0) {
    const vf w = load(s.dt_w + k0 * s.dim + d0, ln);
    for (int64_t p = p0; p < p1; ++p) dst[p - p0] += w * s.delta.row(b, s.time(p))[k0];
  }
}

// dt for one row, and d dt / d delta in *slope.
SSAMBA_INLINE vf step_size(const Scan& s, vf input, vf bias, vf* slope) {
  const vf x = input + bias;
  if (!s.softplus) {
    *slope = splat(1.f);
    return x;
  }
  return softplus(x, slope);
}

// Scan positions [p0, p1) of one channel block, continuing from (and updating) `state`.
template <int NS>
void fwd_tile(const Scan& s, int64_t b, int64_t d0, int64_t p0, int64_t p1, const vf* a2_in, vf* state,
              float* out) {
  const int ns = states<NS>(s);
  const Lanes ln = lanes(s.dim - d0);
  Vecs<NS> a2(ns, a2_in), h(ns, state);
  const vf dskip = load_or_zero(s.D, d0, ln), bias = load_or_zero(s.bias, d0, ln);
  vf steps[kTile];
  if (s.dt_w) low_rank_steps(s, b, d0, p0, p1, ln, steps);
  for (int64_t p = p0; p < p1; ++p) {
    const int64_t t = s.time(p);
    vf slope;
    const vf u = load(s.u.row(b, t) + d0, ln);
    const vf input = s.dt_w ? steps[p - p0] : load(s.delta.row(b, t) + d0, ln);
    const vf dt = step_size(s, input, bias, &slope);
    const vf dtu = dt * u;
    const float* Br = s.B.row(b, t);
    const float* Cr = s.C.row(b, t);
    vf acc[4] = {};
#pragma GCC unroll 16
    for (int n = 0; n < ns; ++n) {
      h[n] = vexp2_half(dt * a2[n] + 0.5f) * h[n] + dtu * Br[n];
      acc[n & 3] += h[n] * Cr[n];
    }
    vf y = (acc[0] + acc[1]) + (acc[2] + acc[3]) + dskip * u;
    if (s.has_z) y *= silu(load(s.z.row(b, t) + d0, ln));
    float* dst = out + (b * s.len + t) * s.dim + d0;
    store(dst, s.accumulate ? y + load(dst, ln) : y, ln);
  }
  h.copy_to(state);
}

// One sequence, channel blocks [blk0, blk1): time tiles outer, blocks inner, so a tile's rows are
// fetched into cache once and shared by all blocks (B and C rows too). With `ckpt`, the states at
// each tile start are saved for the backward.
template <int NS>
void fwd_item(const Scan& s, int64_t b, int64_t blk0, int64_t blk1, int64_t tile, float* out, float* ckpt) {
  const int64_t ns = s.nstate, nblk = blk1 - blk0, ntiles = (s.len + tile - 1) / tile;
  BlockVecs a2(nblk, ns), h(nblk, ns);
  for (int64_t i = 0; i < nblk; ++i) gather_A(s, (blk0 + i) * kLanes, kLog2e, a2[i]);
  for (int64_t k = 0; k < ntiles; ++k) {
    for (int64_t i = 0; i < nblk; ++i) {
      const int64_t d0 = (blk0 + i) * kLanes;
      if (ckpt) {
        for (int64_t n = 0; n < ns; ++n)
          store(ckpt + ((b * ntiles + k) * ns + n) * s.dim + d0, h[i][n], lanes(s.dim - d0));
      }
      fwd_tile<NS>(s, b, d0, k * tile, std::min(s.len, (k + 1) * tile), a2[i], h[i], out);
    }
  }
}

struct Grads {
  Seq gout;
  float *gu, *gdelta, *gz;  // (batch, len, dim)
  float *gB, *gC;           // the work item's partial sums, rows of (len, nstate)
};

// Scratch of one work item: a chunk's recomputed states and decays, step sizes and slopes.
struct ChunkBuffers {
  ChunkBuffers(int64_t chunk, int64_t ns) : hs((chunk + 1) * ns), dAs(chunk * ns), dts(chunk), slopes(chunk) {}
  std::vector<vf> hs, dAs, dts, slopes;
};

// One channel block's constants and the accumulators it carries from chunk to chunk.
struct BwdBlock {
  const vf* a2;  // A * log2(e)
  const vf* a;   // A
  vf* carry;     // adjoint of the state, flowing to earlier positions
  vf* gA;
  vf* gD;
  vf* gbias;
};

// Backward through chunk k (positions [k * chunk, (k + 1) * chunk)) of one channel block.
template <int NS>
void bwd_tile(const Scan& s, const Grads& g, int64_t b, int64_t d0, int64_t k, int64_t chunk, const float* ckpt,
              const BwdBlock& blk, ChunkBuffers& buf) {
  const int ns = states<NS>(s);
  const Lanes ln = lanes(s.dim - d0);
  const int64_t nck = (s.len + chunk - 1) / chunk, p0 = k * chunk, m = std::min(chunk, s.len - p0);
  Vecs<NS> a2(ns, blk.a2), a(ns, blk.a), carry(ns, blk.carry), gA(ns, blk.gA);
  const vf dskip = load_or_zero(s.D, d0, ln), bias = load_or_zero(s.bias, d0, ln);
  vf* hs = buf.hs.data();  // hs[j * ns + n]: state before position p0 + j; dAs likewise for decays
  vf* dAs = buf.dAs.data();
  for (int n = 0; n < ns; ++n) hs[n] = load(ckpt + ((b * nck + k) * ns + n) * s.dim + d0, ln);
  for (int64_t j = 0; j < m; ++j) {
    const int64_t t = s.time(p0 + j);
    const vf dt = step_size(s, load(s.delta.row(b, t) + d0, ln), bias, &buf.slopes[j]);
    const vf dtu = dt * load(s.u.row(b, t) + d0, ln);
    const float* Br = s.B.row(b, t);
#pragma GCC unroll 16
    for (int n = 0; n < ns; ++n) {
      const vf dA = vexp2_half(dt * a2[n] + 0.5f);
      dAs[j * ns + n] = dA;
      hs[(j + 1) * ns + n] = dA * hs[j * ns + n] + dtu * Br[n];
    }
    buf.dts[j] = dt;
  }
  vf gD = *blk.gD, gbias = *blk.gbias;
  for (int64_t j = m - 1; j >= 0; --j) {
    const int64_t t = s.time(p0 + j);
    const vf u = load(s.u.row(b, t) + d0, ln), go = load(g.gout.row(b, t) + d0, ln);
    const vf dt = buf.dts[j], dtu = dt * u;
    vf zv = {}, zsig = {}, gy = go;
    if (s.has_z) {
      zv = load(s.z.row(b, t) + d0, ln);
      zsig = sigmoid(zv);
      gy = go * zv * zsig;
    }
    const float* Br = s.B.row(b, t);
    const float* Cr = s.C.row(b, t);
    vf gx = {}, gdtA = {}, acc[4] = {};
    // Adjoint step of state n; vc and vb receive its terms of grad_C and grad_B (before the sum
    // over the block's channels).
    auto state = [&](int n, vf& vc, vf& vb) __attribute__((always_inline)) {
      const vf h = hs[(j + 1) * ns + n], dA = dAs[j * ns + n];
      acc[n & 3] += h * Cr[n];
      const vf gh = carry[n] + gy * Cr[n];  // adjoint of this position's state
      vc = gy * h;
      vb = gh * dtu;
      gx += gh * Br[n];                         // adjoint of dt * u
      const vf gdA = gh * hs[j * ns + n] * dA;  // adjoint of dt * A_n, through exp
      gdtA += gdA * a[n];
      gA[n] += gdA * dt;
      carry[n] = gh * dA;
    };
    float* gBr = g.gB + t * ns;
    float* gCr = g.gC + t * ns;
    if constexpr (NS == kLanes) {  // lane sums by folding pairs of states as they are produced
      vf cp[kLanes / 2], bp[kLanes / 2];
#pragma GCC unroll 8
      for (int i = 0; i < kLanes / 2; ++i) {
        vf c0, b0, c1, b1;
        state(2 * i, c0, b0);
        state(2 * i + 1, c1, b1);
        cp[i] = fold_pair(c0, c1);
        bp[i] = fold_pair(b0, b1);
      }
      const Lanes all = lanes(kLanes);
      store(gCr, load(gCr, all) + lane_sums_of_pairs(cp), all);
      store(gBr, load(gBr, all) + lane_sums_of_pairs(bp), all);
    } else {
      for (int n = 0; n < ns; ++n) {
        vf vc, vb;
        state(n, vc, vb);
        gCr[n] += hsum(vc);
        gBr[n] += hsum(vb);
      }
    }
    const vf gdelta = (gx * u + gdtA) * buf.slopes[j];
    gD += gy * u;
    gbias += gdelta;
    const int64_t row = (b * s.len + t) * s.dim + d0;
    store(g.gu + row, gx * dt + gy * dskip, ln);
    store(g.gdelta + row, gdelta, ln);
    if (s.has_z) {
      const vf y = (acc[0] + acc[1]) + (acc[2] + acc[3]) + dskip * u;
      store(g.gz + row, go * y * zsig * (1.f + zv * (1.f - zsig)), ln);
    }
  }
  carry.copy_to(blk.carry);
  gA.copy_to(blk.gA);
  *blk.gD = gD;
  *blk.gbias = gbias;
}

// Per-sequence partial sums of the per-channel gradients: (batch, dim, nstate), (batch, dim) x 2.
struct ChannelGrads {
  float *gA, *gD, *gbias;
};

// One sequence, channel blocks [blk0, blk1): chunks from last to first, blocks inner.
template <int NS>
void bwd_item(const Scan& s, const Grads& g, const ChannelGrads& cg, int64_t b, int64_t blk0, int64_t blk1,
              int64_t chunk, const float* ckpt) {
  const int64_t ns = s.nstate, nblk = blk1 - blk0, nck = (s.len + chunk - 1) / chunk;
  BlockVecs a2(nblk, ns), a(nblk, ns), carry(nblk, ns), gA(nblk, ns), gD(nblk, 1), gbias(nblk, 1);
  for (int64_t i = 0; i < nblk; ++i) {
    gather_A(s, (blk0 + i) * kLanes, kLog2e, a2[i]);
    gather_A(s, (blk0 + i) * kLanes, 1.f, a[i]);
  }
  ChunkBuffers buf(chunk, ns);
  for (int64_t k = nck - 1; k >= 0; --k) {
    for (int64_t i = 0; i < nblk; ++i) {
      const BwdBlock blk{a2[i], a[i], carry[i], gA[i], gD[i], gbias[i]};
      bwd_tile<NS>(s, g, b, (blk0 + i) * kLanes, k, chunk, ckpt, blk, buf);
    }
  }
  for (int64_t i = 0; i < nblk; ++i) {
    const int64_t d0 = (blk0 + i) * kLanes;
    const Lanes ln = lanes(s.dim - d0);
    for (int l = 0; l < ln.n; ++l)
      for (int64_t n = 0; n < ns; ++n) cg.gA[(b * s.dim + d0 + l) * ns + n] = gA[i][n][l];
    store(cg.gD + b * s.dim + d0, *gD[i], ln);
    store(cg.gbias + b * s.dim + d0, *gbias[i], ln);
  }
}

const float* ptr_or_null(const OptTensor& t) { return t ? t->data_ptr<float>() : nullptr; }

void check_seq(const at::Tensor& t, const char* name, int64_t batch, int64_t len, int64_t width) {
  TORCH_CHECK(t.device().is_cpu() && t.scalar_type() == at::kFloat, name, " must be a float32 CPU tensor");
  TORCH_CHECK(t.dim() == 3 && t.size(0) == batch && t.size(1) == len && t.size(2) == width, name,
              " must have shape (", batch, ", ", len, ", ", width, "), got ", t.sizes());
  TORCH_CHECK(t.stride(2) == 1 || width == 1 || t.numel() == 0, name, " must be contiguous in its last dimension");
}

void check_vec(const at::Tensor& t, const char* name, int64_t numel) {
  TORCH_CHECK(t.device().is_cpu() && t.scalar_type() == at::kFloat && t.is_contiguous() && t.numel() == numel,
              name, " must be a contiguous float32 CPU tensor with ", numel, " elements");
}

Scan make_scan(const at::Tensor& u, const at::Tensor& delta, const at::Tensor& A, const at::Tensor& B,
               const at::Tensor& C, const OptTensor& D, const OptTensor& z, const OptTensor& delta_bias,
               bool softplus, bool reverse, int64_t delta_width = -1) {
  TORCH_CHECK(u.dim() == 3 && A.dim() == 2, "u must be (batch, length, channels) and A (channels, states)");
  const int64_t batch = u.size(0), len = u.size(1), dim = u.size(2), nstate = A.size(1);
  TORCH_CHECK(A.size(0) == dim, "A must have one row per channel");
  check_seq(u, "u", batch, len, dim);
  check_seq(delta, "delta", batch, len, delta_width < 0 ? dim : delta_width);
  check_seq(B, "B", batch, len, nstate);
  check_seq(C, "C", batch, len, nstate);
  check_vec(A, "A", dim * nstate);
  if (z) check_seq(*z, "z", batch, len, dim);
  if (D) check_vec(*D, "D", dim);
  if (delta_bias) check_vec(*delta_bias, "delta_bias", dim);
  return {seq(u),        seq(delta),       z ? seq(*z) : Seq{}, seq(B), seq(C), A.data_ptr<float>(),
          ptr_or_null(D), ptr_or_null(delta_bias), z.has_value(), softplus, reverse, batch, len, dim, nstate};
}

int64_t blocks(int64_t dim) { return (dim + kLanes - 1) / kLanes; }

// Channel groups per sequence such that (sequences x groups) work items spread evenly over the
// threads; each group of a sequence is one item (its channel blocks run one after another).
int64_t channel_groups(int64_t batch, int64_t dim) {
  const int64_t threads = at::get_num_threads();
  return std::max<int64_t>(1, std::min(blocks(dim), threads / std::gcd(batch, threads)));
}

// First channel block of group `grp` (of `groups`) of a dimension with `nb` blocks.
int64_t group_start(int64_t grp, int64_t groups, int64_t nb) { return grp * nb / groups; }

}  // namespace

std::vector<at::Tensor> scan_fwd(const at::Tensor& u, const at::Tensor& delta, const at::Tensor& A,
                                 const at::Tensor& B, const at::Tensor& C, const OptTensor& D,
                                 const OptTensor& z, const OptTensor& delta_bias, bool softplus, bool reverse,
                                 int64_t chunk, const OptTensor& out_opt, bool accumulate,
                                 const OptTensor& dt_proj) {
  TORCH_CHECK(!dt_proj || (chunk == 0 && dt_proj->dim() == 2 && dt_proj->size(0) == u.size(2)),
              "dt_proj must be (channels, rank) and is for the forward pass only (chunk 0)");
  const at::Tensor dt_w = dt_proj ? dt_proj->t().contiguous() : at::Tensor();
  Scan s = make_scan(u, delta, A, B, C, D, z, delta_bias, softplus, reverse, dt_proj ? dt_w.size(0) : -1);
  if (dt_proj) {
    check_vec(dt_w, "dt_proj", dt_w.numel());
    s.dt_w = dt_w.data_ptr<float>();
    s.rank = dt_w.size(0);
  }
  const int64_t tile = chunk > 0 ? chunk : kTile, nb = blocks(s.dim), groups = channel_groups(s.batch, s.dim);
  TORCH_CHECK(!accumulate || out_opt, "accumulate needs an output tensor");
  at::Tensor out = out_opt ? *out_opt : at::empty({s.batch, s.len, s.dim}, u.options());
  if (out_opt) check_vec(out, "out", s.batch * s.len * s.dim);
  TORCH_CHECK(out.sizes() == u.sizes(), "out must have u's shape");
  s.accumulate = accumulate;
  at::Tensor ckpt;
  if (chunk > 0) ckpt = at::empty({s.batch, (s.len + chunk - 1) / chunk, s.nstate, s.dim}, u.options());
  float* ckpt_p = chunk > 0 ? ckpt.data_ptr<float>() : nullptr;
  at::parallel_for(0, s.batch * groups, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      const int64_t b = i / groups, grp = i % groups;
      const int64_t blk0 = group_start(grp, groups, nb), blk1 = group_start(grp + 1, groups, nb);
      if (s.nstate == kLanes)
        fwd_item<kLanes>(s, b, blk0, blk1, tile, out.data_ptr<float>(), ckpt_p);
      else
        fwd_item<0>(s, b, blk0, blk1, tile, out.data_ptr<float>(), ckpt_p);
    }
  });
  return {out, ckpt};
}

std::vector<at::Tensor> scan_bwd(const at::Tensor& u, const at::Tensor& delta, const at::Tensor& A,
                                 const at::Tensor& B, const at::Tensor& C, const OptTensor& D,
                                 const OptTensor& z, const OptTensor& delta_bias, bool softplus, bool reverse,
                                 const at::Tensor& checkpoints, int64_t chunk, const at::Tensor& grad_out) {
  const Scan s = make_scan(u, delta, A, B, C, D, z, delta_bias, softplus, reverse);
  TORCH_CHECK(chunk > 0 && checkpoints.is_contiguous() &&
                  checkpoints.sizes() == at::IntArrayRef({s.batch, (s.len + chunk - 1) / chunk, s.nstate, s.dim}),
              "checkpoints do not match the inputs");
  check_seq(grad_out, "grad_out", s.batch, s.len, s.dim);
  // Each channel group accumulates its own partial grad_B / grad_C; they are summed at the end.
  const int64_t nb = blocks(s.dim), groups = channel_groups(s.batch, s.dim);
  const auto opts = u.options();
  at::Tensor gu = at::empty({s.batch, s.len, s.dim}, opts), gdelta = at::empty_like(gu);
  at::Tensor gz = s.has_z ? at::empty_like(gu) : at::Tensor();
  at::Tensor gB = at::zeros({groups, s.batch, s.len, s.nstate}, opts), gC = at::zeros_like(gB);
  at::Tensor gA = at::empty({s.batch, s.dim, s.nstate}, opts);
  at::Tensor gD = at::empty({s.batch, s.dim}, opts), gbias = at::empty_like(gD);
  const ChannelGrads cg{gA.data_ptr<float>(), gD.data_ptr<float>(), gbias.data_ptr<float>()};
  const float* ckpt = checkpoints.data_ptr<float>();
  at::parallel_for(0, s.batch * groups, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      const int64_t b = i / groups, grp = i % groups;
      const int64_t blk0 = group_start(grp, groups, nb), blk1 = group_start(grp + 1, groups, nb);
      const int64_t offset = (grp * s.batch + b) * s.len * s.nstate;
      const Grads g{seq(grad_out),
                    gu.data_ptr<float>(),
                    gdelta.data_ptr<float>(),
                    s.has_z ? gz.data_ptr<float>() : nullptr,
                    gB.data_ptr<float>() + offset,
                    gC.data_ptr<float>() + offset};
      if (s.nstate == kLanes)
        bwd_item<kLanes>(s, g, cg, b, blk0, blk1, chunk, ckpt);
      else
        bwd_item<0>(s, g, cg, b, blk0, blk1, chunk, ckpt);
    }
  });
  return {gu,
          gdelta,
          gA.sum(0),
          groups > 1 ? gB.sum(0) : gB[0],
          groups > 1 ? gC.sum(0) : gC[0],
          D ? gD.sum(0) : at::Tensor(),
          gz,
          delta_bias ? gbias.sum(0) : at::Tensor()};
}

}  // namespace ssamba
