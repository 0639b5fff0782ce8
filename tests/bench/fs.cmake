# The filesystem's benchmark (fs/): nullfs, a FUSE filesystem that does
# nothing (the floor), and fs_bench, which measures enqueue through the
# actorfs mount beside it and beside an fdatasync, in one run (the
# seedloop plugin, from suite.cmake, gives it a queue nothing takes from).
add_executable(nullfs ${CMAKE_CURRENT_LIST_DIR}/nullfs.c
  ${CMAKE_SOURCE_DIR}/fs/uring.c)
target_include_directories(nullfs PRIVATE ${CMAKE_SOURCE_DIR}/fs)
target_link_libraries(nullfs PRIVATE PkgConfig::FUSE3 Threads::Threads)

add_executable(fs_bench ${CMAKE_CURRENT_LIST_DIR}/fs_bench.c)
target_link_libraries(fs_bench PRIVATE Threads::Threads)
target_compile_definitions(fs_bench PRIVATE
  FSB_ACTORFS="$<TARGET_FILE:actorfs>" FSB_NULLFS="$<TARGET_FILE:nullfs>"
  FSB_PLUGIN="$<TARGET_FILE:seedloop_plugin>")
add_dependencies(fs_bench actorfs nullfs seedloop_plugin)

# The benchmark at a tiny size, so that it keeps working (it mounts FUSE).
add_test(NAME bench.fs_smoke COMMAND fs_bench --messages 64 --rounds 2)
# It switches the fuse module's enable_uring on and back, as
# fs_io_uring does: never both at once, or one puts back the other's.
set_tests_properties(bench.fs_smoke PROPERTIES TIMEOUT 180
  RESOURCE_LOCK fuse_enable_uring)
