// Every invalid argument or shape raises convkit::ArgumentError (a convkit::Error) naming the
// argument, the value received and what was expected.
#include <type_traits>

#include "test_util.h"

namespace convkit::test {
namespace {

using namespace convkit::nn;

void expect_error(const std::function<void()>& f, const std::vector<std::string>& parts) {
  expect_error_of<ArgumentError>(f, parts);
}

// The two kinds, their common base and the standard exceptions each is.
static_assert(std::is_abstract_v<Error>);
static_assert(std::is_base_of_v<Error, ArgumentError> && std::is_base_of_v<Error, FileError>);
static_assert(std::is_base_of_v<std::invalid_argument, ArgumentError> && !std::is_base_of_v<std::runtime_error, ArgumentError>);
static_assert(std::is_base_of_v<std::runtime_error, FileError> && !std::is_base_of_v<std::logic_error, FileError>);

template <typename Caught, typename Thrown>
bool caught_as() {
  try {
    throw Thrown("message");
  } catch (const Caught& e) {
    return std::string(e.what()) == "message";
  } catch (...) {
    return false;
  }
}

TEST(ConvErrors, TheTwoKindsAreCaughtAsErrorAndAsTheirStandardBase) {
  EXPECT_TRUE((caught_as<Error, ArgumentError>()));
  EXPECT_TRUE((caught_as<Error, FileError>()));
  EXPECT_TRUE((caught_as<std::exception, ArgumentError>()));  // unambiguous: one std::exception base
  EXPECT_TRUE((caught_as<std::exception, FileError>()));
  EXPECT_TRUE((caught_as<std::invalid_argument, ArgumentError>()));
  EXPECT_TRUE((caught_as<std::runtime_error, FileError>()));
  EXPECT_FALSE((caught_as<std::invalid_argument, FileError>()));
  EXPECT_FALSE((caught_as<FileError, ArgumentError>()));
  EXPECT_FALSE((caught_as<ArgumentError, FileError>()));
}

Tensor ones(const Shape& s, DType t = kFloat32) { return Tensor::full(s, 1.0, t); }

TEST(ConvErrors, ChannelMismatchNamesEverything) {
  expect_error([] { F::conv1d(ones({20, 15, 50}), ones({33, 16, 3})); },
               {"groups=1", "weight of size [33, 16, 3]", "input[20, 15, 50]", "to have 16 channels", "got 15 channels"});
  expect_error([] { F::conv2d(ones({2, 4, 5, 5}), ones({6, 4, 3, 3}), {}, F::Conv2dFuncOptions().groups(2)); },
               {"groups=2", "[6, 4, 3, 3]", "input[2, 4, 5, 5]", "8 channels", "got 4 channels"});
}

TEST(ConvErrors, KernelLargerThanPaddedInputNamesBothSizes) {
  expect_error([] { F::conv1d(ones({2, 4, 5}), ones({6, 4, 7})); },
               {"padded input size per channel: (5)", "Kernel size: (7)"});
  expect_error([] { F::conv2d(ones({1, 4, 3, 3}), ones({6, 4, 4, 2}), {}, F::Conv2dFuncOptions().padding(0)); },
               {"(3 x 3)", "(4 x 2)"});
  // Dilation enlarges the kernel: 3 taps at dilation 3 span 7.
  expect_error([] { F::conv1d(ones({2, 4, 5}), ones({6, 4, 3}), {}, F::Conv1dFuncOptions().dilation(3)); },
               {"(5)", "Kernel size: (7)", "dilation (3,)"});
}

TEST(ConvErrors, PaddingModeLimits) {
  expect_error([] { F::conv1d(ones({1, 1, 3}), ones({1, 1, 3}), {}, F::Conv1dFuncOptions().padding(3).padding_mode("reflect")); },
               {"reflect", "padding (3, 3)", "input [1, 1, 3]", "size there is 3"});
  expect_error([] { F::conv2d(ones({1, 1, 3, 4}), ones({1, 1, 3, 3}), {}, F::Conv2dFuncOptions().padding({0, 4}).padding_mode("reflect")); },
               {"reflect", "padding (4, 4)", "spatial dimension 1"});
  expect_error([] { F::conv1d(ones({1, 1, 3}), ones({1, 1, 3}), {}, F::Conv1dFuncOptions().padding(4).padding_mode("circular")); },
               {"circular", "padding (4, 4)", "more than once"});
  // pad == S is fine for circular, and any pad for replicate.
  EXPECT_NO_THROW(F::conv1d(ones({1, 1, 3}), ones({1, 1, 3}), {}, F::Conv1dFuncOptions().padding(3).padding_mode("circular")));
  EXPECT_NO_THROW(F::conv1d(ones({1, 1, 3}), ones({1, 1, 3}), {}, F::Conv1dFuncOptions().padding(9).padding_mode("replicate")));
}

TEST(ConvErrors, BadRanksAndDtypes) {
  expect_error([] { F::conv1d(ones({20}), ones({6, 4, 3})); },
               {"Expected 2D (unbatched) or 3D (batched) input to conv1d", "input of size: [20]"});
  expect_error([] { F::conv2d(ones({1, 2, 3, 4, 5}), ones({6, 2, 3, 3})); }, {"3D (unbatched) or 4D (batched)", "[1, 2, 3, 4, 5]"});
  expect_error([] { F::conv1d(ones({2, 4, 5}), ones({6, 4})); }, {"weight of size [6, 4]"});
  expect_error([] { F::conv1d(ones({2, 4, 5}), ones({6, 4, 3}, kFloat64)); }, {"input dtype float32", "weight dtype float64"});
  expect_error([] { F::conv1d(ones({2, 4, 5}), ones({6, 4, 3}), ones({6}, kFloat16)); }, {"float32", "bias dtype float16"});
  expect_error([] { F::conv1d(ones({2, 4, 5}), ones({6, 4, 3}), ones({5})); },
               {"expected bias to be 1-dimensional with 6 elements", "bias of size [5]"});
  expect_error([] { F::conv1d(ones({2, 4, 5}), ones({6, 4, 3}), ones({1, 6, 2})); }, {"[1, 6, 2]"});
  expect_error([] { F::conv1d(ones({2, 4, 5}), ones({6, 4, 0})); }, {"empty dimension"});
}

TEST(ConvErrors, ArgumentValues) {
  const Tensor x = ones({2, 4, 5}), w = ones({6, 4, 3});
  expect_error([&] { F::conv1d(x, w, {}, F::Conv1dFuncOptions().stride(0)); }, {"non-positive stride", "(0,)"});
  expect_error([&] { F::conv1d(x, w, {}, F::Conv1dFuncOptions().dilation(-1)); }, {"non-positive dilation"});
  expect_error([&] { F::conv1d(x, w, {}, F::Conv1dFuncOptions().groups(0)); }, {"non-positive groups", "groups=0"});
  expect_error([&] { F::conv1d(x, w, {}, F::Conv1dFuncOptions().padding(-1)); }, {"negative padding"});
  expect_error([&] { F::conv1d(x, ones({5, 2, 3}), {}, F::Conv1dFuncOptions().groups(2)); },
               {"Given groups=2, expected weight to be divisible by 2 at dimension 0", "[5, 2, 3]"});
  expect_error([&] { F::conv1d(x, w, {}, F::Conv1dFuncOptions().padding("foo")); }, {"Invalid padding string 'foo'"});
  expect_error([&] { F::conv2d(ones({1, 4, 5, 5}), ones({6, 4, 3, 3}), {}, F::Conv2dFuncOptions().padding("causal")); },
               {"causal", "1-d", "conv2d"});
  expect_error([&] { F::conv1d(x, w, {}, F::Conv1dFuncOptions().padding_mode("mirror")); },
               {"padding_mode must be one of", "'zeros', 'reflect', 'replicate', 'circular'", "mirror"});
  expect_error([&] { F::conv1d(x, w, {}, F::Conv1dFuncOptions().conv_mode("corr")); }, {"conv_mode", "corr"});
  expect_error([&] { F::conv1d(x, w, {}, F::Conv1dFuncOptions().compute_mode("float16")); }, {"compute_mode", "float16"});
  expect_error([&] { F::conv1d(x, w, {}, F::Conv1dFuncOptions().device("cuda")); }, {"device 'cuda'", "cpu"});
  expect_error([&] { F::conv2d(ones({1, 4, 5, 5}), ones({6, 4, 3, 3}), {}, F::Conv2dFuncOptions().stride({1, 2, 3})); },
               {"expected stride to be a single integer value or a list of 2 values", "got stride=[1, 2, 3]"});
  expect_error([&] { F::conv1d(x, ones({3, 2, 2, 3}), {}, F::Conv1dFuncOptions().groups(2)); },
               {"MegEngine grouped weight of size [3, 2, 2, 3]", "3 groups", "groups=2"});
  expect_error([&] { F::conv1d(x, Tensor()); }, {"weight is undefined"});
}

TEST(ConvErrors, ModuleOptions) {
  expect_error([] { Conv1d(Conv1dOptions(5, 6, 3).groups(2)); }, {"in_channels must be divisible by groups", "in_channels=5"});
  expect_error([] { Conv1d(Conv1dOptions(4, 5, 3).groups(2)); }, {"out_channels must be divisible by groups"});
  expect_error([] { Conv1d(Conv1dOptions(0, 5, 3)); }, {"in_channels must be positive"});
  expect_error([] { Conv2d(Conv2dOptions(1, 5, {3, 0})); }, {"kernel_size must be positive"});
  expect_error([] { Conv2d(Conv2dOptions(1, 5, 3).padding("causal")); }, {"causal", "1-d"});
  expect_error([] { Conv1d(Conv1dOptions(1, 5, 3).device("cuda:0")); }, {"cuda:0", "cpu"});
  expect_error([] { Conv1d(Conv1dOptions(1, 5, 3).padding_mode("zero")); }, {"'zeros', 'reflect', 'replicate', 'circular'"});
  Conv1d m(Conv1dOptions(4, 6, 3).groups(2));
  expect_error([&] { m.set_weight(ones({6, 4, 3})); }, {"expected weight of size [6, 2, 3]", "[2, 3, 2, 3]", "got [6, 4, 3]"});
  expect_error([&] { m.set_weight(ones({6, 2, 3}, kFloat64)); }, {"float64", "float32"});
  expect_error([&] { m.set_bias(ones({5})); }, {"bias of size [6]", "[5]"});
  expect_error([&] { m(ones({2, 4, 5}, kFloat64)); }, {"input dtype float64", "weight dtype float32"});
}

TEST(ConvErrors, SizesThatOverflowAreRejectedBeforeAllocation) {
  // A borrowed input whose output would have 2^64 elements: rejected, nothing allocated.
  float dummy[4] = {};
  const Tensor huge = Tensor::from_blob(dummy, {1, 1, int64_t{1} << 62}, kFloat32, {1, 1, 0});
  expect_error([&] { F::conv1d(huge, ones({4, 1, 1})); },
               {"input of size [1, 1, 4611686018427387904]", "weight of size [4, 1, 1]",
                "output of size [1, 4, 4611686018427387904]", "64 bits"});
  expect_error([&] { F::conv1d(ones({1, 1, 5}), ones({1, 1, 1}), {}, F::Conv1dFuncOptions().padding(INT64_MAX)); },
               {"padding=(9223372036854775807,)", "input size 5", "overflows 64 bits", "at most 9223372036854775802"});
  expect_error([&] { F::conv1d(ones({1, 1, 5}), ones({1, 1, 1}), {}, F::Conv1dFuncOptions().padding({{1, INT64_MAX}})); },
               {"padding=[(1, 9223372036854775807)]", "input size 5"});
  expect_error([&] { F::conv1d(ones({1, 1, 5}), ones({1, 1, 3}), {}, F::Conv1dFuncOptions().dilation(INT64_MAX)); },
               {"dilation=(9223372036854775807,)", "kernel_size (3,)", "overflows 64 bits",
                "expected dilation <= 4611686018427387903"});
}

// The three messages the reliability issue quotes, and their relatives.
TEST(ConvErrors, KernelExtentOverflowNamesDilationAndKernelSize) {
  // Was "kernel extent overflows 64 bits".
  expect_error([] { F::conv1d(ones({1, 1, 5}), ones({1, 1, 2}), {}, F::Conv1dFuncOptions().dilation(INT64_MAX)); },
               {"conv1d: dilation=(9223372036854775807,)", "kernel_size (2,)", "dilated kernel extent",
                "spatial dimension 0", "expected dilation <= 9223372036854775806"});
  expect_error([] { Conv2d(Conv2dOptions(1, 1, {1, 3}).dilation({1, INT64_MAX}))(ones({1, 1, 4, 4})); },
               {"dilation=(1, 9223372036854775807)", "kernel_size (1, 3)", "spatial dimension 1"});
}

TEST(ConvErrors, WrongLengthListsNameTheOption) {
  // Was "expected an int or a tuple of 2 ints, but got a tuple of 3" for every option.
  const std::string two = "to be a single integer value or a list of 2 values to match the convolution dimensions";
  expect_error([] { Conv2dOptions(1, 1, {3, 3, 3}); }, {"expected kernel_size " + two, "got kernel_size=[3, 3, 3]"});
  expect_error([] { Conv2dOptions(1, 1, 3).stride({1, 2, 3}); }, {"expected stride " + two, "got stride=[1, 2, 3]"});
  expect_error([] { Conv2dOptions(1, 1, 3).dilation({2}); }, {"expected dilation " + two, "got dilation=[2]"});
  expect_error([] { Conv2dOptions(1, 1, 3).padding({1, 2, 3}); }, {"expected padding " + two, "got padding=[1, 2, 3]"});
  expect_error([] { F::Conv2dFuncOptions().dilation({1, 2, 3}); }, {"expected dilation " + two, "dilation=[1, 2, 3]"});
  expect_error([] { F::Conv3dFuncOptions().padding(std::vector<int64_t>{}); }, {"list of 3 values", "padding=[]"});
  expect_error([] { Conv2dOptions(1, 1, 3).padding({{1, 2}, {0, 1}, {2, 2}}); },
               {"expected padding to be 2 (lo, hi) pairs", "got 3 pairs", "padding=[(1, 2), (0, 1), (2, 2)]"});
  // An array of the wrong length that reaches no setter still refuses to be read.
  expect_error([] { (void)ExpandingArray<2>({1, 2, 3})[0]; }, {"list of 2 values", "[1, 2, 3]"});
}

TEST(ConvErrors, HugeChannelCountsNameTheOption) {
  // Was "shape [1, 9223372036854775807, 3] has more elements than fit in 64 bits".
  expect_error([] { Conv1d(Conv1dOptions(INT64_MAX, 1, 3)); },
               {"Conv1d(in_channels=9223372036854775807, out_channels=1, kernel_size=(3,), groups=1)",
                "weight (out_channels, in_channels / groups, *kernel_size) = [1, 9223372036854775807, 3]",
                "more bytes than fit in 64 bits"});
  expect_error([] { Conv2d(Conv2dOptions(2, INT64_MAX / 2, 3)); },
               {"out_channels=4611686018427387903", "groups=1"});
  expect_error([] { Conv3d(Conv3dOptions(1, 1, {1 << 30, 1 << 30, 1 << 30})); },
               {"kernel_size=(1073741824, 1073741824, 1073741824)", "[1, 1, 1073741824, 1073741824, 1073741824]"});
  expect_error([] { Conv1d(Conv1dOptions(-3, 1, 3)); }, {"in_channels must be positive", "in_channels=-3"});
}

TEST(ConvErrors, TensorSizeMessagesNameTheShape) {
  expect_error([] { ones({4}).view({-1, INT64_MAX, 4}); },
               {"shape '[-1, 9223372036854775807, 4]' is invalid for input of size 4", "overflows 64 bits"});
  expect_error([] { Tensor::empty({5, -1, 3}); }, {"negative dimension -1", "[5, -1, 3]"});
  expect_error([] { Tensor::empty({INT64_MAX, 2}); }, {"shape [9223372036854775807, 2]", "64 bits"});
  float x = 0;
  expect_error([&] { Tensor::from_blob(&x, {1, 1}, kFloat32, {1}); }, {"strides", "2 entries", "strides=[1]"});
}

}  // namespace
}  // namespace convkit::test
