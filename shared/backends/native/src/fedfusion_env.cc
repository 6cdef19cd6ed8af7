// setenv()/unsetenv()/getenv() on the process's real C environment. Loaded before fedfusion_native so that
// OPENBLAS_CORETYPE / OPENBLAS_NUM_THREADS reach OpenBLAS's load-time initialisation even in worker
// threads (whose process.env is a per-thread copy).
#include <node_api.h>
#include <stdlib.h>
#include <string.h>

static bool GetString(napi_env env, napi_value v, char* buf, size_t cap) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, buf, cap, &len) != napi_ok) {
    napi_throw_type_error(env, nullptr, "expected a string");
    return false;
  }
  if (len + 1 >= cap) {
    napi_throw_range_error(env, nullptr, "string too long");
    return false;
  }
  return true;
}

// setenv(name, value, overwrite) -> boolean (whether the value was set)
static napi_value SetEnv(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value args[3];
  napi_get_cb_info(env, info, &argc, args, nullptr, nullptr);
  if (argc < 2) {
    napi_throw_type_error(env, nullptr, "setenv(name, value, overwrite?)");
    return nullptr;
  }
  char name[256], value[1024];
  if (!GetString(env, args[0], name, sizeof name) || !GetString(env, args[1], value, sizeof value)) return nullptr;
  bool overwrite = false;
  if (argc >= 3) napi_get_value_bool(env, args[2], &overwrite);
  bool did = false;
  if (overwrite || getenv(name) == nullptr) did = setenv(name, value, 1) == 0;
  napi_value out;
  napi_get_boolean(env, did, &out);
  return out;
}

// unsetenv(name)
static napi_value UnsetEnv(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value args[1];
  napi_get_cb_info(env, info, &argc, args, nullptr, nullptr);
  if (argc < 1) {
    napi_throw_type_error(env, nullptr, "unsetenv(name)");
    return nullptr;
  }
  char name[256];
  if (!GetString(env, args[0], name, sizeof name)) return nullptr;
  unsetenv(name);
  return nullptr;
}

// getenv(name) -> string | undefined
static napi_value GetEnv(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value args[1];
  napi_get_cb_info(env, info, &argc, args, nullptr, nullptr);
  if (argc < 1) {
    napi_throw_type_error(env, nullptr, "getenv(name)");
    return nullptr;
  }
  char name[256];
  if (!GetString(env, args[0], name, sizeof name)) return nullptr;
  const char* v = getenv(name);
  napi_value out;
  if (v == nullptr) {
    napi_get_undefined(env, &out);
  } else {
    napi_create_string_utf8(env, v, NAPI_AUTO_LENGTH, &out);
  }
  return out;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"setenv", nullptr, SetEnv, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"unsetenv", nullptr, UnsetEnv, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"getenv", nullptr, GetEnv, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
