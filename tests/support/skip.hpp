#pragma once
// A test that cannot run here says so and is reported SKIPPED by ctest, never passed:
// hitl_add_test registers every case with SKIP_REGULAR_EXPRESSION "HITL_SKIPPED:".
#include <catch2/catch.hpp>

#include <iostream>

#define HITL_SKIP(why)                                            \
  do {                                                            \
    std::cout << "HITL_SKIPPED: " << why << std::endl;            \
    WARN("skipped: " << why);                                     \
    return;                                                       \
  } while (0)
