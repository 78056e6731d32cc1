"""The ``sparkify`` command line: argument parsing and printing, one module a subcommand."""
