"""Code that runs both on the game pod and in the participant's browser (Pyodide, `client` and `p2p` modes).

Only the standard library is imported here: the browser has no numpy or gymnasium unless an experiment
lists them. The pod serves this package to the browser as it is, so server and browser share one
implementation of inputs, observation hashes, the HUD and records.
"""
