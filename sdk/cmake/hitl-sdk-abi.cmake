# Reads the plugin ABI version from the SDK header, so nothing else has to repeat it.
# Used by the installed package config (HITL_SDK_ABI_VERSION, the descriptor format).
function(hitl_sdk_read_abi_version header out_var)
  file(STRINGS "${header}" _line REGEX "^#define HITL_SDK_ABI_VERSION [0-9]+u?$")
  if(NOT _line MATCHES "HITL_SDK_ABI_VERSION ([0-9]+)")
    message(FATAL_ERROR "${header}: no '#define HITL_SDK_ABI_VERSION <number>' line")
  endif()
  set(${out_var} "${CMAKE_MATCH_1}" PARENT_SCOPE)
endfunction()
