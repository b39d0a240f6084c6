"""fiveplans.analysis."""
