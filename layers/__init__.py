"""fiveplans.layers."""
