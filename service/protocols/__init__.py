"""Other model servers' protocols, served from the same data plane as the service's own API."""
