"""Alembic environment of the psre database (a package so that installs ship it)."""
