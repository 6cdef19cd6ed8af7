// Table gathers for decoding lossy payloads: float16 (a 65,536-entry table of float32 bits indexed by the
// half's bits) and int8 (a 256-entry table of the tensor's dequantized values). The tables are built by
// shared/codec/encodings.ts, so native and JavaScript decoding give the same bits by construction.
#pragma once

#include <node_api.h>

namespace ff {

// Adds gather32(table, indices, out) to the addon's exports.
void DefineCodec(napi_env env, napi_value exports);

}  // namespace ff
