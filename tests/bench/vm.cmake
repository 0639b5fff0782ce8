# vm.cmake - the VM backend's benchmark (bench_vm): exec latency in the
# sandbox against a bare spawn, and a test-agent session.  It prints a
# table; it is not a ctest test.
if(TARGET actorfs_vm)
  add_executable(bench_vm ${CMAKE_CURRENT_LIST_DIR}/vm_bench.c)
  target_link_libraries(bench_vm PRIVATE actorfs_vm actorfs_engine PkgConfig::UV
                                         PkgConfig::CJSON)
endif()
