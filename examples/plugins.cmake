# Each example again as a --load plugin, lib<name>_plugin.so.  A plugin
# carries its workflow's code and links cJSON, but not the engine: eng_*
# resolve against the actorfs executable at dlopen() time (the daemon is
# linked with exported symbols), so there is one engine per process.
foreach(name counter bugFixer codeReviewer)
  if(NOT EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${name}.c)
    continue()
  endif()
  set(srcs plugin.c ${name}.c)
  if(NOT name STREQUAL "counter")
    list(APPEND srcs vmcall.c)
  endif()
  add_library(${name}_plugin MODULE ${srcs})
  target_compile_definitions(${name}_plugin PRIVATE
                             EX_PLUGIN_REGISTER=${name}_register)
  target_include_directories(${name}_plugin PRIVATE
                             ${CMAKE_CURRENT_SOURCE_DIR}
                             ${PROJECT_SOURCE_DIR}/engine)
  target_link_libraries(${name}_plugin PRIVATE PkgConfig::CJSON)
  # lib<name>_plugin.so, next to the daemon's other outputs in examples/.
  set_target_properties(${name}_plugin PROPERTIES PREFIX "lib" SUFFIX ".so")
endforeach()
