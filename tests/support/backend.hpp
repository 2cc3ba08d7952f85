#pragma once
// Which backend a suite registered twice runs on: with HITL_TEST_BACKEND=postgres (its second
// registration, see the lint:postgres-registrations rule) PostgreSQL, else SQLite. One definition
// for the storage, queue and migrate suites.
#if HITL_TEST_WITH_POSTGRES
#include "support/postgres.hpp"
#endif

namespace hitl::test {

inline bool on_postgres() {
#if HITL_TEST_WITH_POSTGRES
  return pg::backend_is_postgres();
#else
  return false;
#endif
}

}  // namespace hitl::test
