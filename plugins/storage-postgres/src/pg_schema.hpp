// storage-postgres's tables, indexes, triggers and functions, as migrations (pg_migrate.hpp).
#pragma once

#include "pg_migrate.hpp"

#include <vector>

namespace hitl::storage_postgres {

const std::vector<pg::Migration>& migrations();

}  // namespace hitl::storage_postgres
