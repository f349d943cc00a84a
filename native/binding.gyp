{
  "targets": [
    {
      "target_name": "convkit_native",
      "sources": [
        "src/addon.cc",
        "src/plan.cc",
        "src/queue.cc",
        "src/conv.cc",
        "src/matmul.cc",
        "src/optim.cc",
        "src/eltwise.cc",
        "src/binary.cc",
        "src/pool.cc",
        "src/batch_norm.cc",
        "src/lrn.cc",
        "src/softmax.cc",
        "src/concat.cc",
        "src/window.cc",
        "src/reduce.cc",
        "src/space_to_depth.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_CPP_EXCEPTIONS", "NAPI_VERSION=8"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-O3", "-march=native", "-fexceptions", "-fopenmp"],
      "libraries": ["-ldnnl", "-fopenmp"]
    }
  ]
}
