"""Control plane: participant entry and routing, and (later) the researcher REST API."""
