"""The Gherkin conformance suite of lienthong (run it with ``lienthong conformance``)."""
