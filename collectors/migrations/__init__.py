"""Schema migrations: ``NNN_<what>.sql`` brings a database to schema version NNN (see ``_schema``).

A package (not a bare folder) so that the wheel always carries it, even while it holds no
``.sql`` file yet; ``pyproject.toml``'s package-data ships every ``*.sql`` placed here.
"""
