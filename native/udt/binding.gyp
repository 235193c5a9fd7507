{
  "targets": [
    {
      "target_name": "udt",
      "sources": [
        "src/addon.cc",
        "src/common.cc",
        "src/connection.cc",
        "src/connector.cc",
        "src/listener.cc",
        "src/ratecc.cc"
      ],
      "dependencies": [
        "<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"
      ],
      "defines": ["NAPI_VERSION=8"],
      "cflags_cc": ["-O2", "-Wall", "-Wno-unused-parameter"],
      "libraries": ["-ludt", "-lpthread"]
    }
  ]
}
