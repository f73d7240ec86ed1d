"""The two cache levels the gateway reads and the renderer fills."""
