{
  "targets": [
    {
      "target_name": "procfuse_native",
      "sources": [
        "native/addon.cc",
        "native/errno_error.cc",
        "native/fuse_session.cc",
        "native/handle_table.cc",
        "native/mem_reader.cc",
        "native/ns_info.cc",
        "native/procfs_instance.cc",
        "native/write_as.cc",
        "native/reader_creds.cc",
        "native/reader_ops.cc",
        "native/reader_pool.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=9", "NAPI_DISABLE_CPP_EXCEPTIONS", "FUSE_USE_VERSION=314", "_FILE_OFFSET_BITS=64"],
      "cflags": ["-Wall", "-Wextra", "<!@(pkg-config --cflags fuse3)"],
      "cflags_cc": ["-Wall", "-Wextra", "-std=c++17", "<!@(pkg-config --cflags fuse3)"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "libraries": ["<!@(pkg-config --libs fuse3)", "-lpthread"]
    },
    {
      "target_name": "procfuse-sandbox",
      "type": "executable",
      "sources": ["native/sandbox.c"],
      "cflags": ["-Wall", "-Wextra", "-std=gnu11"]
    },
    {
      "target_name": "procfuse-inject",
      "type": "executable",
      "sources": ["native/inject.c"],
      "cflags": ["-Wall", "-Wextra", "-std=gnu11"]
    }
  ]
}
