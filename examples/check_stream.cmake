# ctest example-stream:<example>: the example's stream (data/*stream.csv, records the model never
# saw in training) through `hitl ingest` with its config, model and policy, in a scratch copy.
# Fails unless every record is decided (none failed or invalid) and fewer than a fifth go to
# review, the share the examples' READMEs promise.
# -D HITL=<bin/hitl> -D EXAMPLE=<examples/x> -D DOMAIN=<domain> -D STREAM=<data/...csv> -D WORK=<scratch folder>
file(REMOVE_RECURSE "${WORK}")
file(COPY "${EXAMPLE}/" DESTINATION "${WORK}" PATTERN "var" EXCLUDE)
execute_process(COMMAND "${HITL}" ingest --config hitl.lua --domain "${DOMAIN}" "${STREAM}"
                WORKING_DIRECTORY "${WORK}" RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message(STATUS "${out}${err}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "hitl ingest exited with ${rc}")
endif()
string(REGEX MATCH "([0-9]+) auto_approved, ([0-9]+) pending_review, ([0-9]+) rejected, [0-9]+ duplicates, ([0-9]+) invalid, ([0-9]+) failed"
       summary "${out}")
if(NOT summary)
  message(FATAL_ERROR "no ingest summary in the output")
endif()
set(auto ${CMAKE_MATCH_1})
set(review ${CMAKE_MATCH_2})
set(rejected ${CMAKE_MATCH_3})
if(NOT CMAKE_MATCH_4 EQUAL 0 OR NOT CMAKE_MATCH_5 EQUAL 0)
  message(FATAL_ERROR "records left undecided: ${CMAKE_MATCH_4} invalid, ${CMAKE_MATCH_5} failed")
endif()
math(EXPR total "${auto} + ${review} + ${rejected}")
math(EXPR review_permille "1000 * ${review} / ${total}")
message(STATUS "${DOMAIN}: ${review} of ${total} records to review (${review_permille} per mille)")
if(total EQUAL 0 OR review_permille GREATER_EQUAL 200)
  message(FATAL_ERROR "${review} of ${total} records went to review: not fewer than a fifth")
endif()
file(REMOVE_RECURSE "${WORK}")
