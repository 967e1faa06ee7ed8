#include "cli/problem_args.hpp"

#include <fmt/format.h>

#include <fstream>
#include <optional>

#include "runtime/error.hpp"

namespace attnjit::cli {

namespace {

// The whole of `text` as an int, or nullopt (std::stoi alone would take "3abc" as 3).
std::optional<int> parse_int(const std::string& text) {
  try {
    std::size_t used = 0;
    const int v = std::stoi(text, &used);
    if (used == text.size()) return v;
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

// "5" -> {5, 5}; "6x11" -> {6, 11}
std::pair<int, int> parse_pair(const std::string& text, const char* what) {
  const auto x = text.find('x');
  const auto a = parse_int(text.substr(0, x));
  const auto b = x == std::string::npos ? a : parse_int(text.substr(x + 1));
  if (!a || !b) detail::raise_invalid("--{} '{}': expected N or HxW, e.g. 5 or 6x11", what, text);
  return {*a, *b};
}

// "same" (K/2 on each side), "causal" (query axis Kh-1 above and 0 below, key axis centred),
// "P", or "top,bottom,left,right".
Padding parse_padding(const std::string& text, int kh, int kw, int dh, int dw) {
  if (text == "same") return {dh * (kh - 1) / 2, dh * (kh - 1) / 2, dw * (kw - 1) / 2, dw * (kw - 1) / 2};
  if (text == "causal") return {dh * (kh - 1), 0, dw * (kw - 1) / 2, dw * (kw - 1) / 2};
  std::vector<int> v;
  for (std::size_t start = 0; start <= text.size();) {
    const auto comma = text.find(',', start);
    const auto value = parse_int(text.substr(start, comma - start));
    if (!value) {
      v.clear();
      break;
    }
    v.push_back(*value);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (v.size() == 1) return Padding::symmetric(v[0]);
  if (v.size() == 4) return {v[0], v[1], v[2], v[3]};
  detail::raise_invalid("--padding '{}': expected same, causal, P or top,bottom,left,right", text);
}

DType parse_dtype(const std::string& text) {
  if (text == "f32" || text == "fp32" || text == "float32") return DType::f32;
  if (text == "f16" || text == "fp16" || text == "float16") return DType::f16;
  if (text == "bf16" || text == "bfloat16") return DType::bf16;
  detail::raise_invalid("dtype '{}': expected f32, f16 or bf16", text);
}

Norm parse_norm(const std::string& text) {
  if (text == "softmax") return Norm::softmax;
  if (text == "sparsemax") return Norm::sparsemax;
  detail::raise_invalid("norm '{}': expected softmax or sparsemax", text);
}

MtaProblem problem_from_flags(const ProblemArgs& a) {
  MtaProblem p;
  p.batch = a.batch;
  p.in_channels = a.in_channels;
  p.out_channels = a.out_channels > 0 ? a.out_channels : a.in_channels;
  p.length = a.length;
  std::tie(p.kernel_h, p.kernel_w) = parse_pair(a.kernel, "kernel");
  std::tie(p.stride_h, p.stride_w) = parse_pair(a.stride, "stride");
  std::tie(p.dilation_h, p.dilation_w) = parse_pair(a.dilation, "dilation");
  p.padding = parse_padding(a.padding, p.kernel_h, p.kernel_w, p.dilation_h, p.dilation_w);
  p.groups = a.groups > 0 ? a.groups : p.in_channels;  // depthwise by default, as in the paper
  p.bias = a.bias ? Bias::present : Bias::none;
  p.norm = parse_norm(a.norm);
  p.dtype = parse_dtype(a.dtype);
  return p;
}

}  // namespace

MtaProblem problem_from_json_fields(const nlohmann::json& j);  // may throw nlohmann's type errors

void add_problem_options(CLI::App& app, ProblemArgs& a) {
  app.add_option("--problem", a.problem_file, "JSON file: a problem object, a list of them, or {\"problems\": [...]}");
  app.add_option("-b,--batch", a.batch, "batch size")->capture_default_str();
  app.add_option("-c,--channels,--in-channels", a.in_channels, "input channels (heads)")->capture_default_str();
  app.add_option("--out-channels", a.out_channels, "output channels (default: = in channels)");
  app.add_option("-L,--length", a.length, "sequence length L")->capture_default_str();
  app.add_option("-k,--kernel", a.kernel, "kernel size: K or KhxKw, e.g. 6x11")->capture_default_str();
  app.add_option("-s,--stride", a.stride, "stride: S or SHxSW")->capture_default_str();
  app.add_option("-p,--padding", a.padding, "same | causal | P | top,bottom,left,right")->capture_default_str();
  app.add_option("-d,--dilation", a.dilation, "dilation: D or DHxDW")->capture_default_str();
  app.add_option("-g,--groups", a.groups, "groups (default: = in channels, depthwise)");
  app.add_flag("--bias", a.bias, "the convolution has a bias");
  app.add_option("--norm", a.norm, "softmax | sparsemax")->capture_default_str();
  app.add_option("--dtype", a.dtype, "f32 | f16 | bf16")->capture_default_str();
}

MtaProblem problem_from_json(const nlohmann::json& j) {
  try {
    return problem_from_json_fields(j);
  } catch (const nlohmann::json::exception& e) {  // a field of the wrong type: say which problem and why
    detail::raise_invalid("problem {}: {}; sizes are numbers, kernel/stride/dilation N or \"HxW\", padding "
                          "\"same\", \"causal\", N or [top, bottom, left, right]", j.dump(), e.what());
  }
}

MtaProblem problem_from_json_fields(const nlohmann::json& j) {
  ProblemArgs a;
  if (j.value("op", std::string("mta")) != "mta") {
    detail::raise_invalid("problem {}: op must be \"mta\" (the only op so far)", j.dump());
  }
  a.batch = j.value("batch", a.batch);
  a.in_channels = j.value("in_channels", a.in_channels);
  a.out_channels = j.value("out_channels", a.in_channels);
  a.length = j.value("length", a.length);
  a.groups = j.value("groups", a.in_channels);
  auto text = [&](const char* key, const std::string& fallback) {
    if (!j.contains(key)) return fallback;
    return j[key].is_string() ? j[key].get<std::string>() : j[key].dump();
  };
  a.kernel = text("kernel", a.kernel);
  a.stride = text("stride", a.stride);
  a.dilation = text("dilation", a.dilation);
  a.padding = text("padding", a.padding);
  if (j.contains("padding") && j["padding"].is_array()) {
    const auto& v = j["padding"];
    a.padding = fmt::format("{},{},{},{}", v.at(0).get<int>(), v.at(1).get<int>(), v.at(2).get<int>(), v.at(3).get<int>());
  }
  a.norm = j.value("norm", a.norm);
  a.dtype = j.value("dtype", a.dtype);
  a.bias = j.value("bias", false);
  return problem_from_flags(a);
}

nlohmann::json to_json(const MtaProblem& p) {
  return {{"op", "mta"}, {"batch", p.batch}, {"in_channels", p.in_channels}, {"out_channels", p.out_channels},
          {"length", p.length}, {"kernel", fmt::format("{}x{}", p.kernel_h, p.kernel_w)},
          {"stride", fmt::format("{}x{}", p.stride_h, p.stride_w)},
          {"dilation", fmt::format("{}x{}", p.dilation_h, p.dilation_w)},
          {"padding", {p.padding.top, p.padding.bottom, p.padding.left, p.padding.right}}, {"groups", p.groups},
          {"bias", p.bias == Bias::present}, {"norm", to_string(p.norm)}, {"dtype", to_string(p.dtype)}};
}

std::vector<NamedProblem> named_problems_from(const ProblemArgs& a) {
  if (a.problem_file.empty()) return {{"", problem_from_flags(a), true}};
  std::ifstream in(a.problem_file);
  if (!in) detail::raise_invalid("--problem {}: cannot open the file", a.problem_file);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    detail::raise_invalid("--problem {}: not valid JSON ({})", a.problem_file, e.what());
  }
  const nlohmann::json list = j.is_object() && j.contains("problems") ? j["problems"] : j.is_array() ? j : nlohmann::json::array({j});
  std::vector<NamedProblem> problems;
  for (const auto& item : list) {
    problems.push_back({item.value("name", std::string()), problem_from_json(item), item.value("verify", true)});
  }
  return problems;
}

std::vector<MtaProblem> problems_from(const ProblemArgs& a) {
  std::vector<MtaProblem> problems;
  for (const auto& named : named_problems_from(a)) problems.push_back(named.problem);
  return problems;
}

}  // namespace attnjit::cli
