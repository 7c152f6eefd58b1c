"""The composition root: the `hub` command, the process supervisor, the demo and the table of
components. The only package that names the services and the connectors."""
