# `hitl policy test` on a case file with a wrong expectation: exit status 1 and the difference
# spelled out (run by ctest as cli:policy-test-reports-a-wrong-case).
execute_process(COMMAND "${HITL}" policy test "${POLICY}" --cases "${CASES}" --lib "${LIB}"
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 1)
  message(FATAL_ERROR "exit status ${rc}, expected 1\n${out}${err}")
endif()
foreach(expected "FAIL  a wrong expectation" "verdict: expected \"review\", got \"auto\"" "1 passed, 1 failed")
  string(FIND "${out}" "${expected}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "missing \"${expected}\" in:\n${out}")
  endif()
endforeach()
