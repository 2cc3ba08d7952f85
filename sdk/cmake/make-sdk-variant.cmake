# Writes a copy of plugin_api.hpp as the *next* SDK release would have it, for the tests that
# prove the compatibility rules with real compilers instead of by argument:
#   next-minor: the model interface's minor + 1, growing the way a minor may (a virtual method
#               after the last one, a new struct appended to kModelStructSizes);
#   next-major: the model interface's major + 1, with a change only a major may make (a field
#               added to Prediction, which travels inside std::vector).
#   cmake -DHEADER=<plugin_api.hpp> -DVARIANT=next-minor|next-major -DOUT=<dir>/hitl/plugin_api.hpp -P ...
foreach(var HEADER VARIANT OUT)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "make-sdk-variant.cmake: -D${var}=... is required")
  endif()
endforeach()
file(READ "${HEADER}" text)

# Replaces `from` by `to` once; the header's shape changed if `from` is not there.
function(edit from to)
  string(FIND "${text}" "${from}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "make-sdk-variant.cmake: '${from}' not found in ${HEADER}")
  endif()
  string(REPLACE "${from}" "${to}" replaced "${text}")
  set(text "${replaced}" PARENT_SCOPE)
endfunction()

function(bump macro)
  if(NOT text MATCHES "#define ${macro} ([0-9]+)u")
    message(FATAL_ERROR "make-sdk-variant.cmake: no ${macro} in ${HEADER}")
  endif()
  math(EXPR next "${CMAKE_MATCH_1} + 1")
  edit("#define ${macro} ${CMAKE_MATCH_1}u" "#define ${macro} ${next}u")
  set(text "${text}" PARENT_SCOPE)
endfunction()

if(VARIANT STREQUAL "next-minor")
  bump(HITL_SDK_MODEL_API_MINOR)
  edit("  // (new model methods go here"
       "  // Added by the next minor: the host calls it only on plugins whose api.minor has it.\n  virtual std::uint32_t next_minor_probe() const noexcept { return 1; }\n  // (new model methods go here")
  edit("inline constexpr std::uint32_t kModelStructSizes[] = {"
       "struct NextMinorInfo {\n  std::string note;\n};\n\ninline constexpr std::uint32_t kModelStructSizes[] = {")
  edit("sizeof(TrainResult),\n};" "sizeof(TrainResult), sizeof(NextMinorInfo),\n};")
  edit("\"TrainResult\",\n};" "\"TrainResult\", \"NextMinorInfo\",\n};")
elseif(VARIANT STREQUAL "next-major")
  bump(HITL_SDK_MODEL_API_MAJOR)
  edit("std::vector<std::pair<std::string, double>> contributions; // optional, per feature\n"
       "std::vector<std::pair<std::string, double>> contributions; // optional, per feature\n  std::string explanation;  // added by the next major\n")
else()
  message(FATAL_ERROR "make-sdk-variant.cmake: unknown VARIANT '${VARIANT}'")
endif()
file(WRITE "${OUT}" "${text}")
