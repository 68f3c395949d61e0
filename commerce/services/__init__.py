"""Commerce services: the only code that changes commerce state. One module per sub-domain."""
