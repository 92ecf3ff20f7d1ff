"""The conversation, one module per part. Every flow is a plain function of the context
(handlers/context.py): it returns replies and notes effects, and does no I/O."""
