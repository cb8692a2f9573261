"""The `bench` command-line tool: native stack, load tests, benchmark matrix, reports."""
