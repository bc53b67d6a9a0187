// convkit: convolution layers with PyTorch's semantics. Include this one header.
#pragma once

#include "convkit/dtype.h"
#include "convkit/error.h"
#include "convkit/nn/functional/conv.h"
#include "convkit/nn/modules/conv.h"
#include "convkit/nn/options/conv.h"
#include "convkit/plan.h"
#include "convkit/random.h"
#include "convkit/settings.h"
#include "convkit/spec.h"
#include "convkit/tensor.h"
#include "convkit/threads.h"
#include "convkit/version.h"

/// @namespace convkit
/// Tensors, dtypes, errors, random numbers, threads, the rank-free ConvSpec / ConvPlan entry
/// and the version.
/// @namespace convkit::nn
/// Modules (Conv1d..3d, ConvTranspose1d..3d) and their options, in libtorch's style.
/// @namespace convkit::nn::functional
/// Functions (F::conv2d, F::conv_backward, ...); `convkit::F` is an alias of this namespace.
/// @namespace convkit::io
/// Reading and writing .npy and safetensors files.
