"""SQL implementations of the store ports, one module per concern.

Each module has plain functions taking a ``Session`` (so one unit of work can combine
them, see ``cycle``) and a small class implementing the port, which opens a transaction
per call. Only portable SQLAlchemy constructs are used: no dialect-specific SQL, so the
same code runs on SQLite and PostgreSQL.
"""
