"""Use cases as plain functions over the registry and the core; they declare the store they need."""
