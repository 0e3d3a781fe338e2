"""Tests of simulator.sut: the driver contract, the reference QLVB, its defects and the driver API."""
