"""The schedule: what is due now (``due``), and the scheduler inside ``digest serve``."""
