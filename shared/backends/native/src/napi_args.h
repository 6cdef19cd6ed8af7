// Node-API argument helpers shared by the addon's source files. Each Get* returns false after
// throwing a JS exception (TypeError for a wrong type, RangeError for a wrong extent).
#pragma once

#include <node_api.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>

#include <initializer_list>

namespace ff {


inline bool Throw(napi_env env, const char* msg, bool range = true) {
  if (range) {
    napi_throw_range_error(env, nullptr, msg);
  } else {
    napi_throw_type_error(env, nullptr, msg);
  }
  return false;
}

// A typed array's element type, data and length in elements; false (TypeError "<what> must be a
// <kind>") when v is not a typed array.
inline bool GetTypedArray(napi_env env, napi_value v, napi_typedarray_type* type, void** data, size_t* length,
                          const char* what, const char* kind) {
  bool is_ta = false;
  napi_is_typedarray(env, v, &is_ta);
  if (!is_ta) {
    char msg[128];
    snprintf(msg, sizeof msg, "%s must be a %s", what, kind);
    return Throw(env, msg, false);
  }
  napi_get_typedarray_info(env, v, type, length, data, nullptr, nullptr);
  return true;
}

// A typed array of exactly `want` (`kind` names it in the TypeError), as T* and its length in elements.
template <class T>
inline bool GetTypedOf(napi_env env, napi_value v, napi_typedarray_type want, const char* kind, T** data, int64_t* len,
                       const char* what) {
  napi_typedarray_type type;
  size_t length = 0;
  void* ptr = nullptr;
  if (!GetTypedArray(env, v, &type, &ptr, &length, what, kind)) return false;
  if (type != want) {
    char msg[128];
    snprintf(msg, sizeof msg, "%s must be a %s", what, kind);
    return Throw(env, msg, false);
  }
  *data = static_cast<T*>(ptr);
  *len = static_cast<int64_t>(length);
  return true;
}

inline bool GetF32(napi_env env, napi_value v, float** data, int64_t* len, const char* what) {
  return GetTypedOf(env, v, napi_float32_array, "Float32Array", data, len, what);
}

// Any typed array (a Buffer included), as bytes.
inline bool GetBytes(napi_env env, napi_value v, uint8_t** data, size_t* bytes, const char* what) {
  napi_typedarray_type type;
  size_t length = 0;
  void* ptr = nullptr;
  if (!GetTypedArray(env, v, &type, &ptr, &length, what, "typed array")) return false;
  size_t size = 4;
  switch (type) {
    case napi_int8_array:
    case napi_uint8_array:
    case napi_uint8_clamped_array:
      size = 1;
      break;
    case napi_int16_array:
    case napi_uint16_array:
      size = 2;
      break;
    case napi_float64_array:
    case napi_bigint64_array:
    case napi_biguint64_array:
      size = 8;
      break;
    default:
      break;
  }
  *data = static_cast<uint8_t*>(ptr);
  *bytes = length * size;
  return true;
}

inline bool GetF64(napi_env env, napi_value v, double** data, int64_t* len, const char* what) {
  return GetTypedOf(env, v, napi_float64_array, "Float64Array", data, len, what);
}

inline bool GetI32(napi_env env, napi_value v, int32_t** data, int64_t* len, const char* what) {
  return GetTypedOf(env, v, napi_int32_array, "Int32Array", data, len, what);
}

// Float32Array, or null/undefined -> nullptr with length 0.
inline bool GetOptF32(napi_env env, napi_value v, float** data, int64_t* len, const char* what) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t == napi_null || t == napi_undefined) {
    *data = nullptr;
    *len = 0;
    return true;
  }
  return GetF32(env, v, data, len, what);
}

inline bool GetInt(napi_env env, napi_value v, int64_t* out, const char* what) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok || !(d == floor(d)) || d < 0 || d > 2147483647.0) {
    char msg[128];
    snprintf(msg, sizeof msg, "%s must be an integer in [0, 2^31)", what);
    return Throw(env, msg, false);
  }
  *out = static_cast<int64_t>(d);
  return true;
}

// A JavaScript array of exactly n integers (each as GetInt checks it) into vals; otherwise throws
// `shapeError` (a TypeError) or GetInt's error naming `what`.
inline bool GetIntArray(napi_env env, napi_value v, uint32_t n, int64_t* vals, const char* shapeError, const char* what) {
  bool is_array = false;
  napi_is_array(env, v, &is_array);
  uint32_t len = 0;
  if (is_array) napi_get_array_length(env, v, &len);
  if (!is_array || len != n) return Throw(env, shapeError, false);
  for (uint32_t i = 0; i < n; ++i) {
    napi_value e;
    napi_get_element(env, v, i, &e);
    if (!GetInt(env, e, &vals[i], what)) return false;
  }
  return true;
}

inline bool GetNum(napi_env env, napi_value v, double* out, const char* what) {
  if (napi_get_value_double(env, v, out) != napi_ok) {
    char msg[128];
    snprintf(msg, sizeof msg, "%s must be a number", what);
    return Throw(env, msg, false);
  }
  return true;
}

inline bool GetBool(napi_env env, napi_value v, bool* out) {
  napi_value b;
  napi_coerce_to_bool(env, v, &b);
  napi_get_value_bool(env, b, out);
  return true;
}
// Reads the call's first `need` arguments into v; throws a TypeError showing `usage` when fewer were given.
inline bool GetArgs(napi_env env, napi_callback_info info, napi_value* v, size_t need, const char* usage) {
  size_t n = need;
  napi_get_cb_info(env, info, &n, v, nullptr, nullptr);
  if (n < need) return Throw(env, usage, false);
  return true;
}

struct Method {
  const char* name;
  napi_callback fn;
};

// Adds the functions to `exports` as enumerable properties.
inline void DefineMethods(napi_env env, napi_value exports, std::initializer_list<Method> methods) {
  for (const Method& m : methods) {
    napi_property_descriptor d = {m.name, nullptr, m.fn, nullptr, nullptr, nullptr, napi_enumerable, nullptr};
    napi_define_properties(env, exports, 1, &d);
  }
}
}  // namespace ff
