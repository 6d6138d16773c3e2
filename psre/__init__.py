"""psre's composition root: the ``psre`` command line, the web app, its WSGI entry and the one
place the services of a process are built (``psre.services``)."""
