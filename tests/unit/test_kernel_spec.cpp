// KernelSpec: golden names, canonical() (a kind's unused fields never reach its name or JSON, its used
// ones always do), the JSON round trip, launch shapes, and the heuristic configs.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "attnjit/attnjit.hpp"
#include "generator/kernel_spec.hpp"
#include "tuner/mta_heuristics.hpp"
#include "mta_params.h"
#include "tests/common/mta_grid.hpp"

namespace attnjit {
namespace {

constexpr KernelKind kKinds[] = {KernelKind::mta_row_stats, KernelKind::mta_forward, KernelKind::mta_backward_input,
                                 KernelKind::mta_backward_weight, KernelKind::mta_reduce_weight};

MtaProblem problem(int batch, int cin, int cout, int groups, int length, int kh, int kw, Padding padding) {
  return {.batch = batch, .in_channels = cin, .out_channels = cout, .length = length, .kernel_h = kh,
          .kernel_w = kw, .padding = padding, .groups = groups};
}

// bf16 softmax, B=2 C=16 L=1024, 5x5 "same" padding, depthwise.
MtaProblem bf16_softmax_5x5() {
  return {.batch = 2, .in_channels = 16, .out_channels = 16, .length = 1024, .kernel_h = 5, .kernel_w = 5,
          .padding = Padding::symmetric(2), .groups = 16, .dtype = DType::bf16};
}

// The paper's 6x11 kernel: query axis padded causally (5 above, 0 below), key axis centred; depthwise,
// f16 sparsemax with bias.
MtaProblem paper_6x11_causal() {
  return {.batch = 1, .in_channels = 16, .out_channels = 16, .length = 1024, .kernel_h = 6, .kernel_w = 11,
          .padding = {5, 0, 5, 5}, .groups = 16, .bias = Bias::present, .norm = Norm::sparsemax, .dtype = DType::f16};
}

// Grouped (4 -> 8 channels, 2 groups), every shape field distinct: stride 2x3, dilation 2x1, asymmetric
// padding; out = floor((100+1+2-4-1)/2)+1 = 50 rows, floor((100+0+1-2-1)/3)+1 = 33 columns.
MtaProblem grouped_strided() {
  return {.batch = 3, .in_channels = 4, .out_channels = 8, .length = 100, .kernel_h = 3, .kernel_w = 3,
          .stride_h = 2, .stride_w = 3, .padding = {1, 2, 0, 1}, .dilation_h = 2, .groups = 2, .bias = Bias::present};
}

TEST_SUITE("kernel_spec") {

TEST_CASE("name() of every kind is pinned for three problems (golden strings)") {
  struct Golden {
    MtaProblem problem;
    TileConfig configs[5];  // in kKinds order
    const char* names[5];
  };
  const Golden goldens[] = {
      {bf16_softmax_5x5(),
       {{0, 0, 8, 0}, {32, 32, 8, 1}, {16, 32, 8, 0}, {16, 32, 8, 0}, {16, 32, 8, 0}},
       {"mta_stats_bf16_softmax_L1024_w8",
        "mta_fwd_bf16_softmax_L1024_c16x16_g16_k5x5_s1x1_d1x1_p2x2_o1024x1024_t32x32_w8_oc1",
        "mta_bwd_input_bf16_softmax_L1024_c16x16_g16_k5x5_s1x1_d1x1_p2x2_o1024x1024_t16x32_w8",
        "mta_bwd_weight_bf16_softmax_L1024_c16x16_g16_k5x5_s1x1_d1x1_p2x2_o1024x1024_t16x32_w8",
        "mta_reduce_weight_bf16_c16x16_g16_k5x5_w8"}},
      {paper_6x11_causal(),
       {{0, 0, 4, 0}, {16, 32, 4, 1}, {8, 32, 4, 0}, {8, 16, 2, 0}, {8, 16, 2, 0}},
       {"mta_stats_f16_sparsemax_L1024_w4",
        "mta_fwd_f16_sparsemax_L1024_c16x16_g16_k6x11_s1x1_d1x1_p5x5_o1024x1024_bias_t16x32_w4_oc1",
        "mta_bwd_input_f16_sparsemax_L1024_c16x16_g16_k6x11_s1x1_d1x1_p5x5_o1024x1024_bias_t8x32_w4",
        "mta_bwd_weight_f16_sparsemax_L1024_c16x16_g16_k6x11_s1x1_d1x1_p5x5_o1024x1024_t8x16_w2",
        "mta_reduce_weight_f16_c16x16_g16_k6x11_bias_w2"}},
      {grouped_strided(),
       {{0, 0, 2, 0}, {16, 8, 4, 2}, {16, 32, 8, 0}, {16, 8, 4, 0}, {16, 8, 4, 0}},
       {"mta_stats_f32_softmax_L100_w2",
        "mta_fwd_f32_softmax_L100_c4x8_g2_k3x3_s2x3_d2x1_p1x0_o50x33_bias_t16x8_w4_oc2",
        "mta_bwd_input_f32_softmax_L100_c4x8_g2_k3x3_s2x3_d2x1_p1x0_o50x33_bias_t16x32_w8",
        "mta_bwd_weight_f32_softmax_L100_c4x8_g2_k3x3_s2x3_d2x1_p1x0_o50x33_t16x8_w4",
        "mta_reduce_weight_f32_c4x8_g2_k3x3_bias_w4"}},
  };
  for (const Golden& g : goldens) {
    for (int k = 0; k < 5; ++k) CHECK(name(mta_kernel_spec(kKinds[k], g.problem, g.configs[k])) == g.names[k]);
  }
}

// One mutation per field; a kind's spec must see exactly the fields its template reads.
struct Field {
  const char* name;
  void (*mutate)(KernelSpec&);
};
#define ATTNJIT_ADD7(field) [](KernelSpec& s) { s.field += 7; }
const Field kFields[] = {
    {"dtype", [](KernelSpec& s) { s.dtype = s.dtype == DType::f16 ? DType::bf16 : DType::f16; }},
    {"norm", [](KernelSpec& s) { s.norm = s.norm == Norm::softmax ? Norm::sparsemax : Norm::softmax; }},
    {"bias", [](KernelSpec& s) { s.bias = s.bias == Bias::none ? Bias::present : Bias::none; }},
    {"length", ATTNJIT_ADD7(length)},         {"cin_per_group", ATTNJIT_ADD7(cin_per_group)},
    {"cout_per_group", ATTNJIT_ADD7(cout_per_group)}, {"groups", ATTNJIT_ADD7(groups)},
    {"kernel_h", ATTNJIT_ADD7(kernel_h)},     {"kernel_w", ATTNJIT_ADD7(kernel_w)},
    {"stride_h", ATTNJIT_ADD7(stride_h)},     {"stride_w", ATTNJIT_ADD7(stride_w)},
    {"pad_top", ATTNJIT_ADD7(pad_top)},       {"pad_left", ATTNJIT_ADD7(pad_left)},
    {"dilation_h", ATTNJIT_ADD7(dilation_h)}, {"dilation_w", ATTNJIT_ADD7(dilation_w)},
    {"out_h", ATTNJIT_ADD7(out_h)},           {"out_w", ATTNJIT_ADD7(out_w)},
    {"tile_i", ATTNJIT_ADD7(config.tile_i)},  {"tile_j", ATTNJIT_ADD7(config.tile_j)},
    {"warps", ATTNJIT_ADD7(config.warps)},    {"oc_tile", ATTNJIT_ADD7(config.oc_tile)},
};
#undef ATTNJIT_ADD7

// The fields each kind's template reads (templates/*.cuh: Cfg::k... and T), for grouped_strided(): its
// input-gradient kernel computes the weight gradient too (4 x 3 x 3 taps), so it reads the bias flag.
std::set<std::string> used_fields(KernelKind kind) {
  const std::set<std::string> all_but_bias_oc = {
      "dtype",    "norm",     "length",   "cin_per_group", "cout_per_group", "groups",     "kernel_h",
      "kernel_w", "stride_h", "stride_w", "pad_top",       "pad_left",       "dilation_h", "dilation_w",
      "out_h",    "out_w",    "tile_i",   "tile_j",        "warps"};
  switch (kind) {
    case KernelKind::mta_row_stats: return {"dtype", "norm", "length", "warps"};
    case KernelKind::mta_forward: {
      std::set<std::string> all = all_but_bias_oc;
      all.insert({"bias", "oc_tile"});
      return all;
    }
    case KernelKind::mta_backward_input: {
      std::set<std::string> all = all_but_bias_oc;
      all.insert("bias");
      return all;
    }
    case KernelKind::mta_backward_weight: return all_but_bias_oc;
    case KernelKind::mta_reduce_weight:
      return {"dtype", "cin_per_group", "cout_per_group", "groups", "kernel_h", "kernel_w", "bias", "warps"};
  }
  return {};
}

TEST_CASE("canonical(): unused fields change neither name nor to_json, each used field changes both") {
  for (KernelKind kind : kKinds) {
    const KernelSpec base = mta_kernel_spec(kind, grouped_strided(), TileConfig{16, 8, 4, 2});
    CHECK(canonical(base) == base);  // mta_kernel_spec returns canonical specs
    const std::set<std::string> used = used_fields(kind);
    for (const Field& field : kFields) {
      INFO(to_string(kind), " field ", field.name);
      KernelSpec changed = base;
      field.mutate(changed);
      if (used.count(field.name) != 0) {
        CHECK(name(changed) != name(base));
        CHECK(to_json(changed) != to_json(base));
        KernelSpec expected = changed;  // more taps than the fused weight gradient holds: the bias flag goes
        if (kind == KernelKind::mta_backward_input &&
            !mta_fuses_weight_grad(changed.cout_per_group, changed.kernel_h, changed.kernel_w)) {
          expected.bias = Bias::none;
        }
        CHECK(canonical(changed) == expected);
      } else {
        CHECK(name(changed) == name(base));
        CHECK(to_json(changed) == to_json(base));
        CHECK(canonical(changed) == base);
      }
    }
  }
}

TEST_CASE("to_json/spec_from_json round trip every kind; to_json has sorted keys and no whitespace") {
  for (const MtaProblem& p : {bf16_softmax_5x5(), paper_6x11_causal(), grouped_strided()}) {
    for (KernelKind kind : kKinds) {
      const KernelSpec spec = mta_kernel_spec(kind, p, TileConfig{16, 8, 4, 2});
      const std::string json = to_json(spec);
      INFO(json);
      CHECK(spec_from_json(json) == spec);
      CHECK(json.find_first_of(" \t\n\r") == std::string::npos);
      const auto ordered = nlohmann::ordered_json::parse(json);  // keeps the text's key order
      std::vector<std::string> keys;
      for (const auto& item : ordered.items()) keys.push_back(item.key());
      CHECK(keys.size() == 22);
      CHECK(std::is_sorted(keys.begin(), keys.end()));
    }
  }
  // A non-canonical spec reads back canonical.
  KernelSpec loose = mta_kernel_spec(KernelKind::mta_row_stats, grouped_strided(), TileConfig{16, 8, 4, 2});
  loose.kernel_h = 9;
  loose.config.tile_i = 32;
  CHECK(spec_from_json(to_json(loose)) == canonical(loose));
  // The forward JSON of the grouped problem, pinned: it is hashed into every key through the source.
  CHECK(to_json(mta_kernel_spec(KernelKind::mta_forward, grouped_strided(), TileConfig{16, 8, 4, 2})) ==
        R"({"bias":true,"cin_per_group":2,"cout_per_group":4,"dilation_h":2,"dilation_w":1,"dtype":"f32",)"
        R"("groups":2,"kernel_h":3,"kernel_w":3,"kind":"mta_fwd","length":100,"norm":"softmax","oc_tile":2,)"
        R"("out_h":50,"out_w":33,"pad_left":0,"pad_top":1,"stride_h":2,"stride_w":3,"tile_i":16,"tile_j":8,"warps":4})");
}

TEST_CASE("spec_from_json rejects an unknown kind with invalid_argument naming it") {
  std::string json = to_json(mta_kernel_spec(KernelKind::mta_forward, grouped_strided(), TileConfig{16, 8, 4, 2}));
  json.replace(json.find("mta_fwd"), 7, "mta_foo");
  try {
    spec_from_json(json);
    FAIL("no exception");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::invalid_argument);
    CHECK(std::string(e.what()).find("mta_foo") != std::string::npos);
  }
}

TEST_CASE("launch_shape matches hand-computed grids, threads and shared memory") {
  const MtaProblem p = grouped_strided();  // B=3, C_in=4, C_out=8, groups 2, out 50x33
  // forward, tile 16x8, 4 warps, oc_tile 2: grid = (ceil(50/16)*ceil(33/8), 2 groups * 4/2 chunks, B);
  // patch = (15*2 + 2*2 + 1) x (7*3 + 2*1 + 1) = 35 x 24, stored at a row pitch (below).
  const LaunchShape fwd = launch_shape(mta_kernel_spec(KernelKind::mta_forward, p, {16, 8, 4, 2}), p);
  CHECK(fwd.grid_x == 4 * 5);
  CHECK(fwd.grid_y == 4);
  CHECK(fwd.grid_z == 3);
  CHECK(fwd.threads == 128);
  // Patch rows are stored at a pitch of whole 16-byte groups (24 floats already is).
  CHECK(fwd.smem_bytes == 4 * (35 * 24 + 2 * 3 * 3));
  // row stats: one warp per row, 2 rows per block of 2 warps: ceil(B*C_in*L / 2).
  const LaunchShape stats = launch_shape(mta_kernel_spec(KernelKind::mta_row_stats, p, {0, 0, 2, 0}), p);
  CHECK(stats.grid_x == 3 * 4 * 100 / 2);
  const LaunchShape stats3 = launch_shape(mta_kernel_spec(KernelKind::mta_row_stats, p, {0, 0, 7, 0}), p);
  CHECK(stats3.grid_x == (3 * 4 * 100 + 6) / 7);  // a partial last block
  CHECK(stats.threads == 64);
  CHECK(stats.smem_bytes == 0);
  // input gradient: B*C_in*ceil(L/16) strips; smem = 4*(weights C_out/g*Kh*Kw + grad patches
  // C_out/g*(16 + (3-1)*2)*(32 + (3-1)*1) + run partials 16*32/4 + row totals 2*16).
  const LaunchShape bi = launch_shape(mta_kernel_spec(KernelKind::mta_backward_input, p, {16, 32, 8, 0}), p);
  CHECK(bi.grid_x == 3 * 4 * 7);
  CHECK(bi.threads == 256);
  CHECK(bi.smem_bytes == 4 * (4 * 9 + 4 * 20 * 36 + 16 * 8 + 2 * 16));  // grad patch pitch 34 -> 36
  // weight partials: B*C_out*C_in/g*ceil(50/16); smem = 4*max(patch 35x24, warps*(taps+1)).
  const LaunchShape bw = launch_shape(mta_kernel_spec(KernelKind::mta_backward_weight, p, {16, 8, 4, 0}), p);
  CHECK(bw.grid_x == 3 * 8 * 2 * 4);
  CHECK(bw.smem_bytes == 4 * 35 * 24);
  // reduction: C_out*C_in/g*Kh*Kw + C_out = 152 outputs over 128 threads.
  const LaunchShape red = launch_shape(mta_kernel_spec(KernelKind::mta_reduce_weight, p, {16, 8, 4, 0}), p);
  CHECK(red.grid_x == 2);
  CHECK(red.threads == 128);
}

TEST_CASE("next_pow2 values") {
  const std::pair<int, int> expected[] = {{0, 1}, {1, 1}, {2, 2}, {3, 4}, {5, 8}, {33, 64}, {1024, 1024}, {1025, 2048}};
  for (auto [n, pow2] : expected) CHECK_MESSAGE(next_pow2(n) == pow2, n);
}

TEST_CASE("heuristic_warps: 4, then 8 from a block of 2048, 16 from 8192, 32 from 32768, no upper limit") {
  const std::pair<int, int> expected[] = {{1, 4},      {512, 4},     {2047, 4},     {2048, 8},       {8191, 8},
                                          {8192, 16},  {32767, 16},  {32768, 32},   {1 << 20, 32},   {1 << 30, 32}};
  for (auto [positions, warps] : expected) CHECK_MESSAGE(heuristic_warps(positions) == warps, positions);
}

TEST_CASE("heuristics: L -> tiles and warps table for a 3x3 'same' depthwise problem") {
  struct Row {
    int length, stats_warps, fwd_tile_i, fwd_tile_j, fwd_warps, bi_strip, bi_sweep, bi_warps, bw_tile_i, bw_tile_j,
        bw_warps;
  };
  const Row rows[] = {
      // row stats: a warp per row, always 8 rows (warps) per block
      // forward: min(32, np2) x min(64, np2); input gradient: strip min(16, np2), sweep min(64, np2);
      // weight gradient min(16, np2) x min(32, np2); warps by heuristic_warps(runs of 4, or outputs), except
      // the fp32 depthwise input gradient from L = 64 with 16-byte grad_out rows (L % 4 == 0): 8 warps
      {1, 8, 1, 1, 4, 1, 1, 4, 1, 1, 4},          {3, 8, 4, 4, 4, 4, 4, 4, 4, 4, 4},
      {5, 8, 8, 8, 4, 8, 8, 4, 8, 8, 4},          {20, 8, 32, 32, 4, 16, 32, 4, 16, 32, 4},
      {64, 8, 32, 64, 4, 16, 64, 8, 16, 32, 4},   {100, 8, 32, 64, 4, 16, 64, 8, 16, 32, 4},
      {4096, 8, 32, 64, 4, 16, 64, 8, 16, 32, 4}, {4097, 8, 32, 64, 4, 16, 64, 4, 16, 32, 4},
  };
  for (const Row& r : rows) {
    INFO("L=", r.length);
    const MtaConfigs c = mta_heuristic_configs(problem(1, 2, 2, 2, r.length, 3, 3, Padding::symmetric(1)));
    CHECK(c.row_stats.warps == r.stats_warps);
    CHECK((c.forward == TileConfig{r.fwd_tile_i, r.fwd_tile_j, r.fwd_warps, 1}));
    CHECK((c.backward_input == TileConfig{r.bi_strip, r.bi_sweep, r.bi_warps, 0}));
    CHECK((c.backward_weight == TileConfig{r.bw_tile_i, r.bw_tile_j, r.bw_warps, 0}));
  }
}

TEST_CASE("heuristics: channel mixing on CUDA cores (f32) with 16+ output channels per group and 25+ taps takes a 16 x 32 input gradient by 8 warps within 99 KiB") {
  constexpr unsigned kSm86OptIn = 101376;
  const TileConfig mixing{16, 32, 8, 0};
  struct Case {
    int cin, cout, groups, k, stride;
    bool expect_mixing;
  };
  const Case cases[] = {
      {16, 16, 1, 7, 1, true},    // the benchmark's groups=1 K7: 56 KiB, past the 48 KiB of the generic rule
      {16, 16, 1, 11, 1, true},   // 11 x 11: still within 99 KiB
      {16, 16, 1, 21, 1, false},  // 21 x 21: its patch of 16 channels would not fit 99 KiB; the generic rule
      {16, 16, 1, 3, 1, false},   // 9 taps
      {8, 8, 1, 7, 1, false},     // 8 output channels per group
      {32, 32, 2, 5, 1, true},    // 16 per group, 25 taps
      {16, 16, 1, 7, 2, false},   // stride 2
  };
  for (const Case& c : cases) {
    MtaProblem p = problem(1, c.cin, c.cout, c.groups, 2048, c.k, c.k, Padding::symmetric((c.k - 1) / 2));
    p.dtype = DType::f32;  // (f16/bf16 with whole planes of 8 channels run on tensor cores: the test below)
    p.stride_h = p.stride_w = c.stride;
    INFO(describe(p));
    const TileConfig bi = mta_heuristic_configs(p).backward_input;
    CHECK((bi == mixing) == c.expect_mixing);
    if (c.expect_mixing) {  // (the generic rule's budget is the test below)
      CHECK(launch_shape(mta_kernel_spec(KernelKind::mta_backward_input, p, bi), p).smem_bytes <= kSm86OptIn);
    }
  }
}

TEST_CASE("heuristics: the channel-mixing input gradient in f16/bf16 at stride 1 runs on tensor cores, 8 x 64 by 8 warps, narrower to fit") {
  struct Case {
    int cin, cout, groups, k, stride, tile_j;  // tile_j 0: not on tensor cores
  };
  const Case cases[] = {
      {16, 16, 1, 7, 1, 64},   // the benchmark's groups=1 K7: 57 KiB
      {16, 16, 1, 11, 1, 32},  // 11 x 11: its filters take 62 KiB, so 8 x 32
      {16, 16, 1, 21, 1, 0},   // 21 x 21: the filters alone pass the limit
      {16, 16, 1, 3, 1, 64},   // 16 x 9 = 144 taps: a weight gradient of its own
      {8, 8, 1, 7, 1, 64},     // 8 channels: one n-tile
      {32, 32, 2, 5, 1, 64},   // 16 a group
      {16, 16, 1, 7, 2, 0},    // stride 2
      {12, 12, 1, 7, 1, 0},    // 12 channels: not whole planes of 8
      {16, 4, 4, 7, 1, 0},     // 1 output channel a group: the weight gradient is fused (CUDA cores)
  };
  for (const Case& c : cases) {
    MtaProblem p = problem(1, c.cin, c.cout, c.groups, 2048, c.k, c.k, Padding::symmetric((c.k - 1) / 2));
    p.dtype = DType::bf16;
    p.stride_h = p.stride_w = c.stride;
    INFO(describe(p));
    const TileConfig bi = mta_heuristic_configs(p).backward_input;
    const KernelSpec spec = mta_kernel_spec(KernelKind::mta_backward_input, p, bi);
    CHECK(mta_backward_input_on_mma(spec) == (c.tile_j != 0));
    if (c.tile_j != 0) {
      CHECK((bi == TileConfig{8, c.tile_j, 8, 0}));
      CHECK(launch_shape(spec, p).grid_x == static_cast<unsigned>(p.groups * 128));  // B * groups * 256 strips / 2
      CHECK(launch_shape(spec, p).smem_bytes <= static_cast<unsigned>(kMtaMmaSmemLimit));
    }
  }
  // Configs: a warp's m-tiles must be whole rows of the tile (8 x 64 by 16 warps gives each 2 of a row's 4),
  // and shared memory within the limit with the staged scores (16 x 64 and 32 x 32: 112 KiB).
  MtaProblem p = problem(2, 16, 16, 1, 2048, 7, 7, Padding::symmetric(3));
  p.dtype = DType::bf16;
  CHECK(mta_backward_input_on_mma(mta_kernel_spec(KernelKind::mta_backward_input, p, {16, 32, 8, 0})));
  CHECK_FALSE(mta_backward_input_on_mma(mta_kernel_spec(KernelKind::mta_backward_input, p, {16, 64, 8, 0})));  // 112 KiB
  CHECK_FALSE(mta_backward_input_on_mma(mta_kernel_spec(KernelKind::mta_backward_input, p, {32, 32, 8, 0})));  // 112 KiB
  CHECK_FALSE(mta_backward_input_on_mma(mta_kernel_spec(KernelKind::mta_backward_input, p, {8, 64, 16, 0})));
  CHECK_FALSE(mta_backward_input_on_mma(mta_kernel_spec(KernelKind::mta_backward_input, p, {8, 24, 4, 0})));
  CHECK(launch_shape(mta_kernel_spec(KernelKind::mta_backward_input, p, {16, 32, 8, 0}), p).grid_x == 2u * 64);
}

TEST_CASE("heuristics: tiles within next_pow2 of the extent; forward, input- and weight-gradient smem <= 48 KiB whenever a 1x1 tile fits") {
  constexpr unsigned kBudget = 48 * 1024;
  int shrunk = 0;
  for (int length : {7, 64, 333, 1024}) {
    for (int k : {1, 3, 5, 11}) {
      for (int stride : {1, 2, 8}) {
        for (int dilation : {1, 4, 8, 12}) {
          MtaProblem p = problem(1, 4, 4, 1, length, k, k, Padding::symmetric(dilation * (k - 1) / 2));
          p.stride_h = p.stride_w = stride;
          p.dilation_h = p.dilation_w = dilation;
          if (p.out_h() < 1) continue;
          INFO(describe(p));
          const MtaConfigs c = mta_heuristic_configs(p);
          for (const TileConfig& t : {c.forward, c.backward_weight}) {
            CHECK(t.tile_i >= 1);
            CHECK(t.tile_j >= 1);
            CHECK(t.tile_i <= next_pow2(p.out_h()));
            CHECK(t.tile_j <= next_pow2(p.out_w()));
          }
          CHECK(c.backward_input.tile_i <= next_pow2(length));
          CHECK(c.backward_input.tile_j <= next_pow2(length));
          const MtaKernelSpecs specs = mta_kernel_specs(p, c);
          const int patch1 = (k - 1) * dilation + 1;  // the patch of a 1x1 tile
          if (4 * (patch1 * patch1 + c.forward.oc_tile * k * k) <= static_cast<int>(kBudget)) {
            CHECK(launch_shape(specs.forward, p).smem_bytes <= kBudget);
            CHECK(launch_shape(specs.backward_weight, p).smem_bytes <= kBudget);
          } else {
            CHECK((c.forward == TileConfig{1, 1, 4, c.forward.oc_tile}));  // did all it could
          }
          if (4 * mta_backward_input_smem_floats(4, k, k, dilation, dilation, 1, 1, 1) <= static_cast<int>(kBudget)) {
            CHECK(launch_shape(specs.backward_input, p).smem_bytes <= kBudget);
          } else {
            CHECK((c.backward_input == TileConfig{1, 1, 4, 0}));
          }
          if (c.forward.tile_i * c.forward.tile_j < std::min(32, next_pow2(p.out_h())) * std::min(32, next_pow2(p.out_w()))) {
            ++shrunk;
          }
        }
      }
    }
  }
  CHECK(shrunk > 10);  // the sweep does exercise the shrinking
}

TEST_CASE("heuristics: oc_tile is the largest divisor of C_out/groups up to 8") {
  const std::pair<int, int> expected[] = {{1, 1}, {2, 2}, {7, 7}, {8, 8}, {9, 3}, {11, 1}, {12, 6}, {16, 8}, {40, 8}};
  for (auto [cout_per_group, oc_tile] : expected) {
    INFO("C_out/groups=", cout_per_group);
    const MtaConfigs c = mta_heuristic_configs(problem(1, 2, 2 * cout_per_group, 2, 64, 3, 3, Padding::symmetric(1)));
    CHECK(c.forward.oc_tile == oc_tile);
    CHECK(cout_per_group % c.forward.oc_tile == 0);
  }
}

TEST_CASE("mta_workspace_bytes = 4 * B * strips * C_out * (C_in/g*Kh*Kw + 1); strips of the kernel writing them") {
  // C_out/g * Kh * Kw = 4 * 9 = 36 taps: the input-gradient kernel writes the partials, one slot per
  // (batch, strip of its tile_i rows of L = 100).
  const MtaProblem p = grouped_strided();
  CHECK(mta_weight_grad_fused(p));
  MtaConfigs c;
  c.backward_input = {16, 64, 8, 0};  // ceil(100/16) = 7 strips
  c.backward_weight = {16, 8, 4, 0};  // ignored when fused
  CHECK(mta_weight_slots(p, c) == 3 * 7);
  CHECK(mta_workspace_bytes(p, c) == 4u * 3 * 7 * 8 * (2 * 3 * 3 + 1));
  c.backward_input.tile_i = 100;  // 1 strip
  CHECK(mta_workspace_bytes(p, c) == 4u * 3 * 1 * 8 * (2 * 3 * 3 + 1));
  const MtaProblem a = bf16_softmax_5x5();  // heuristic strip of 8 rows over 1024: 128 strips
  CHECK(mta_workspace_bytes(a, mta_heuristic_configs(a)) == 4u * 2 * 128 * 16 * (1 * 5 * 5 + 1));

  // 9 output channels per group x 3 x 3 = 81 taps > 72: a separate weight kernel, strips of out_h.
  MtaProblem wide = grouped_strided();
  wide.out_channels = 18;
  CHECK_FALSE(mta_weight_grad_fused(wide));
  c.backward_weight = {16, 8, 4, 0};  // out_h 50: 4 strips
  CHECK(mta_weight_slots(wide, c) == 3 * 4);
  CHECK(mta_workspace_bytes(wide, c) == 4u * 3 * 4 * 18 * (2 * 3 * 3 + 1));
}

TEST_CASE("the channel-mixing weight gradient on tensor cores: its decision, launch shape and slots") {
  // bf16 groups=1, 16 channels, L = 2048, 7 x 7 "same": the benchmark's groups=1 shape.
  MtaProblem p = problem(2, 16, 16, 1, 2048, 7, 7, Padding::symmetric(3));
  p.dtype = DType::bf16;
  const MtaConfigs c = mta_heuristic_configs(p);
  CHECK((c.backward_weight == TileConfig{16, 64, 8, 0}));  // 16 input channels: two planes a unit, 8 warps
  const KernelSpec spec = mta_kernel_spec(KernelKind::mta_backward_weight, p, c.backward_weight);
  REQUIRE(mta_backward_weight_on_tensor_cores(spec));
  // Causal tiles of 16 x 64: strip s reaches column 16 s + 15, so it has s / 4 + 1 tiles; 128 strips.
  int items = 0;
  for (int s = 0; s < 128; ++s) items += s / 4 + 1;
  CHECK(mta_weight_mma_items(2048, 2048, 16, 64) == items);
  // 256 blocks in all: 128 per batch element, one output-channel tile of 16.
  const LaunchShape shape = launch_shape(spec, p);
  CHECK(shape.grid_x == 128);
  CHECK(shape.grid_y == 1);
  CHECK(shape.grid_z == 2);
  CHECK(shape.smem_bytes == 2 * 16 * 22 * 70 + 2 * 16 * 16 * 64);  // the patch and grad_out, in planes of 8
  CHECK(mta_weight_slots(p, c) == 2 * 128);
  CHECK(mta_workspace_bytes(p, c) == 4u * 2 * 128 * 16 * (16 * 49 + 1));

  // Two groups of 8 output channels: m-tiles of 8, one output-channel block a group.
  MtaProblem g2 = p;
  g2.groups = 2;
  const KernelSpec spec2 = mta_kernel_spec(KernelKind::mta_backward_weight, g2, mta_heuristic_configs(g2).backward_weight);
  CHECK(mta_backward_weight_on_tensor_cores(spec2));
  CHECK(spec2.config.warps == 16);  // 8 input channels a group: one plane a unit, 16 warps
  CHECK(launch_shape(spec2, g2).grid_y == 2);
  CHECK(launch_shape(spec2, g2).grid_x == 64);
  // fp32, input channels per group not a multiple of 8, or tiles not of whole 16-column k-steps: CUDA cores.
  MtaProblem f32 = p;
  f32.dtype = DType::f32;
  CHECK_FALSE(mta_backward_weight_on_tensor_cores(
      mta_kernel_spec(KernelKind::mta_backward_weight, f32, mta_heuristic_configs(f32).backward_weight)));
  MtaProblem odd = p;
  odd.in_channels = 12;
  odd.groups = 1;
  CHECK_FALSE(mta_backward_weight_on_tensor_cores(
      mta_kernel_spec(KernelKind::mta_backward_weight, odd, mta_heuristic_configs(odd).backward_weight)));
  CHECK_FALSE(mta_backward_weight_on_tensor_cores(mta_kernel_spec(KernelKind::mta_backward_weight, p, {16, 8, 8, 0})));
  // The gpu suite's grid reaches the path, with runs of more than one tile in the case meant for it.
  int mma_cases = 0;
  for (const auto& g : testing::mta_grid()) {
    if (mta_weight_grad_fused(g.problem)) continue;
    const KernelSpec w =
        mta_kernel_spec(KernelKind::mta_backward_weight, g.problem, mta_heuristic_configs(g.problem).backward_weight);
    if (!mta_backward_weight_on_tensor_cores(w)) continue;
    ++mma_cases;
    if (g.label.find("weight gradient in runs") != std::string::npos) {
      CHECK(mta_weight_mma_items(w.out_h, w.out_w, w.config.tile_i, w.config.tile_j) >
            mta_backward_weight_mma_blocks(w, g.problem.batch));
    }
  }
  CHECK(mma_cases >= 2);
  MESSAGE(mma_cases << " gpu-suite cases compute the weight gradient on tensor cores");
}

TEST_CASE("apply_config_overrides pins the named kernels' configs and rejects what the kernels cannot run") {
  const MtaProblem p = bf16_softmax_5x5();
  MtaConfigs c = mta_heuristic_configs(p);
  const MtaConfigs heuristic = c;
  apply_config_overrides(c, p, "backward_input=16x128x8,row_stats=4,forward=16x32x4x1");
  CHECK((c.backward_input == TileConfig{16, 128, 8, 0}));
  CHECK(c.row_stats.warps == 4);
  CHECK((c.forward == TileConfig{16, 32, 4, 1}));
  CHECK(c.backward_weight == heuristic.backward_weight);  // not named: unchanged
  for (const char* bad : {"forward=32x32x8", "forward=32x32x8x3", "backward_input=16x100x8", "backward_input=16x64x64",
                          "row_stats=0", "sideways=1x1x1", "forward=32xx8x1"}) {
    INFO(bad);
    MtaConfigs d = heuristic;
    try {
      apply_config_overrides(d, p, bad);
      FAIL("accepted");
    } catch (const Error& e) {
      CHECK(e.code() == ErrorCode::invalid_argument);
      CHECK(std::string(e.what()).find(bad) != std::string::npos);  // names the pin it rejects
    }
  }
}

TEST_CASE("heuristics: depthwise f16/bf16 runs the forward on tensor cores (the band path), f32 on CUDA cores") {
  MtaProblem dw = bf16_softmax_5x5();
  const MtaConfigs c = mta_heuristic_configs(dw);
  CHECK((c.forward == TileConfig{64, 128, 4, 1}));  // eight 16 x 64 warp tiles, two per warp
  const KernelSpec spec = mta_kernel_spec(KernelKind::mta_forward, dw, c.forward);
  CHECK(mta_forward_path(spec) == MtaForwardPath::depthwise_band_mma);
  // K5, pad 2: the patch starts 8 columns left of the tile, the first tap 6 into it; 6 + 7 + 4 + 1 = 18
  // columns per n-tile, two k-steps; strips 7 + 4 = 11; 8 + 11 strips wide (pitch 152, odd in 16-byte
  // groups); 68 rows; the table of pairs 5 rows x (32 + 7 + 6), rounded to 16 bytes; 4 warps' output rows,
  // 16 x (64 + 8).
  CHECK(mta_band_offset(2) == 6);
  CHECK(mta_band_ksteps(5, 1, 1, 2) == 2);
  CHECK(mta_band_patch_w(128, 5, 1, 1, 2) == 152);
  CHECK(launch_shape(spec, dw).smem_bytes == 2u * 68 * 152 + 912u + 2u * 4 * 16 * 72);
  CHECK(mta_band_reads_strip(9, 1, 8, 2));        // n-tile 7, k-step 1
  CHECK_FALSE(mta_band_reads_strip(3, 2, 8, 2));  // stride 2: even strips only
  dw.kernel_h = 6;  // the paper's 6x11, causal query axis
  dw.kernel_w = 11;
  dw.padding = {5, 0, 5, 5};
  CHECK(mta_forward_path(mta_kernel_spec(KernelKind::mta_forward, dw, mta_heuristic_configs(dw).forward)) ==
        MtaForwardPath::depthwise_band_mma);
  dw.kernel_w = 21;  // 3 + 7 + 20 + 1 = 31 columns: still two k-steps
  dw.padding = {5, 0, 13, 13};
  CHECK(mta_band_ksteps(21, 1, 1, 13) == 2);
  CHECK(mta_band_ksteps(21, 1, 1, 10) == 3);  // the first tap 6 columns in: 34
  CHECK(mta_forward_path(mta_kernel_spec(KernelKind::mta_forward, dw, mta_heuristic_configs(dw).forward)) ==
        MtaForwardPath::depthwise_band_mma);
  dw.stride_w = 3;  // 7 * 3 more columns per n-tile: three k-steps, the CUDA-core path
  CHECK(mta_forward_path(mta_kernel_spec(KernelKind::mta_forward, dw, mta_heuristic_configs(dw).forward)) ==
        MtaForwardPath::cuda_cores);
  dw = bf16_softmax_5x5();
  dw.dtype = DType::f32;
  CHECK(mta_forward_path(mta_kernel_spec(KernelKind::mta_forward, dw, mta_heuristic_configs(dw).forward)) ==
        MtaForwardPath::cuda_cores);
}

TEST_CASE("heuristics: depthwise f16/bf16 at stride 1 computes the input gradient's dP on tensor cores past 32 taps") {
  MtaProblem dw = bf16_softmax_5x5();
  CHECK((mta_heuristic_configs(dw).backward_input == TileConfig{8, 128, 8, 0}));  // 25 taps: CUDA cores
  CHECK_FALSE(mta_backward_input_on_tensor_cores(
      mta_kernel_spec(KernelKind::mta_backward_input, dw, mta_heuristic_configs(dw).backward_input)));
  dw.kernel_h = dw.kernel_w = 7;  // 49 taps: the band path
  dw.padding = Padding::symmetric(3);
  const MtaConfigs c = mta_heuristic_configs(dw);
  CHECK((c.backward_input == TileConfig{16, 64, 4, 0}));
  const KernelSpec spec = mta_kernel_spec(KernelKind::mta_backward_input, dw, c.backward_input);
  CHECK(mta_backward_input_on_tensor_cores(spec));
  // K7, pad 3: the taps reach 6 - 3 = 3 columns left of dP's column (the lead); the patch starts at a
  // multiple of 8 columns, the first tap 5 into it: 5 + 7 + 6 + 1 = 19 columns per n-tile, two k-steps.
  // Four warps over 16 x 64: warp tiles of 16 x 16 (2 n-tiles), the patch 8 * (6 + 1 + 4) = 88 columns
  // (odd in 16-byte groups), 22 rows; the weight sums (4 warps x 49 floats) fit in its 3872 bytes; the
  // table 7 x (32 + 7 + 5) pairs rounded to 16 bytes; dP 16 x (64 + 8) floats; 16 x 16 run partials; 2 x 16
  // row totals.
  CHECK(mta_backward_band_lead(7, 1, 3) == 3);
  CHECK(mta_band_ksteps(7, 1, 1, 3) == 2);
  CHECK(mta_backward_band_ntiles(16, 64, 4) == 2);
  CHECK(mta_backward_band_ntiles(16, 64, 8) == 1);
  CHECK(mta_backward_band_ntiles(32, 64, 4) == 4);
  CHECK(mta_backward_band_ntiles(64, 64, 4) == 8);
  CHECK(mta_band_patch_w_of(64, 2, 7, 1, 1, 3) == 88);
  CHECK(launch_shape(spec, dw).smem_bytes == 2u * 22 * 88 + 1232u + 4u * 16 * 72 + 4u * 16 * 16 + 4u * 2 * 16);
  // The band path by config: K5 in 16 x 64 strips. Not on tensor cores: f32, stride 2, two output channels
  // per group (the band is one filter), 8-row strips, causal key padding past the taps (a negative lead:
  // the patch would start right of dP's column).
  dw = bf16_softmax_5x5();
  CHECK(mta_backward_input_on_tensor_cores(mta_kernel_spec(KernelKind::mta_backward_input, dw, {16, 64, 8, 0})));
  const TileConfig band_tiles{16, 64, 8, 0};
  MtaProblem p = dw;
  p.dtype = DType::f32;
  CHECK_FALSE(mta_backward_input_on_tensor_cores(mta_kernel_spec(KernelKind::mta_backward_input, p, band_tiles)));
  p = dw;
  p.stride_w = 2;
  CHECK_FALSE(mta_backward_input_on_tensor_cores(mta_kernel_spec(KernelKind::mta_backward_input, p, band_tiles)));
  p = dw;
  p.out_channels = 32;
  CHECK_FALSE(mta_backward_input_on_tensor_cores(mta_kernel_spec(KernelKind::mta_backward_input, p, band_tiles)));
  CHECK_FALSE(mta_backward_input_on_tensor_cores(mta_kernel_spec(KernelKind::mta_backward_input, dw, {8, 128, 8, 0})));
  CHECK_FALSE(mta_backward_input_uses_band(2, 1, 5, 5, 1, 1, 1, 1, 6, 2048, 32, 64, 4));  // lead 4 - 6 < 0
  // The paper's 6x11 with causal query padding: lead 5, two k-steps.
  p = dw;
  p.kernel_h = 6;
  p.kernel_w = 11;
  p.padding = {5, 0, 5, 5};
  CHECK(mta_backward_input_on_tensor_cores(
      mta_kernel_spec(KernelKind::mta_backward_input, p, mta_heuristic_configs(p).backward_input)));
  // The gpu suite's grid reaches the band path, with the named case meant for it among its cases.
  int band_cases = 0;
  for (const auto& c : testing::mta_grid()) {
    const bool band = mta_backward_input_on_tensor_cores(
        mta_kernel_spec(KernelKind::mta_backward_input, c.problem, mta_heuristic_configs(c.problem).backward_input));
    band_cases += band;
    if (c.label.find("band input gradient") != std::string::npos) CHECK(band);
  }
  CHECK(band_cases >= 2);
  MESSAGE(band_cases << " gpu-suite cases compute the input gradient's dP on tensor cores");
}

TEST_CASE("heuristics: channel mixing in f16/bf16 runs the forward on tensor cores; f32 and depthwise do not") {
  MtaProblem p = problem(2, 16, 16, 1, 2048, 7, 7, Padding::symmetric(3));
  p.dtype = DType::bf16;
  const MtaConfigs c = mta_heuristic_configs(p);
  CHECK((c.forward == TileConfig{32, 32, 8, 16}));  // 64 m-tiles over 8 warps, both n-tiles of 8 channels
  const int patch_h = 32 + 6, patch_w = 32 + 6;
  CHECK(mta_forward_uses_mma(2, 16, 16, 7, 7, 32, 32, 8, patch_h, patch_w));
  // smem: 16 channels' patches in bf16, filters [16][784 at a pitch of 792: 99 16-byte units, odd for
  // ldmatrix's banks], the half k-steps' row offsets [98]
  CHECK(mta_mma_filter_pitch(16, 7, 7) == 792);
  CHECK(mta_mma_filter_pitch(8, 3, 3) == 88);  // 72 taps padded to 80, then 8 more: 11 units
  CHECK(launch_shape(mta_kernel_spec(KernelKind::mta_forward, p, c.forward), p).smem_bytes ==
        2u * 16 * patch_h * patch_w + 2u * 16 * 792 + 4u * 98);
  CHECK_FALSE(mta_forward_uses_mma(2, 12, 16, 7, 7, 32, 32, 8, patch_h, patch_w));  // 12 channels: not whole 8-channel planes
  p.dtype = DType::f32;  // tensor cores here take 16-bit inputs only: the CUDA-core path, oc_tile <= 8
  CHECK(mta_heuristic_configs(p).forward.oc_tile == 8);
  p.dtype = DType::f16;
  p.out_channels = 12;  // 12 output channels: no whole n-tile of 8 divides them
  CHECK(mta_heuristic_configs(p).forward.oc_tile == 6);
  const MtaProblem dw = bf16_softmax_5x5();  // depthwise: one output channel per group
  CHECK_FALSE(mta_forward_uses_mma(2, 1, mta_heuristic_configs(dw).forward.oc_tile, 5, 5, 32, 64, 8, 36, 68));
}

TEST_CASE("in_launch_order: four kernels when the weight gradient is fused, five otherwise") {
  const MtaProblem fused = bf16_softmax_5x5();  // 1 x 5 x 5 = 25 taps
  const std::vector<KernelSpec> four = in_launch_order(mta_kernel_specs(fused, mta_heuristic_configs(fused)));
  REQUIRE(four.size() == 4);
  CHECK(four[2].kind == KernelKind::mta_backward_input);
  CHECK(four[3].kind == KernelKind::mta_reduce_weight);
  MtaProblem mixing = bf16_softmax_5x5();
  mixing.groups = 1;  // 16 x 5 x 5 = 400 taps
  const std::vector<KernelSpec> five = in_launch_order(mta_kernel_specs(mixing, mta_heuristic_configs(mixing)));
  REQUIRE(five.size() == 5);
  CHECK(five[3].kind == KernelKind::mta_backward_weight);
}

}  // TEST_SUITE

}  // namespace
}  // namespace attnjit
