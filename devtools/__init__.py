"""Development harnesses that run the services together; not part of the shipped package."""
