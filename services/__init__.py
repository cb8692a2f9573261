"""The services under test, their shared instrumentation and the row registry."""
