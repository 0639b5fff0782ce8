# suite.cmake - the benchmarks scripts/bench runs beside the engine's and
# the filesystem's: the seed's loop as a --load plugin (driven through the
# mount by mount_seedloop.sh), three C programs on the engine API (idle
# actors, recovery after kill -9, replay against history length) and the
# disk's floors.
# Each also runs here as a small smoke test: the programs exit non-zero
# unless the work they time was really done (every wake seen, every
# workflow resumed, every message processed), and ASan checks them at
# exit; scripts/bench runs them at full size.

add_library(seedloop_plugin MODULE ${CMAKE_CURRENT_LIST_DIR}/seedloop_plugin.c)
target_include_directories(seedloop_plugin PRIVATE ${PROJECT_SOURCE_DIR}/engine)
target_link_libraries(seedloop_plugin PRIVATE PkgConfig::CJSON)
set_target_properties(seedloop_plugin PROPERTIES PREFIX "lib" SUFFIX ".so")

add_library(bench_util STATIC ${CMAKE_CURRENT_LIST_DIR}/bench_util.c)
target_include_directories(bench_util PUBLIC ${CMAKE_CURRENT_LIST_DIR}
                                             ${PROJECT_SOURCE_DIR}/engine)
target_link_libraries(bench_util PUBLIC PkgConfig::CJSON Threads::Threads)

# The disk's own floors: fdatasync and a SQLite WAL commit.
add_executable(bench_floors ${CMAKE_CURRENT_LIST_DIR}/floors.c)
target_link_libraries(bench_floors PRIVATE bench_util PkgConfig::SQLITE3)
add_test(NAME bench.floors_smoke COMMAND bench_floors --count 20)
set_tests_properties(bench.floors_smoke PROPERTIES TIMEOUT 60 LABELS once)

if(TARGET actorfs_engine)
  foreach(prog recovery replay)
    add_executable(bench_${prog} ${CMAKE_CURRENT_LIST_DIR}/${prog}.c)
    target_link_libraries(bench_${prog} PRIVATE bench_util actorfs_engine)
  endforeach()
  # idle parks the examples' counter, the README's hello world.
  if(TARGET actorfs_examples)
    add_executable(bench_idle ${CMAKE_CURRENT_LIST_DIR}/idle.c)
    target_link_libraries(bench_idle PRIVATE bench_util actorfs_examples
                                             actorfs_engine)
    add_test(NAME bench.idle_smoke
             COMMAND bench_idle --actors 300 --wakes 30)
    set_tests_properties(bench.idle_smoke PROPERTIES TIMEOUT 180)
  endif()

  add_test(NAME bench.recovery_smoke COMMAND bench_recovery --workflows 200)
  set_tests_properties(bench.recovery_smoke PROPERTIES TIMEOUT 180)
  add_test(NAME bench.replay_smoke
           COMMAND bench_replay --lengths 10,60 --samples 5)
  set_tests_properties(bench.replay_smoke PROPERTIES TIMEOUT 180)
endif()

if(TARGET actorfs)
  add_test(NAME bench.mount_seedloop_smoke
           COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/mount_seedloop.sh
                   --messages 40 --actors 4 --writers 4 --writer-messages 10)
  set_tests_properties(bench.mount_seedloop_smoke PROPERTIES TIMEOUT 180
    ENVIRONMENT "ACTORFS_BIN=$<TARGET_FILE:actorfs>;SEEDLOOP_PLUGIN=$<TARGET_FILE:seedloop_plugin>")
endif()
