// convkit's own Winograd convolutions for AVX2 builds (own_winograd.cc): F(2x2, 3x3), F(4x4, 3x3)
// and F(2x2, 5x5).
#pragma once

#include "conv_common.h"
#include "plan.h"

namespace convkit {

// Whether the Winograd kernel runs `g`: 3x3 padded by 1 or 5x5 padded by 2 on every side, stride
// 1, undilated, ungrouped, on a build with AVX2 and FMA.
bool ownWinogradRuns(const convplan::ConvGeometry& g);
// Its maps (nChw8c) and weights (OIhw8i8o); where it does not run `g`, the error conv-algorithm.ts
// recognises ("has no own implementation").
convplan::OwnConvDescs ownWinogradDescs(const convplan::ConvGeometry& g);
// What an own forward does after the sum (conv2dPlan's post-ops): buffers [src, weights, (bias),
// dst, (addend)].
struct OwnPostOps {
  bool bias = false, relu = false, sum = false;
  bool transformed = false;  // the weights arrive transformed (ownWinogradWeightsTransformPlan)
  int64_t tile = 2;          // outputs per tile side: F(2x2, 3x3) or F(4x4, 3x3) (own_winograd_6pt.h)
};
// The optional options argument `index` ({ bias, relu, sum, transformed?, tile? }, each false or 2 when absent).
OwnPostOps ownPostOpsOf(const Napi::CallbackInfo& info, size_t index, const char* op);
// The layout of transformed weights: plain [(tile + kernel side - 1)^2 positions, outputs / 16, inputs rounded up
// to `lanes` (8, or 16 for own_winograd16.cc), 16].
dnnl::memory::desc transformedWeightsDesc(const convplan::ConvGeometry& g, int64_t tile, int64_t lanes);
// Sets the plan's loop to the forward.
void ownWinogradCustom(Plan& plan, const convplan::ConvGeometry& g, const OwnPostOps& post);
// Sets plan.custom to the weight transform: buffers [weights OIhw8i8o, transformed].
void ownWinogradTransformCustom(Plan& plan, const convplan::ConvGeometry& g, int64_t tile);
// Sets plan.custom to the backward weights on buffers [src, diffDst, diffWeights] (own_winograd_weights.cc),
// F(tile x tile, 3x3).
void ownWinogradWeightsCustom(Plan& plan, const convplan::ConvGeometry& g, int64_t tile);
// The optional options argument `index` ({ tile? }): 2 (F(2x2, 3x3), when absent) or 4 (F(4x4, 3x3)).
int64_t winogradTileArg(const Napi::CallbackInfo& info, size_t index, const char* op);
// Its optional field `lanes`: 8 (when absent) or 16.
int64_t lanesArg(const Napi::CallbackInfo& info, size_t index, const char* op);
// The addon's plans: own_conv.cc's and own_conv_weights.cc's on builds without AVX-512.
Napi::Value OwnWinogradPlan(const Napi::CallbackInfo& info);
Napi::Value OwnWinograd3x3BackwardWeightsPlan(const Napi::CallbackInfo& info);
// A 1x1 conv of stride 1 or 2, undilated, ungrouped, unpadded (own_conv1x1.cc), and its plan: ownConvPlan's for such a
// conv on builds with AVX-512 or AVX2 and FMA (elsewhere the error "has no own implementation").
bool ownConv1x1Shape(const convplan::ConvGeometry& g);
Napi::Value OwnConv1x1Plan(const Napi::CallbackInfo& info, const convplan::ConvGeometry& g, const OwnPostOps& post);

}  // namespace convkit
