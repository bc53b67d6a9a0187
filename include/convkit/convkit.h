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
