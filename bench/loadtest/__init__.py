"""loadtest commands of the bench tool."""
