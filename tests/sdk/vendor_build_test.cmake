# Out-of-tree vendor build, run by CTest as `cmake -P`:
#  1. install only the `sdk` component of the hitl build into a fresh prefix,
#  2. check the prefix holds nothing but the SDK,
#  3. configure + build examples/vendor-plugin against that prefix alone (Ninja),
#  4. load the produced .so with the host loader (CHECKER, a Catch2 binary) and predict,
#  5. load it again in a host built against the SDK's next minor (NEXT_MINOR_CHECKER): a plugin
#     of an older minor must load there and work, without the host calling what it lacks.
# Inputs: HITL_BUILD_DIR VENDOR_SOURCE_DIR WORK_DIR CHECKER NEXT_MINOR_CHECKER CXX_COMPILER
#         [CXX_LAUNCHER] EXPECTED_ABI
foreach(var HITL_BUILD_DIR VENDOR_SOURCE_DIR WORK_DIR CHECKER NEXT_MINOR_CHECKER CXX_COMPILER EXPECTED_ABI)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "vendor_build_test.cmake: -D${var}=... is required")
  endif()
endforeach()

# Runs a command; on failure prints its output and stops the test.
function(run step)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${step} failed (exit ${rc}):\n  ${ARGN}\n${out}\n${err}")
  endif()
  set(last_output "${out}${err}" PARENT_SCOPE)
endfunction()

set(prefix "${WORK_DIR}/sdk-prefix")
set(build "${WORK_DIR}/build")
file(REMOVE_RECURSE "${WORK_DIR}")  # every run starts clean; the last run stays for inspection
file(MAKE_DIRECTORY "${WORK_DIR}")

run("installing the sdk component"
    "${CMAKE_COMMAND}" --install "${HITL_BUILD_DIR}" --component sdk --prefix "${prefix}")

file(GLOB_RECURSE installed RELATIVE "${prefix}" "${prefix}/*")
list(LENGTH installed count)
if(count EQUAL 0)
  message(FATAL_ERROR "the sdk component installed nothing into ${prefix}")
endif()
foreach(f IN LISTS installed)
  if(NOT f MATCHES "^include/hitl/" AND NOT f MATCHES "cmake/hitl-sdk/[^/]+\\.(cmake|map)$"
     AND NOT f MATCHES "^share/hitl-sdk/abi\\.lock$")
    message(FATAL_ERROR "the sdk component installed something that is not SDK: ${prefix}/${f}")
  endif()
endforeach()
message(STATUS "sdk component: ${count} files in ${prefix}")

set(launcher "")
if(CXX_LAUNCHER)
  set(launcher "-DCMAKE_CXX_COMPILER_LAUNCHER=${CXX_LAUNCHER}")
endif()
# Only the prefix may satisfy find_package: no user/system package registry, no other roots.
run("configuring the vendor plugin"
    "${CMAKE_COMMAND}" -S "${VENDOR_SOURCE_DIR}" -B "${build}" -G Ninja
    "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}" ${launcher}
    "-DCMAKE_PREFIX_PATH=${prefix}"
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF)
if(NOT last_output MATCHES "plugin ABI ([0-9]+)")
  message(FATAL_ERROR "the vendor configure did not report HITL_SDK_ABI_VERSION:\n${last_output}")
endif()
if(NOT CMAKE_MATCH_1 EQUAL EXPECTED_ABI)
  message(FATAL_ERROR "installed package says ABI ${CMAKE_MATCH_1}, the header is ABI ${EXPECTED_ABI}")
endif()
file(STRINGS "${build}/CMakeCache.txt" sdk_dir REGEX "^hitl-sdk_DIR:")
string(FIND "${sdk_dir}" "${prefix}/" at)
if(NOT at GREATER 0)
  message(FATAL_ERROR "hitl-sdk was not found in the temporary prefix: ${sdk_dir}")
endif()

run("building the vendor plugin" "${CMAKE_COMMAND}" --build "${build}")
set(plugin "${build}/model-keyword-rules.so")
if(NOT EXISTS "${plugin}")
  message(FATAL_ERROR "the vendor build did not produce ${plugin}")
endif()

run("loading the vendor plugin" "${CMAKE_COMMAND}" -E env "HITL_VENDOR_PLUGIN=${plugin}" "${CHECKER}")
run("loading the vendor plugin in a next-minor host"
    "${CMAKE_COMMAND}" -E env "HITL_VENDOR_PLUGIN=${plugin}" "${NEXT_MINOR_CHECKER}")
message(STATUS "vendor plugin built against ${prefix} and loaded by today's host and a next-minor one: ${plugin}")
