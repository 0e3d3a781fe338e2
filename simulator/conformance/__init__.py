"""simulator.conformance: running the Gherkin conformance suite (features/) and reading its results."""
