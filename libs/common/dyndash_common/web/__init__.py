"""HTTP pieces both services share: error envelopes and middleware."""
