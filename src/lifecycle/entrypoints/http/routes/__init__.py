"""The routes of CONTRACT §7, one module per resource."""
