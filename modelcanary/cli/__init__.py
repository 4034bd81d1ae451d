"""The ``modelcanary`` command line (typer + rich). Exit codes: 0 ok, 2 bad input or usage."""
