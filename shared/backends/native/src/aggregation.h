// The coordinator's per-value aggregation loops (FedAvg's float64 fold and finish, update checks), the
// same arithmetic as their JavaScript versions in coordinator/strategies/foldKernels.ts, value for
// value: compiled without FMA contraction, so both give bit-identical results.
#pragma once

#include <node_api.h>

namespace ff {

// Adds foldDelta, foldWeights, finishMean and sumOfSquares to the addon's exports.
void DefineAggregation(napi_env env, napi_value exports);

}  // namespace ff
