// MtaProblem: output extents by SPEC.md section 1's formula, and validate() rejecting every bad
// argument with invalid_argument and a message that names the values.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "attnjit/attnjit.hpp"

namespace attnjit {
namespace {

MtaProblem problem(int length, int kh, int kw, Padding padding, int sh = 1, int sw = 1, int dh = 1, int dw = 1) {
  MtaProblem p;
  p.batch = 2;
  p.in_channels = 4;
  p.out_channels = 4;
  p.groups = 4;
  p.length = length;
  p.kernel_h = kh;
  p.kernel_w = kw;
  p.padding = padding;
  p.stride_h = sh;
  p.stride_w = sw;
  p.dilation_h = dh;
  p.dilation_w = dw;
  return p;
}

// The paper's 6x11 kernel, causal on the query axis, depthwise over 16 heads.
MtaProblem paper_6x11_causal() {
  MtaProblem p = problem(2048, 6, 11, Padding{5, 0, 5, 5});
  p.in_channels = p.out_channels = p.groups = 16;
  p.dtype = DType::bf16;
  return p;
}

// Runs validate(p) and returns the message of the invalid_argument Error it must throw.
std::string rejection(const MtaProblem& p) {
  try {
    validate(p);
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::invalid_argument);
    return e.what();
  }
  FAIL("validate accepted ", describe(p));
  return {};
}

void check_mentions(const std::string& message, std::vector<std::string> parts) {
  INFO(message);
  for (const std::string& part : parts) CHECK_MESSAGE(message.find(part) != std::string::npos, part);
}

TEST_SUITE("problem") {

TEST_CASE("out_h/out_w = floor((L + pad_before + pad_after - d*(K-1) - 1) / s) + 1") {
  struct Case {
    MtaProblem p;
    int out_h, out_w;
  };
  const Case cases[] = {
      {problem(10, 3, 3, Padding::symmetric(1)), 10, 10},              // "same"
      {problem(10, 3, 3, Padding{}), 8, 8},                            // valid
      {problem(10, 3, 3, Padding{}, 3, 3), 3, 3},                      // (10-2-1)/3 = 2.33 -> 2, +1
      {problem(10, 3, 3, Padding{}, 4, 2), 2, 4},                      // (7)/4 -> 1; 7/2 -> 3
      {problem(10, 3, 5, Padding{2, 0, 3, 1}), 10, 10},                // asymmetric: 10+2-2-1, 10+4-4-1
      {problem(10, 5, 5, Padding{0, 1, 3, 1}, 2, 2), 4, 5},            // (10+1-4-1)/2 -> 3; (10+4-4-1)/2 -> 4
      {problem(10, 3, 3, Padding{}, 1, 1, 3, 2), 4, 6},                // dilation: 10-6-1 = 3; 10-4-1 = 5
      {problem(17, 3, 2, Padding{2, 2, 1, 0}, 2, 3, 2, 4), 9, 5},      // (17+4-4-1)/2 -> 8; (17+1-4-1)/3 -> 4
      {problem(1, 1, 1, Padding{}), 1, 1},                             // 1x1 head mixing
      {paper_6x11_causal(), 2048, 2048},                               // causal 6x11 keeps L x L
      {problem(2, 5, 5, Padding{}), 0, 0},                             // kernel longer than the input: empty
      {problem(4, 5, 5, Padding{}, 2, 2), 0, 0},                       // span -1 with stride 2 is still empty
  };
  for (const Case& c : cases) {
    INFO(describe(c.p));
    CHECK(c.p.out_h() == c.out_h);
    CHECK(c.p.out_w() == c.out_w);
  }
}

TEST_CASE("valid problems do not throw: the paper's 6x11 causal depthwise, 1x1 head mixing, 256 taps") {
  CHECK_NOTHROW(validate(paper_6x11_causal()));
  MtaProblem mixing = problem(512, 1, 1, Padding{});
  mixing.in_channels = mixing.out_channels = 16;
  mixing.groups = 4;  // heads / group_size
  mixing.bias = Bias::present;
  CHECK_NOTHROW(validate(mixing));
  CHECK_NOTHROW(validate(problem(64, 16, 16, Padding::symmetric(8))));  // exactly kMaxTaps = 256
  MtaProblem grouped = problem(64, 3, 3, Padding::symmetric(1), 2, 3, 2, 1);
  grouped.in_channels = 6;
  grouped.out_channels = 9;
  grouped.groups = 3;
  CHECK_NOTHROW(validate(grouped));
}

TEST_CASE("groups not dividing the channels: message names groups and the channel count") {
  MtaProblem p = problem(64, 3, 3, Padding::symmetric(1));
  p.in_channels = 8;
  p.out_channels = 9;
  p.groups = 3;
  check_mentions(rejection(p), {"groups=3 does not divide in_channels=8"});
  p.in_channels = 6;
  p.out_channels = 8;
  check_mentions(rejection(p), {"groups=3 does not divide out_channels=8"});
  p.groups = 0;
  check_mentions(rejection(p), {"groups=0"});
  p.groups = -2;
  check_mentions(rejection(p), {"groups=-2"});
}

TEST_CASE("zero or negative sizes are rejected with the value") {
  MtaProblem p = problem(64, 3, 3, Padding::symmetric(1));
  p.batch = 0;
  check_mentions(rejection(p), {"batch=0"});
  p = problem(64, 3, 3, Padding::symmetric(1));
  p.in_channels = -1;
  check_mentions(rejection(p), {"in_channels=-1"});
  p = problem(64, 3, 3, Padding::symmetric(1));
  p.out_channels = 0;
  check_mentions(rejection(p), {"out_channels=0"});
  check_mentions(rejection(problem(0, 3, 3, Padding::symmetric(1))), {"length=0"});
  check_mentions(rejection(problem(-5, 3, 3, Padding::symmetric(1))), {"length=-5"});
  check_mentions(rejection(problem(64, 0, 3, Padding{})), {"0x3"});
  check_mentions(rejection(problem(64, 3, -1, Padding{})), {"3x-1"});
}

TEST_CASE("stride < 1, dilation < 1 and negative padding are rejected with the values") {
  check_mentions(rejection(problem(64, 3, 3, Padding::symmetric(1), 0, 1)), {"stride=0x1"});
  check_mentions(rejection(problem(64, 3, 3, Padding::symmetric(1), 2, -1)), {"stride=2x-1"});
  check_mentions(rejection(problem(64, 3, 3, Padding::symmetric(1), 1, 1, 0, 2)), {"dilation=0x2"});
  check_mentions(rejection(problem(64, 3, 3, Padding::symmetric(1), 1, 1, 1, -3)), {"dilation=1x-3"});
  check_mentions(rejection(problem(64, 3, 3, Padding{1, 1, -1, 1})), {"padding", "left -1", "negative"});
  check_mentions(rejection(problem(64, 3, 3, Padding{0, -2, 1, 1})), {"padding", "bottom -2", "negative"});
}

TEST_CASE("an empty output says out_h/out_w and what to do") {
  const std::string message = rejection(problem(4, 7, 3, Padding{}));  // out_h = 4-6-1 < 0
  check_mentions(message, {"empty", "out_h=0", "out_w=2", "length=4", "7x3", "pad more or use a smaller kernel"});
  check_mentions(rejection(problem(8, 3, 3, Padding{}, 1, 1, 5, 1)), {"out_h=0", "dilation 5x1"});
}

TEST_CASE("more than 256 taps is rejected with the tap count and the limit") {
  check_mentions(rejection(problem(64, 17, 16, Padding::symmetric(8))), {"17x16", "272 taps", "256"});
  check_mentions(rejection(problem(64, 1, 257, Padding{0, 0, 128, 128})), {"1x257", "257 taps"});
}

// Regression (runtime/problem.cpp:70): `p.kernel_h * p.kernel_w > kMaxTaps` multiplies two ints; for a
// 65536x65536 kernel the product overflows (UB; wraps to 0 in practice), so validate() accepts a
// kernel of 2^32 taps, and 65536x65537 is reported as "65536 taps". Compute the product in 64 bits.
TEST_CASE("a kernel whose tap count overflows int is still rejected") {
  check_mentions(rejection(problem(65536, 65536, 65536, Padding{})), {"65536x65536", "4294967296 taps"});
  check_mentions(rejection(problem(100000, 65536, 65537, Padding{})), {"4295032832 taps"});
}

TEST_CASE("describe() names the dtype, norm, shape and padding") {
  const std::string d = describe(paper_6x11_causal());
  check_mentions(d, {"bf16", "softmax", "B=2", "C_in=16", "C_out=16", "L=2048", "kernel=6x11", "stride=1x1",
                     "top 5, bottom 0, left 5, right 5", "groups=16", "bias=no"});
}

}  // TEST_SUITE

}  // namespace
}  // namespace attnjit
