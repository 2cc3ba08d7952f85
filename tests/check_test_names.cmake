# Fails when a Catch2 test name holds a ';', which catch_discover_tests cannot register: it
# splits one case into several CTest entries whose filters match nothing, so they pass while
# running nothing (two report tests did). Run by ctest as lint:test-names.
file(GLOB_RECURSE sources "${SOURCE_DIR}/core/*.cpp" "${SOURCE_DIR}/plugins/*.cpp" "${SOURCE_DIR}/tests/*.cpp")
set(bad "")
foreach(f IN LISTS sources)
  file(STRINGS "${f}" lines REGEX "TEST_CASE\\(\"[^\"]*;")
  if(lines)
    string(APPEND bad "\n  ${f}")
  endif()
endforeach()
if(bad)
  message(FATAL_ERROR "test names with ';' (CTest cannot register them as one test):${bad}")
endif()
