# rpcbench_add_plugin(NAME KIND <objective|encoder|dataset> SOURCES ... [LIBRARIES ...]
#                     [OUTPUT_DIRECTORY dir] [INSTALL])
#
# Builds one plugin: a MODULE library named rpcbench_<kind>_<name>.so with hidden visibility,
# linked to the SDK (rpcbench::sdk). Used in this tree and installed with the SDK, so a plugin
# can be built out of tree with find_package(rpcbench) and dropped into a plugin directory.
include_guard(GLOBAL)

# Flags shared by every target in the rpcbench build, so that one precompiled header fits all.
function(rpcbench_target_defaults target)
  set_target_properties(${target} PROPERTIES
    CXX_STANDARD 17 CXX_STANDARD_REQUIRED ON CXX_EXTENSIONS OFF
    CXX_VISIBILITY_PRESET hidden VISIBILITY_INLINES_HIDDEN ON)
  target_compile_options(${target} PRIVATE -fPIC -Wall -Wextra -Winvalid-pch
    $<$<BOOL:${RPCBENCH_WARNINGS_AS_ERRORS}>:-Werror>)
  if(TARGET rpcbench_pch AND NOT target STREQUAL "rpcbench_pch")
    target_precompile_headers(${target} REUSE_FROM rpcbench_pch)
  endif()
endfunction()

function(rpcbench_add_plugin name)
  cmake_parse_arguments(ARG "INSTALL" "KIND;OUTPUT_DIRECTORY" "SOURCES;LIBRARIES" ${ARGN})
  if(NOT ARG_KIND MATCHES "^(objective|encoder|dataset)$")
    message(FATAL_ERROR "rpcbench_add_plugin(${name}): KIND must be objective, encoder or dataset")
  endif()
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "rpcbench_add_plugin(${name}): no SOURCES")
  endif()
  if(NOT ARG_OUTPUT_DIRECTORY)
    if(DEFINED RPCBENCH_PLUGIN_OUTPUT_DIRECTORY)
      set(ARG_OUTPUT_DIRECTORY ${RPCBENCH_PLUGIN_OUTPUT_DIRECTORY})
    else()
      set(ARG_OUTPUT_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
    endif()
  endif()
  set(target rpcbench_${ARG_KIND}_${name})
  add_library(${target} MODULE ${ARG_SOURCES})
  target_link_libraries(${target} PRIVATE rpcbench::sdk ${ARG_LIBRARIES})
  set_target_properties(${target} PROPERTIES PREFIX "" LIBRARY_OUTPUT_DIRECTORY ${ARG_OUTPUT_DIRECTORY})
  set_property(GLOBAL APPEND PROPERTY RPCBENCH_PLUGIN_TARGETS ${target})
  if(TARGET rpcbench_pch)
    rpcbench_target_defaults(${target})
  else()
    # Out of tree: a precompiled header of its own.
    set_target_properties(${target} PROPERTIES CXX_STANDARD 17 CXX_STANDARD_REQUIRED ON
      CXX_VISIBILITY_PRESET hidden VISIBILITY_INLINES_HIDDEN ON)
    target_compile_options(${target} PRIVATE -Wall -Wextra)
    target_precompile_headers(${target} PRIVATE <rpcbench/plugin.hpp>)
  endif()
  if(ARG_INSTALL)
    # The harness looks in ../lib/rpcbench/plugins relative to its executable.
    install(TARGETS ${target} LIBRARY DESTINATION lib/rpcbench/plugins)
  endif()
endfunction()
