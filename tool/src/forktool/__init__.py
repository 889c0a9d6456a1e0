"""The AIP-98 fork's tool: rebuild the pinned upstream base, apply and export the patch series,
build custom wheels, and run the tests, demo and benchmarks against them."""
