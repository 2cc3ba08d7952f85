# Exercises hitl-sdk-abi-lock on a copy of sdk/ (the real files are never touched): an unchanged
# header and a comment-only edit are no-ops, a declaration edit without a version bump is
# refused naming the section and the macro to bump, an edit with a minor bump appends exactly
# that section's line (and keeps its declarations), and a minor bump that changes an existing
# struct is refused in favour of a major.
# Inputs: SDK_DIR (the real sdk/), TOOL (hitl-sdk-abi-lock), WORK_DIR
set(copy "${WORK_DIR}/sdk")
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${copy}")
file(COPY "${SDK_DIR}/include" "${SDK_DIR}/abi" "${SDK_DIR}/abi.lock" DESTINATION "${copy}")
set(header "${copy}/include/hitl/plugin_api.hpp")
set(lock "${copy}/abi.lock")

function(update expect_rc out_var)
  execute_process(COMMAND "${TOOL}" "${copy}" RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(expect_rc EQUAL 0 AND NOT rc EQUAL 0 OR NOT expect_rc EQUAL 0 AND rc EQUAL 0)
    message(FATAL_ERROR "hitl-sdk-abi-lock exited ${rc}, expected ${expect_rc}:\n${out}${err}")
  endif()
  set(${out_var} "${out}${err}" PARENT_SCOPE)
endfunction()

function(replace_in_header from to)
  file(READ "${header}" text)
  string(FIND "${text}" "${from}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "'${from}' not in ${header}")
  endif()
  string(REPLACE "${from}" "${to}" text "${text}")
  file(WRITE "${header}" "${text}")
endfunction()

file(READ "${lock}" lock_before)
update(0 out)
file(READ "${lock}" lock_after)
if(NOT out MATCHES "already records" OR NOT lock_before STREQUAL lock_after)
  message(FATAL_ERROR "unchanged header should leave abi.lock alone:\n${out}")
endif()

# Documentation is no version change.
replace_in_header("// The model interface." "// The model interface (reworded)." )
update(0 out)
file(READ "${lock}" lock_after)
if(NOT lock_before STREQUAL lock_after)
  message(FATAL_ERROR "a comment edit should leave abi.lock alone:\n${out}")
endif()

# A new model method, appended where the header says, without a bump: refused.
replace_in_header("  // (new model methods go here"
                  "  virtual bool warm() const noexcept { return true; }\n  // (new model methods go here")
update(1 out)
if(NOT out MATCHES "the model declarations changed but their version is still"
   OR NOT out MATCHES "Bump HITL_SDK_MODEL_API_MINOR")
  message(FATAL_ERROR "an edit without a bump should be refused naming the model section:\n${out}")
endif()

file(READ "${header}" text)
if(NOT text MATCHES "#define HITL_SDK_MODEL_API_MINOR ([0-9]+)u")
  message(FATAL_ERROR "cannot find the model minor in ${header}")
endif()
set(old ${CMAKE_MATCH_1})
math(EXPR new "${old} + 1")
replace_in_header("#define HITL_SDK_MODEL_API_MINOR ${old}u" "#define HITL_SDK_MODEL_API_MINOR ${new}u")
update(0 out)
file(READ "${lock}" lock_after)
string(LENGTH "${lock_before}" before_len)
string(SUBSTRING "${lock_after}" ${before_len} -1 added)
string(FIND "${lock_after}" "${lock_before}" at)
if(NOT at EQUAL 0)
  message(FATAL_ERROR "a bump should only append to abi.lock; it is now:\n${lock_after}")
endif()
if(NOT added MATCHES "^model [0-9]+\\.${new} sha256=[0-9a-f]+\n$")
  message(FATAL_ERROR "a minor bump should append exactly one model line; abi.lock gained:\n${added}")
endif()
if(NOT EXISTS "${copy}/abi/model-1.${new}.decl")
  message(FATAL_ERROR "a minor bump should keep the new minor's declarations in abi/model-1.${new}.decl")
endif()

# A field added to an existing struct is no minor: refused against the previous minor, naming it.
replace_in_header("std::string metrics_json;" "std::string metrics_json;\n  std::string notes;")
math(EXPR next "${new} + 1")
replace_in_header("#define HITL_SDK_MODEL_API_MINOR ${new}u" "#define HITL_SDK_MODEL_API_MINOR ${next}u")
file(READ "${lock}" lock_before_growth)
update(1 out)
if(NOT out MATCHES "is no compatible growth of" OR NOT out MATCHES "struct TrainResult" OR NOT out MATCHES "Bump HITL_SDK_MODEL_API_MAJOR")
  message(FATAL_ERROR "a struct change under a minor bump should be refused naming the struct:\n${out}")
endif()
file(READ "${lock}" lock_after)
if(NOT lock_before_growth STREQUAL lock_after)
  message(FATAL_ERROR "a refused bump must leave abi.lock alone")
endif()
message(STATUS "hitl-sdk-abi-lock: no-op, comment edit, refusal, minor bump and a struct change under a minor all behave")
