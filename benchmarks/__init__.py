"""On-demand benchmarks (``make benchmark`` or ``python -m benchmarks [name]``); not unit tests."""
