// CRC-32C (Castagnoli), the integrity check of every payload on the wire: with SSE4.2's crc32
// instruction on three interleaved streams (~20 GB/s), else eight-table slicing. The same function as
// shared/codec/crc32c.ts, value for value.
#pragma once

#include <node_api.h>

namespace ff {

// Adds crc32c(data, crc) and copyCrc32c(dst, src, crc) to the addon's exports.
void DefineChecksum(napi_env env, napi_value exports);

}  // namespace ff
