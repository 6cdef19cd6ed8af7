{
  "targets": [
    {
      # The kernels: sgemm (OpenBLAS, and src/small_gemm.cc for small products on AVX-512), im2col/col2im, whole conv2d passes and fused bias+activation; CRC-32C
      # and the table gathers that decode float16/int8 payloads; cuBLAS products for the `cuda` backend, through
      # dlopen (no CUDA needed to build).
      "target_name": "fedfusion_native",
      "sources": ["src/fedfusion_native.cc", "src/conv_core.cc", "src/elementwise.cc", "src/aggregation.cc", "src/encoder.cc", "src/attention.cc", "src/checksum.cc", "src/codec.cc", "src/conv_pool.cc", "src/conv_pool_direct.cc", "src/conv_pool_direct_avx2.cc", "src/conv_pool_direct_avx512.cc", "src/cuda_gemm.cc", "src/isa.cc", "src/small_gemm.cc"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      # No FMA contraction: the aggregation loops must round exactly as their JavaScript twins do.
      "cflags": ["-O3", "-fno-math-errno", "-fno-trapping-math", "-ffp-contract=off"],
      "cflags_cc": ["-O3", "-fno-math-errno", "-fno-trapping-math", "-ffp-contract=off", "-std=c++17"],
      "defines": ["NAPI_VERSION=8"],
      "libraries": ["-lopenblas", "-ldl"]
    },
    {
      # No OpenBLAS here: it sets OPENBLAS_* in the real C environment before fedfusion_native (and so
      # libopenblas, which reads them once when it is loaded) is loaded. Needed in worker threads, where
      # assigning process.env does not reach getenv().
      "target_name": "fedfusion_env",
      "sources": ["src/fedfusion_env.cc"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
