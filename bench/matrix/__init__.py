"""matrix commands of the bench tool."""
