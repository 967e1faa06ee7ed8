// The tuning tables of the store (schema 2), for cache/store.cpp's creation and migration.
#pragma once

#include "cache/sqlite.hpp"

namespace attnjit::cache {

void create_tuning_tables(sqlite::Conn conn);    // inside the caller's write transaction
bool has_tuning_tables(sqlite::Conn conn);       // with every column this attnjit reads

}  // namespace attnjit::cache
