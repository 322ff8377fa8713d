"""The ssh transport: connection, master guard, remote scripts, stream protocol, run actions over ssh."""
