//! Records in SQL: the `sql` sink and the `sql` block (lookup), on SQLite (embedded) and on
//! PostgreSQL (a throwaway cluster `scripts/test.sh` starts, each test in a database of its own).

mod lookup;
pub(crate) mod pg;
mod postgres;
mod sqlite;
