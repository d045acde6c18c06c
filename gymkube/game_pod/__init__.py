"""The game pod: one ASGI process serving one experiment's participants and games."""
