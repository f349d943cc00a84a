// convkit's Winograd F(4x4, 3x3) on 16-channel blocks for AVX-512 builds (own_winograd16.cc, and its backward
// weights own_winograd16_weights.cc).
#pragma once

#include "conv_common.h"
#include "own_winograd.h"
#include "plan.h"

namespace convkit {

// Whether it runs `g` on this build: 3x3 padded by 1 on every side, stride 1, undilated, ungrouped, with its
// transformed weights within six L2 caches (own_winograd_tiles.h's fused schedule), on an AVX-512 build.
bool ownWinograd16Runs(const convplan::ConvGeometry& g);
// ownConvPlan's plan of tile 4 where it runs (buffers [src nChw16c, weights OIhw16i16o, (bias [O]), dst nChw16c,
// (addend nChw16c)]: y = conv + bias, + addend, then ReLU; with `transformed`, the weights transformed (by
// OwnWinograd16WeightsTransformPlan) and one more buffer, last, guardWeights, holding them as OIhw16i16o); elsewhere
// the error "has no own implementation".
Napi::Value OwnWinograd16Plan(const Napi::CallbackInfo& info, const convplan::ConvGeometry& g, const OwnPostOps& post);
// ownWinogradWeightsTransformPlan's plan of 16 lanes (tile 4, where it runs): buffers [weights OIhw16i16o,
// transformed], as its `transformed` plans read them (transformedWeightsDesc of 16 lanes).
Napi::Value OwnWinograd16WeightsTransformPlan(const Napi::CallbackInfo& info, const convplan::ConvGeometry& g,
                                              int64_t tile);
// ownConv3x3BackwardWeightsPlan's plan of tile 4 where it runs (own_winograd16_weights.cc: buffers [src nChw16c,
// diffDst nChw16c, diffWeights OIhw16i16o]); elsewhere the error "has no own implementation".
Napi::Value OwnWinograd16WeightsPlan(const Napi::CallbackInfo& info, const convplan::ConvGeometry& g);
#ifdef __AVX512F__
// own_conv_weights.cc's direct kernel on a 3x3, stride-1 conv padded by 1: dw (OIhw16i16o) from x and dy (nChw16c).
void ownConv3x3DirectWeights(const float* x, const float* dy, float* dw, const convplan::ConvGeometry& g);
// own_conv.cc's direct kernel on a 3x3, stride-1 conv padded by 1: y = relu?(conv + bias), bias null or [O].
void ownConv3x3Direct(const float* x, const float* w, const float* bias, bool relu, float* y,
                      const convplan::ConvGeometry& g);
#endif

}  // namespace convkit
