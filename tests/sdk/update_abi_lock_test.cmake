# Exercises sdk/cmake/update-abi-lock.cmake on a copy of sdk/ (the real files are never touched):
# an unchanged header is a no-op, an edit without a version bump is refused with the fix, and an
# edit with a bump appends exactly one new lock line.
# Inputs: SDK_DIR (the real sdk/), WORK_DIR
set(copy "${WORK_DIR}/sdk")
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${copy}")
file(COPY "${SDK_DIR}/include" "${SDK_DIR}/cmake" "${SDK_DIR}/abi.lock" DESTINATION "${copy}")
set(header "${copy}/include/hitl/plugin_api.hpp")
set(lock "${copy}/abi.lock")

function(update expect_rc out_var)
  execute_process(COMMAND "${CMAKE_COMMAND}" -P "${copy}/cmake/update-abi-lock.cmake"
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(expect_rc EQUAL 0 AND NOT rc EQUAL 0 OR NOT expect_rc EQUAL 0 AND rc EQUAL 0)
    message(FATAL_ERROR "update-abi-lock.cmake exited ${rc}, expected ${expect_rc}:\n${out}${err}")
  endif()
  set(${out_var} "${out}${err}" PARENT_SCOPE)
endfunction()

file(READ "${lock}" lock_before)
update(0 out)
file(READ "${lock}" lock_after)
if(NOT out MATCHES "already records ABI version" OR NOT lock_before STREQUAL lock_after)
  message(FATAL_ERROR "unchanged header should leave abi.lock alone:\n${out}")
endif()

file(READ "${header}" text)
if(NOT text MATCHES "#define HITL_SDK_ABI_VERSION ([0-9]+)u")
  message(FATAL_ERROR "cannot find the version in ${header}")
endif()
set(old ${CMAKE_MATCH_1})
math(EXPR new "${old} + 1")
file(APPEND "${header}" "// an edit\n")
update(1 out)
if(NOT out MATCHES "HITL_SDK_ABI_VERSION ${new}u")
  message(FATAL_ERROR "an edit without a bump should be refused, naming version ${new}:\n${out}")
endif()

file(READ "${header}" text)
string(REPLACE "#define HITL_SDK_ABI_VERSION ${old}u" "#define HITL_SDK_ABI_VERSION ${new}u" text "${text}")
file(WRITE "${header}" "${text}")
update(0 out)
file(SHA256 "${header}" hash)
file(READ "${lock}" lock_after)
if(NOT lock_after STREQUAL "${lock_before}abi_version=${new} sha256=${hash}\n")
  message(FATAL_ERROR "a bump should append one line for version ${new}; abi.lock is now:\n${lock_after}")
endif()
message(STATUS "update-abi-lock.cmake: no-op, refusal and bump all behave")
