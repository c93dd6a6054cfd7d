"""HTTP and timer triggers."""
