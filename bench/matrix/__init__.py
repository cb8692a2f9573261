"""`bench matrix` and `bench report`: the unattended benchmark and its report."""
