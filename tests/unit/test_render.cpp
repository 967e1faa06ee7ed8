// render(): the generated source binds every constant of the spec and includes its kind's template;
// key_json/key: the derivation is pinned (golden) and every input changes the key; templates(): the
// embedded set is the source tree's templates/.
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "attnjit/attnjit.hpp"
#include "generator/kernel_spec.hpp"
#include "generator/render.hpp"
#include "generator/sha256.hpp"
#include "generator/templates.hpp"
#include "tuner/mta_heuristics.hpp"
#include "tuner/na_heuristics.hpp"

namespace attnjit {
namespace {

namespace fs = std::filesystem;

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

struct TempDir {
  fs::path path;
  TempDir() {
    static std::atomic<int> counter{0};
    path = fs::temp_directory_path() /
           ("attnjit-test-render-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + "-" +
            std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code error;
    fs::remove_all(path, error);
  }
};

// Grouped, strided, dilated, asymmetric padding, bias: every constant has a distinct value.
MtaProblem grouped_strided() {
  MtaProblem p;
  p.batch = 3;
  p.in_channels = 4;
  p.out_channels = 8;
  p.groups = 2;
  p.length = 100;
  p.kernel_h = 3;
  p.kernel_w = 5;
  p.stride_h = 2;
  p.stride_w = 3;
  p.dilation_h = 4;
  p.padding = {1, 2, 0, 1};
  p.bias = Bias::present;
  p.norm = Norm::sparsemax;
  p.dtype = DType::f16;
  return p;  // out_h = (100+3-8-1)/2+1 = 48, out_w = (100+1-4-1)/3+1 = 33
}

const char* const kTemplateFiles[] = {"common.cuh",      "mta_params.h",         "mta_norm.cuh",
                                      "mta_forward.cuh", "mta_forward_mma.cuh", "mta_backward.cuh",
                                      "tuner_kernels.cuh", "na_params.h",        "na_common.cuh",
                                      "na_forward.cuh",  "na_backward.cuh",     "na_forward_mma.cuh",
                                      "mma.cuh",         "na_backward_mma.cuh", "na_mma.cuh",
                                      "na_backward_fused.cuh", "mta_forward_band.cuh", "mta_band.cuh",
                                      "na_forward_wgmma.cuh", "wgmma.cuh", "tma.cuh",
                                      "mta_backward_input_mma.cuh", "mta_backward_weight_mma.cuh"};

TEST_SUITE("render") {

TEST_CASE("nvrtc_options: mta kernels at NVRTC's fast-compile level $ATTNJIT_FAST_COMPILE (default off) where NVRTC has it") {
  const char* saved = std::getenv("ATTNJIT_FAST_COMPILE");
  const std::string saved_value = saved ? saved : "";
  ::unsetenv("ATTNJIT_FAST_COMPILE");
  MtaProblem p;
  p.length = 64;
  const RenderedKernel mta = render(mta_kernel_spec(KernelKind::mta_forward, p, mta_heuristic_configs(p).forward));
  auto has = [](const std::vector<std::string>& options, const std::string& option) {
    return std::find(options.begin(), options.end(), option) != options.end();
  };
  // Unset: off (it made the kernels 1.2-5.5x slower on the H100).
  CHECK(nvrtc_options(mta, {"sm_90", "13.0"}) == std::vector<std::string>{"--std=c++17", "--gpu-architecture=sm_90"});
  ::setenv("ATTNJIT_FAST_COMPILE", "min", 1);
  CHECK(has(nvrtc_options(mta, {"sm_90", "13.0"}), "--Ofast-compile=min"));
  CHECK(has(nvrtc_options(mta, {"sm_90", "12.8"}), "--Ofast-compile=min"));
  CHECK_FALSE(has(nvrtc_options(mta, {"sm_90", "12.6"}), "--Ofast-compile=min"));  // no such option there
  NaProblem na;
  na.length = 64;
  const RenderedKernel na_kernel = render(na_kernel_specs(na, na_heuristic_configs(na)).forward);
  for (const std::string& option : nvrtc_options(na_kernel, {"sm_90", "13.0"})) CHECK(option.rfind("--Ofast-compile", 0) != 0);
  ::setenv("ATTNJIT_FAST_COMPILE", "0", 1);
  CHECK(nvrtc_options(mta, {"sm_90", "13.0"}) == std::vector<std::string>{"--std=c++17", "--gpu-architecture=sm_90"});
  ::setenv("ATTNJIT_FAST_COMPILE", "mid", 1);
  CHECK(has(nvrtc_options(mta, {"sm_90", "13.0"}), "--Ofast-compile=mid"));
  ::setenv("ATTNJIT_FAST_COMPILE", "fast", 1);
  CHECK_THROWS_WITH_AS(nvrtc_options(mta, {"sm_90", "13.0"}), doctest::Contains("ATTNJIT_FAST_COMPILE='fast'"), Error);
  if (saved) {
    ::setenv("ATTNJIT_FAST_COMPILE", saved_value.c_str(), 1);
  } else {
    ::unsetenv("ATTNJIT_FAST_COMPILE");
  }
}

TEST_CASE("render: header comment names the spec, says generated/do not edit, includes the kind's template") {
  const struct {
    KernelKind kind;
    const char* header;
    const char* function;
  } kinds[] = {{KernelKind::mta_row_stats, "mta_norm.cuh", "mta_row_stats"},
               {KernelKind::mta_forward, "mta_forward.cuh", "mta_forward"},
               {KernelKind::mta_backward_input, "mta_backward.cuh", "mta_backward_input"},
               {KernelKind::mta_backward_weight, "mta_backward.cuh", "mta_backward_weight"},
               {KernelKind::mta_reduce_weight, "mta_backward.cuh", "mta_reduce_weight"}};
  for (const auto& k : kinds) {
    const KernelSpec spec = mta_kernel_spec(k.kind, grouped_strided(), TileConfig{16, 8, 4, 2});
    const RenderedKernel r = render(spec);
    INFO(r.source);
    CHECK(r.name == name(spec));
    CHECK(r.spec_json == to_json(spec));
    CHECK(r.source.rfind("// " + name(spec) + "\n", 0) == 0);  // first line: the spec's name
    CHECK(contains(r.source, "generated by attnjit"));
    CHECK(contains(r.source, "do not edit"));
    CHECK(contains(r.source, std::string("#include \"") + k.header + "\""));
    for (const char* other : {"mta_norm.cuh", "mta_forward.cuh", "mta_backward.cuh"}) {
      if (std::string(other) != k.header) CHECK_FALSE(contains(r.source, std::string("#include \"") + other));
    }
    CHECK(r.name_expression == std::string("attnjit::") + k.function + "<attnjit_cfg>");
  }
}

TEST_CASE("render: every constant of the forward spec is bound with its value") {
  const RenderedKernel r = render(mta_kernel_spec(KernelKind::mta_forward, grouped_strided(), TileConfig{16, 8, 4, 2}));
  INFO(r.source);
  for (const char* binding :
       {"using T = attnjit::f16_t;", "kNorm = attnjit::NormKind::sparsemax;", "kL = 100;", "kCinG = 2,", "kCoutG = 4,",
        "kGroups = 2;", "kKh = 3,", "kKw = 5,", "kSh = 2,", "kSw = 3,", "kDh = 4,", "kDw = 1;", "kPadTop = 1,",
        "kPadLeft = 0,", "kOutH = 48,", "kOutW = 33;", "kHasBias = true;", "kTileI = 16,", "kTileJ = 8,",
        "kThreads = 128,", "kOcTile = 2;"}) {
    CHECK_MESSAGE(contains(r.source, binding), binding);
  }
}

TEST_CASE("render: dtype and norm bindings per value; unused fields bound as 0 (row stats)") {
  MtaProblem p = grouped_strided();
  p.dtype = DType::bf16;
  p.norm = Norm::softmax;
  p.length = 1024;
  const RenderedKernel bf16 = render(mta_kernel_spec(KernelKind::mta_row_stats, p, TileConfig{0, 0, 8, 0}));
  CHECK(contains(bf16.source, "using T = attnjit::bf16_t;"));
  CHECK(contains(bf16.source, "kNorm = attnjit::NormKind::softmax;"));
  CHECK(contains(bf16.source, "kL = 1024;"));
  CHECK(contains(bf16.source, "kThreads = 256,"));
  CHECK(contains(bf16.source, "kKh = 0, kKw = 0,"));  // canonical: row stats do not see the kernel size
  p.dtype = DType::f32;
  CHECK(contains(render(mta_kernel_spec(KernelKind::mta_row_stats, p, TileConfig{0, 0, 8, 0})).source,
                 "using T = float;"));
}

TEST_CASE("sha256_hex of fixed strings (FIPS 180-2 vectors)") {
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

RenderedKernel hand_made() {
  RenderedKernel r;
  r.source = "S";
  r.options = {"--std=c++17"};
  return r;
}

TEST_CASE("key_json golden: sorted keys, no whitespace, options include the arch") {
  const std::string expected = std::string(R"({"arch":"sm_90","attnjit_version":")") + version() +
                               R"(","nvrtc_version":"13.0","options":["--std=c++17","--gpu-architecture=sm_90"],)"
                               R"("source":"S","templates":"T"})";
  CHECK(key_json(hand_made(), CompileTarget{"sm_90", "13.0"}, "T") == expected);
  // JSON escaping of the source is part of the derivation too.
  RenderedKernel quoted = hand_made();
  quoted.source = "a\"b\nc";
  CHECK(contains(key_json(quoted, CompileTarget{"sm_90", "13.0"}, "T"), R"("source":"a\"b\nc")"));
  TemplateSet set;
  set.sha256 = "T";
  CHECK(key(hand_made(), CompileTarget{"sm_90", "13.0"}, set) == sha256_hex(expected));
}

TEST_CASE("key() is stable for equal inputs and changes with source, options, arch, nvrtc version, templates") {
  TemplateSet set;
  set.sha256 = "T";
  const CompileTarget target{"sm_90", "13.0"};
  const std::string base = key(hand_made(), target, set);
  CHECK(base.size() == 64);
  CHECK(key(hand_made(), CompileTarget{"sm_90", "13.0"}, set) == base);

  RenderedKernel source = hand_made();
  source.source = "S2";
  CHECK(key(source, target, set) != base);
  RenderedKernel options = hand_made();
  options.options.push_back("-lineinfo");
  CHECK(key(options, target, set) != base);
  CHECK(key(hand_made(), CompileTarget{"sm_80", "13.0"}, set) != base);
  CHECK(key(hand_made(), CompileTarget{"sm_90", "12.8"}, set) != base);
  TemplateSet other = set;
  other.sha256 = "U";
  CHECK(key(hand_made(), target, other) != base);
  // name and spec_json are not hashed on their own: the source already carries both.
  RenderedKernel named = hand_made();
  named.name = "x";
  CHECK(key(named, target, set) == base);
}

TEST_CASE("different specs render to different keys; equal specs to equal keys") {
  const CompileTarget target{"sm_90", "13.0"};
  const KernelSpec fwd = mta_kernel_spec(KernelKind::mta_forward, grouped_strided(), TileConfig{16, 8, 4, 2});
  KernelSpec wider = fwd;
  wider.config.tile_j = 16;
  KernelSpec other_kind = fwd;
  other_kind.kind = KernelKind::mta_backward_input;
  const std::string k = key(render(fwd), target, templates());
  CHECK(key(render(fwd), target, templates()) == k);
  CHECK(key(render(wider), target, templates()) != k);
  CHECK(key(render(canonical(other_kind)), target, templates()) != k);
  // A field a kind ignores (row stats: the kernel size) does not touch its key.
  const KernelSpec stats = mta_kernel_spec(KernelKind::mta_row_stats, grouped_strided(), TileConfig{0, 0, 4, 0});
  KernelSpec stats_loose = stats;
  stats_loose.kernel_h = 11;
  CHECK(key(render(stats_loose), target, templates()) == key(render(stats), target, templates()));
}

TEST_CASE("templates(): the embedded set is exactly the source tree's templates/") {
  if (const char* dir = std::getenv("ATTNJIT_TEMPLATE_DIR"); dir != nullptr && *dir != '\0') {
    MESSAGE("ATTNJIT_TEMPLATE_DIR is set: templates() reads it, not the embedded set");
  } else {
    CHECK(templates().origin == "embedded");
  }
  const TemplateSet& set = templates();
  CHECK(set.files.size() == std::size(kTemplateFiles));
  for (const char* file : kTemplateFiles) {
    INFO(file);
    REQUIRE(set.files.count(file) == 1);
    CHECK(set.files.at(file) == read_file(fs::path(ATTNJIT_SOURCE_DIR "/templates") / file));
  }
  const TemplateSet tree = load_templates_from(ATTNJIT_SOURCE_DIR "/templates");
  CHECK(tree.origin == ATTNJIT_SOURCE_DIR "/templates");
  CHECK(tree.files == set.files);
  CHECK(tree.sha256 == set.sha256);
  CHECK(set.sha256.size() == 64);
}

TEST_CASE("load_templates_from: a modified or renamed file changes the sha256; a missing folder throws naming it") {
  TempDir dir;
  for (const char* file : kTemplateFiles) fs::copy_file(fs::path(ATTNJIT_SOURCE_DIR "/templates") / file, dir.path / file);
  const TemplateSet copy = load_templates_from(dir.path.string());
  CHECK(copy.sha256 == templates().sha256);  // same names and texts: same hash, whatever the folder
  {
    std::ofstream out(dir.path / "mta_forward.cuh", std::ios::app);
    out << "// one more line\n";
  }
  const TemplateSet modified = load_templates_from(dir.path.string());
  CHECK(modified.sha256 != copy.sha256);
  CHECK(modified.files.at("mta_forward.cuh") != copy.files.at("mta_forward.cuh"));

  fs::rename(dir.path / "mta_params.h", dir.path / "mta_params2.h");  // a name is hashed too, not only text
  CHECK(load_templates_from(dir.path.string()).sha256 != modified.sha256);

  const std::string missing = (dir.path / "no-such-folder").string();
  try {
    load_templates_from(missing);
    FAIL("no exception");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::invalid_argument);
    CHECK(contains(e.what(), missing));
  }
}

}  // TEST_SUITE

}  // namespace
}  // namespace attnjit
