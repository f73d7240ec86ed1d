"""The site model shared by the gateway and the renderer: state, keys, page building."""
