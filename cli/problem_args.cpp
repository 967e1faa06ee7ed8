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

NaWindow parse_window(const std::string& text) {
  for (NaWindow w : {NaWindow::clipped, NaWindow::shifted, NaWindow::causal}) {
    if (text == to_string(w)) return w;
  }
  detail::raise_invalid("window '{}': expected clipped, shifted or causal", text);
}

// --kernel and --dilation of neighborhood attention are single numbers.
int parse_single(const std::string& text, const char* what) {
  const auto v = parse_int(text);
  if (!v) detail::raise_invalid("--{} '{}': neighborhood attention takes one number, e.g. 7", what, text);
  return *v;
}

NaProblem na_problem_from_flags(const ProblemArgs& a) {
  NaProblem p;
  p.batch = a.batch;
  p.heads = a.in_channels;
  p.length = a.length;
  p.head_dim = a.head_dim;
  p.kernel_size = parse_single(a.kernel, "kernel");
  p.dilation = parse_single(a.dilation, "dilation");
  p.window = parse_window(a.window);
  p.scale = a.scale;
  p.dtype = parse_dtype(a.dtype);
  return p;
}

NaProblem na_problem_from_json(const nlohmann::json& j) {
  try {
    ProblemArgs a;
    a.batch = j.value("batch", a.batch);
    a.in_channels = j.value("heads", a.in_channels);
    a.length = j.value("length", a.length);
    a.head_dim = j.value("head_dim", a.head_dim);
    a.kernel = std::to_string(j.value("kernel_size", 7));
    a.dilation = std::to_string(j.value("dilation", 1));
    a.window = j.value("window", a.window);
    a.scale = j.value("scale", 0.0);
    a.dtype = j.value("dtype", a.dtype);
    return na_problem_from_flags(a);
  } catch (const nlohmann::json::exception& e) {
    detail::raise_invalid("problem {}: {}; an na problem has numbers batch, heads, length, head_dim, kernel_size, "
                          "dilation, scale and strings window, dtype", j.dump(), e.what());
  }
}

// The problem objects of --problem's file.
nlohmann::json problem_items(const std::string& path) {
  std::ifstream in(path);
  if (!in) detail::raise_invalid("--problem {}: cannot open the file", path);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    detail::raise_invalid("--problem {}: not valid JSON ({})", path, e.what());
  }
  return j.is_object() && j.contains("problems") ? j["problems"] : j.is_array() ? j : nlohmann::json::array({j});
}

std::string op_of(const nlohmann::json& item) {
  const std::string op = item.is_object() ? item.value("op", std::string("mta")) : "mta";
  if (op != "mta" && op != "na") detail::raise_invalid("problem {}: op must be \"mta\" or \"na\"", item.dump());
  return op;
}

}  // namespace

MtaProblem problem_from_json_fields(const nlohmann::json& j);  // may throw nlohmann's type errors

void add_problem_options(CLI::App& app, ProblemArgs& a) {
  app.add_option("--op", a.op, "mta | na (neighborhood attention: -c heads, -D head dim, -k kernel size, -d dilation)")
      ->capture_default_str();
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
  app.add_option("-D,--head-dim", a.head_dim, "na: head dimension D")->capture_default_str();
  app.add_option("--window", a.window, "na: clipped | shifted | causal")->capture_default_str();
  app.add_option("--scale", a.scale, "na: softmax scale (0: 1/sqrt(D))")->capture_default_str();
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
  if (op_of(j) != "mta") {
    detail::raise_invalid("problem {}: this command takes op \"mta\" only so far (gen and compile take \"na\" too)",
                          j.dump());
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
  if (a.problem_file.empty()) {
    if (a.op != "mta") detail::raise_invalid("--op {}: this command takes --op mta only so far (gen and compile take na too)", a.op);
    return {{"", problem_from_flags(a), true}};
  }
  std::vector<NamedProblem> problems;
  for (const auto& item : problem_items(a.problem_file)) {
    problems.push_back({item.value("name", std::string()), problem_from_json(item), item.value("verify", true)});
  }
  return problems;
}

AnyProblems any_problems_from(const ProblemArgs& a) {
  AnyProblems problems;
  if (a.problem_file.empty()) {
    if (a.op == "na") {
      problems.na.push_back({"", na_problem_from_flags(a), true});
    } else if (a.op == "mta") {
      problems.mta.push_back({"", problem_from_flags(a), true});
    } else {
      detail::raise_invalid("--op '{}': expected mta or na", a.op);
    }
    return problems;
  }
  for (const auto& item : problem_items(a.problem_file)) {
    const std::string name = item.value("name", std::string());
    if (op_of(item) == "na") {
      problems.na.push_back({name, na_problem_from_json(item), item.value("verify", true)});
    } else {
      problems.mta.push_back({name, problem_from_json(item), item.value("verify", true)});
    }
  }
  return problems;
}

std::vector<MtaProblem> problems_from(const ProblemArgs& a) {
  std::vector<MtaProblem> problems;
  for (const auto& named : named_problems_from(a)) problems.push_back(named.problem);
  return problems;
}

}  // namespace attnjit::cli
