"""Small helper programs the registry's actions run as argv (so every step is a real, auditable process)."""
