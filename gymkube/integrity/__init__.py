"""Scientific integrity: replaying recorded episodes and checking an experiment's data."""
