"""The ``psre`` commands that wire several packages together (psre.cli loads each on use)."""
