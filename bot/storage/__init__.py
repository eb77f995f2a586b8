"""Storage adapter: the only package that imports SQLAlchemy and Alembic.

``db`` builds engines and sessions, ``models`` the tables, ``repositories`` implement the
store ports of ``bot.ports``, ``migrate`` applies Alembic migrations, ``retention`` bounds
history. ``open_storage`` (in ``bot.storage.facade``) wires them for the composition root.
"""
