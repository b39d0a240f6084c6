"""The bundled demo pilot (示范产业集聚区) and its generator."""

from __future__ import annotations

from fiveplans.demo.generate import write_demo_inputs

__all__ = ["write_demo_inputs"]
