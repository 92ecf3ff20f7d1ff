"""The conversation, one module per part; every flow returns replies and does no I/O
beyond the store transaction it is given."""
