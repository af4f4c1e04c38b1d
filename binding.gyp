{
  "targets": [
    {
      "target_name": "memlogd_native",
      "sources": ["lib/native/memlogd_native.c"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-O2"]
    }
  ]
}
