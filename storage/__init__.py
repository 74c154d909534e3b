"""Storage: sqlmodel tables, the database engine, migrations and repositories."""
