"""stack commands of the bench tool."""
