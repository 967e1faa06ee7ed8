// Parameters and window arithmetic of the neighborhood-attention kernels, shared by the host (g++) and the
// kernels (NVRTC). No includes, no host-only types (see mta_params.h).
//
// Dilation is removed before any kernel work: the positions g, g + d, g + 2d, ... of a dilation group g form a
// contiguous sequence of group length ceil((L - g) / d) in which the window has dilation 1. A block works in
// one group, addressing its rows at stride d, so every key it loads is in some query's window.
#pragma once

#include "mta_params.h"  // ATTNJIT_HD, mta_ceil_div, mta_max

namespace attnjit {

// One Params struct for the three kernels (forward, query gradient, key/value gradient). (B, H, L, D) tensors.
struct NaParams {
  const void* query;
  const void* key;
  const void* value;
  const void* out;       // backward: the forward's output
  const void* grad_out;
  void* out_write;       // forward: out
  void* grad_query;
  void* grad_key;
  void* grad_value;
  float* logsumexp;      // (B, H, L), natural log; forward writes, backward reads
  float* delta;          // (B, H, L) workspace: rowsum(grad_out * out), written by the query-gradient kernel
  float scale_log2;      // softmax scale * log2(e): scores are kept in base 2
  float scale;
  int batch_heads;       // B * H
  // The warpgroup forward's tensor maps of key and value (CUtensorMap: 128 opaque bytes, 64-byte aligned),
  // where na_forward_wgmma_tma holds: na_tensor_map_shape's box of (D, dilation, B * H * L / dilation).
  alignas(64) unsigned char key_map[128];
  alignas(64) unsigned char value_map[128];
};

enum class NaWindowKind : int { clipped = 0, shifted = 1, causal = 2 };

ATTNJIT_HD constexpr int na_min(int a, int b) { return a < b ? a : b; }

// Length of dilation group g (0 <= g < d) of a sequence of L positions.
ATTNJIT_HD constexpr int na_group_length(int length, int dilation, int g) { return (length - g + dilation - 1) / dilation; }

// The keys [first, last] (group positions) that query t attends in a group of n positions. Both ends are
// non-decreasing in t for every window kind, so the keys of queries [t0, t1] are [first(t0), last(t1)].
struct NaRange {
  int first, last;
};
ATTNJIT_HD constexpr NaRange na_key_range(NaWindowKind window, int kernel, int n, int t) {
  const int half = kernel / 2;
  if (window == NaWindowKind::clipped) return {mta_max(0, t - half), na_min(n - 1, t + half)};
  if (window == NaWindowKind::causal) return {mta_max(0, t - (kernel - 1)), t};
  if (n <= kernel) return {0, n - 1};  // shifted, the group shorter than the window: all of it
  const int start = na_min(mta_max(t - half, 0), n - kernel);
  return {start, start + kernel - 1};
}

// The queries [first, last] whose window holds key s: the inverse of na_key_range, also contiguous and
// non-decreasing in s (the key/value gradient sums over these).
ATTNJIT_HD constexpr NaRange na_query_range(NaWindowKind window, int kernel, int n, int s) {
  const int half = kernel / 2;
  if (window == NaWindowKind::clipped) return {mta_max(0, s - half), na_min(n - 1, s + half)};
  if (window == NaWindowKind::causal) return {s, na_min(n - 1, s + kernel - 1)};
  if (n <= kernel) return {0, n - 1};
  // shifted: start(t) = clamp(t - half, 0, n - kernel) is non-decreasing; t sees s iff
  // start(t) <= s <= start(t) + kernel - 1.
  const int first = s - kernel + 1 <= 0 ? 0 : s - half;
  const int last = s >= n - kernel ? n - 1 : s + half;
  return {first, last};
}

// A query (or key) row is held by `lanes` lanes, each with `vec` elements of the head dimension in groups of 4
// interleaved across the lanes (na_element in na_common.cuh), so a lane reads its part of a staged row as
// 16-byte loads; lanes * vec >= D and the excess is zero.
ATTNJIT_HD constexpr int na_vec(int head_dim, int lanes) { return (mta_ceil_div(head_dim, lanes) + 3) / 4 * 4; }

// Row pitch, in floats, of rows staged in shared memory. A quarter warp's 16-byte loads cover 8 lanes: with 8
// or more lanes per row they read 128 contiguous bytes of one row (conflict-free); with fewer they read
// 8 / lanes consecutive rows, 16 * lanes contiguous bytes each, which are conflict-free when consecutive rows
// start 4 * lanes banks apart.
ATTNJIT_HD constexpr int na_pitch(int head_dim, int lanes) {
  const int width = lanes * na_vec(head_dim, lanes);
  if (lanes >= 8) return width;
  int pitch = width;
  while (pitch % 32 != (4 * lanes) % 32) pitch += 4;
  return pitch;
}

// Shared memory of each kernel, in floats: a chunk of `rows` staged rows of two tensors (forward and query
// gradient: key and value; key/value gradient: query and grad_out), plus two floats per row for the
// key/value gradient (the queries' log-sum-exp and delta).
ATTNJIT_HD constexpr int na_smem_floats(int rows, int head_dim, int lanes, bool per_row_stats) {
  return 2 * rows * na_pitch(head_dim, lanes) + (per_row_stats ? 2 * rows : 0);
}

// The forward on tensor cores (na_forward_mma.cuh, mma.sync m16n8k16, fp32 accumulation): chosen by a config
// with lanes = 0, for f16/bf16 with D a multiple of 16 up to 128 (a warp keeps Q's fragments, 16 x D, and its
// output accumulator, 16 x D fp32, in registers: D / 4 + D / 2 registers). A block is 16 queries per warp;
// key tiles of tile_j keys (a multiple of 16) are staged in T at a pitch of D + 8 elements, which puts the 8
// rows one 32-bit B-fragment load or one ldmatrix reads on distinct banks.
ATTNJIT_HD constexpr bool na_forward_mma_eligible(int elem_bytes, int head_dim) {
  return elem_bytes == 2 && head_dim % 16 == 0 && head_dim <= 128;
}
ATTNJIT_HD constexpr int na_mma_pitch(int head_dim) { return head_dim + 8; }
// The forward on sm_90's warpgroup tensor cores (na_forward_wgmma.cuh, wgmma.mma_async): chosen by a config
// with lanes = kNaWarpgroupLanes (a warpgroup, 128 threads, holds 64 queries), for f16/bf16 with D = 64 or
// 128, on sm_90 only (compiled for sm_90a). tile_i = 16 * warps with warps 4, 8, 12 or 16; key tiles of
// tile_j = 64 or 128 keys, two buffers of keys and values in the 128-byte swizzle from a 1024-byte boundary
// (up to 1 KiB of shared memory to get there), the block's queries in the same swizzle and a 1 KiB atom of
// ones (the B of the row sums' wgmma where the forward sums on tensor cores); the output's way out (rows at
// na_mma_pitch) reuses them after the loop.
constexpr int kNaWarpgroupLanes = 128;
// Where the rows of every (batch, head, dilation group) are one strided sequence of a single 3-D tensor
// (dilation 1, or L a multiple of it: position g + d t of plane bh is row bh L / d + t at coordinate g), the
// warpgroup forward's key and value tiles come by the tensor memory accelerator (templates/tma.cuh): one
// thread requests a tile, an mbarrier says when it has landed, and each warp counts itself done with it, the
// last one requesting the tile two ahead into its buffer; no block-wide barrier per tile, no staging
// instructions in the other threads. Else each thread stages its share with cp.async, a barrier per tile.
ATTNJIT_HD constexpr bool na_forward_wgmma_tma(int length, int dilation) { return length % dilation == 0; }
// The tensor map of key or value for that: dims (innermost first) D, dilation, B * H * L / dilation, in
// elements of 2 bytes; strides of the outer two in bytes; boxes of 64 x 1 x tile_j (one 128-byte column
// block of tile_j rows, which the 128-byte swizzle lays out as wgmma.cuh stages it).
struct NaTensorMapShape {
  unsigned long long dims[3];
  unsigned long long strides[2];
  unsigned box[3];
};
ATTNJIT_HD constexpr NaTensorMapShape na_tensor_map_shape(int batch_heads, int length, int head_dim, int dilation, int tile_j) {
  return {{static_cast<unsigned long long>(head_dim), static_cast<unsigned long long>(dilation),
           static_cast<unsigned long long>(batch_heads) * length / dilation},
          {2ull * head_dim, 2ull * head_dim * dilation},
          {64u, 1u, static_cast<unsigned>(tile_j)}};
}
// Two transaction barriers and two done-counters after the queries.
constexpr int kNaTmaBarrierBytes = 32;
ATTNJIT_HD constexpr bool na_forward_wgmma_eligible(int elem_bytes, int head_dim) {
  return elem_bytes == 2 && (head_dim == 64 || head_dim == 128);
}
ATTNJIT_HD constexpr int na_forward_wgmma_smem_bytes(int tile_j, int head_dim, int warps) {
  return 1024 + 4 * tile_j * head_dim * 2 + 16 * warps * head_dim * 2 + 1024 + kNaTmaBarrierBytes;
}
// The blocks an SM should hold at once (__launch_bounds__' second argument): for the warpgroup forward, 512
// threads' worth (two 8-warp blocks, four 4-warp ones; ptxas then keeps a thread to 128 registers), so that
// blocks whose barriers are independent overlap one's softmax with another's wgmma, but no more than the
// SM's shared memory holds (sm_90: 228 KiB, 1 KiB of it reserved per block; asking for more only cost
// registers: 4-warp blocks at D = 128 spilled); only with 64-key tiles (128-key ones, S and P of two halves
// in registers, spilled at 128 registers and ptxas serialized their wgmma, C7512, at D = 64 and 128 alike).
// Five 4-warp blocks at D = 64 where a block's keys span more than three tiles (kernel_size > 192): a thread
// then has 96 registers, which the forward fits by summing the softmax's rows on the tensor cores
// (na_forward_wgmma.cuh, kSumByMma). H100, bf16, B8 H16 L4096 (bench/results/2026-11-24_H100_db1106c):
// k=257 150.0 -> 146.5 us, dilation 8 137.1 -> 133.6, k=1025 372 -> 349, k=193 134 -> 133; at
// k=129 (three tiles) 114.6 -> 118.7, so four there. 1 for the other forwards.
ATTNJIT_HD constexpr int na_forward_min_blocks(int lanes, int threads, int tile_j, int head_dim, int kernel_size) {
  if (lanes != kNaWarpgroupLanes || threads > 256 || tile_j != 64) return 1;
  const int by_smem = 228 * 1024 / (na_forward_wgmma_smem_bytes(tile_j, head_dim, threads / 32) + 1024);
  const int wanted = threads == 128 && head_dim == 64 && kernel_size > 192 ? 5 : 512 / threads;
  return by_smem < 1 ? 1 : by_smem < wanted ? by_smem : wanted;
}
// The backward on tensor cores (na_backward_mma.cuh): f16/bf16 with D a multiple of 16 up to 64 (the key
// gradient keeps K's and V's fragments and two 16 x D fp32 accumulators in registers). Shared memory: two
// tiles in T, plus the key gradient's log-sum-exp and delta per staged query.
ATTNJIT_HD constexpr bool na_backward_mma_eligible(int elem_bytes, int head_dim) {
  return elem_bytes == 2 && head_dim % 16 == 0 && head_dim <= 64;
}
ATTNJIT_HD constexpr int na_backward_mma_smem_bytes(int tile_j, int head_dim, bool per_row_stats) {
  return 2 * tile_j * na_mma_pitch(head_dim) * 2 + (per_row_stats ? 2 * tile_j * 4 : 0);
}
// Two buffers of tile_j keys and values each (one staged while the other is computed on), and the block's
// 16 * warps queries, 2 bytes each.
ATTNJIT_HD constexpr int na_forward_mma_smem_bytes(int tile_j, int head_dim, int warps) {
  return (4 * tile_j + 16 * warps) * na_mma_pitch(head_dim) * 2;
}

// The fused backward on tensor cores (na_backward_fused.cuh): one kernel for delta and the three gradients,
// f16/bf16 with D a multiple of 16 up to 128. A block owns tile_i rows, which are both queries (their grad_q)
// and keys (their grad_k, grad_v), and stages at once the queries that see its keys (Q, grad_out, log-sum-exp,
// delta, from out) and the keys its queries see (K, V): tile_j rows each, at least na_fused_staged_rows.
ATTNJIT_HD constexpr bool na_backward_fused_eligible(int elem_bytes, int head_dim) {
  return elem_bytes == 2 && head_dim % 16 == 0 && head_dim <= 128;
}
// The most rows either side's range spans for a block of tile_i rows, rounded up to 16: the block plus the
// window's reach past it on both sides (a shifted window reaches kernel - 1 past a row near the borders),
// and never more than the longest dilation group, `longest` positions.
ATTNJIT_HD constexpr int na_fused_staged_rows(NaWindowKind window, int kernel, int tile_i, int longest) {
  const int reach = window == NaWindowKind::shifted ? 2 * (kernel - 1) : kernel - 1;
  const int rows = (tile_i + reach + 15) / 16 * 16, group = (longest + 15) / 16 * 16;
  return rows < group ? rows : group;
}
// Q, grad_out, out, K, V in T; the log-sum-exp and delta per staged query. (A block that worked through a
// strip of tiles, staging the next while computing one in a second buffer, measured 1.4x slower on the H100:
// one block per SM left too few warps; see bench/results/2026-11-23_H100_8d17200.)
ATTNJIT_HD constexpr int na_backward_fused_smem_bytes(int tile_j, int head_dim) {
  return 5 * tile_j * na_mma_pitch(head_dim) * 2 + 2 * tile_j * 4;
}

}  // namespace attnjit
