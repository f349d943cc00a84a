{
  "targets": [
    {
      "target_name": "convkit_native",
      "sources": [
        "src/addon.cc",
        "src/common.cc",
        "src/conv.cc",
        "src/matmul.cc",
        "src/eltwise.cc",
        "src/pool.cc",
        "src/softmax.cc",
        "src/batch_norm.cc",
        "src/lrn.cc",
        "src/binary.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_CPP_EXCEPTIONS", "NAPI_VERSION=8"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-O2", "-fexceptions"],
      "libraries": ["-ldnnl"]
    }
  ]
}
