"""fiveplans.maps."""
