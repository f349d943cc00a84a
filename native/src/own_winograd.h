// convkit's own Winograd F(2x2, 3x3) convolution for AVX2 builds (own_winograd.cc).
#pragma once

#include "conv_common.h"
#include "plan.h"

namespace convkit {

// Whether the Winograd kernel runs `g`: 3x3, stride 1, undilated, ungrouped, padded by 1 on
// every side, on a build with AVX2 and FMA.
bool ownWinogradRuns(const convplan::ConvGeometry& g);
// Sets plan.custom to the kernel on buffers [src nChw8c, weights OIhw8i8o, dst nChw8c].
void ownWinogradCustom(Plan& plan, const convplan::ConvGeometry& g);
// The addon's ownWinograd3x3Plan: own_conv.cc's ownConv3x3Plan on builds without AVX-512.
Napi::Value OwnWinograd3x3Plan(const Napi::CallbackInfo& info);

}  // namespace convkit
