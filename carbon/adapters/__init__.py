"""Outbound adapters: the SQL ledger store (SQLite, PostgreSQL) and file readers."""
